"""`qexplore history`: a recipe's runs oldest first, each compared with the run before it — the
figures that regressed marked, what changed between runs listed — as a table and a
self-contained HTML trend report that renders without console errors."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from qexplore.report.history import write_history
from qexplore.results.history import history
from qexplore.results.store import Store
from qexplore.testing import browser
from qexplore.testing import stored_runs as stored

pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
EVIL = "<img src=x onerror=alert(1)>"
DAYS = {"night-1": "2026-01-01", "other-1": "2026-01-02", "night-2": "2026-02-01",
        "night-3": "2026-03-01"}


def add(store: Store, tmp: Path, run: str, recipe: str, tps: dict[str, float], correct: int,
        vllm: str = "0.1") -> None:
    """A run whose variants read ``tps`` per user at 1 and 4 users (± 2 %), each evaluated
    on 100 docs of which the first ``correct`` are right; vLLM at version ``vllm``."""
    rec = stored.recipe(recipe, users=(1, 4), target_users=4)
    prov = {**stored.provenance(), "versions": {"vllm": vllm}}
    store.create_run(run, recipe, "h", rec, prov)
    for i, (variant, t) in enumerate(tps.items()):
        store.upsert_variant(run, variant, "baseline" if i == 0 else "W8A8", i, status="ok",
                             eval=stored.evaluation(tmp / run / str(i), "demo_add_mc", correct))
        for users in (1, 4):
            store.add_level(run, variant, "short",
                            stored.level(users, t * users, t, 50.0, spread=0.02), None)
    store.set_run_status(run, "complete")
    day = datetime.fromisoformat(DAYS[run] + "T12:00:00").timestamp()
    with store.tx() as db:
        db.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", (day, run))


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Three nights of recipe 'demo' and one run of another; night 2 on a new vLLM, night 3
    with a planted regression: bf16 40 % slower and 30 of 100 docs lost."""
    with Store(tmp_path / "s.db") as s:
        add(s, tmp_path, "night-1", "demo", {"bf16": 10.0, EVIL: 20.0}, correct=90)
        add(s, tmp_path, "other-1", "other", {"bf16": 99.0}, correct=90)
        add(s, tmp_path, "night-2", "demo", {"bf16": 10.1, EVIL: 19.9}, correct=90, vllm="0.2")
        add(s, tmp_path, "night-3", "demo", {"bf16": 6.0, EVIL: 20.0}, correct=60, vllm="0.2")
    return tmp_path / "s.db"


def test_points_follow_the_runs_in_order_and_the_filters(store_path: Path) -> None:
    with Store(store_path) as s:
        h = history(s, recipe="demo")
        only = history(s, recipe="demo", variant="bf16")
        february = history(s, since=datetime(2026, 1, 15), until=datetime(2026, 2, 28))
    assert [(p.index, p.run_id, p.row.variant, p.row.output_tps) for p in h.points][:4] == [
        (1, "night-1", "bf16", 40.0), (1, "night-1", EVIL, 80.0),  # at 4 users: 4 × tok/s
        (2, "night-2", "bf16", 40.4), (2, "night-2", EVIL, 79.6)]
    assert [p.run_id for p in only.points] == ["night-1", "night-2", "night-3"]
    assert [r.run_id for r in february.runs] == ["night-2"]


def test_the_planted_regression_is_marked_and_nothing_else(store_path: Path) -> None:
    with Store(store_path) as s:
        h = history(s, recipe="demo")
    marked = {(f.run_id, f.variant, f.what) for f in h.figures if f.regression}
    # night 3's bf16: output tok/s 40.4 → 24 and slowest-1 % 10.1 → 6 (tight ±2 % intervals),
    # accuracy 0.9 → 0.6 (30 docs lost, McNemar); its other variant and night 2 unchanged
    assert marked == {("night-3", "bf16", "short@4 users: output_tps"),
                      ("night-3", "bf16", "short@4 users: user_tps_p1"),
                      ("night-3", "bf16", "demo_add_mc/acc"),
                      ("night-3", EVIL, "demo_add_mc/acc")}
    acc = next(f for f in h.figures if f.run_id == "night-1" and f.what == "demo_add_mc/acc")
    assert acc.lo == pytest.approx(0.9 - 1.96 * 0.03) and acc.hi == pytest.approx(0.9 + 1.96 * 0.03)
    tps = next(f for f in h.figures if f.run_id == "night-1" and f.variant == "bf16"
               and f.what == "short@4 users: output_tps")
    assert (tps.lo, tps.hi) == pytest.approx((40.0 * 0.98, 40.0 * 1.02))
    night = {r.run_id: r for r in h.runs}
    assert night["night-1"].changes == ["first run in this history"]
    assert night["night-2"].changes == ["vllm version: 0.1 → 0.2"]
    # both levels (1 and 4 users) of bf16 slower on two figures, both variants' accuracy
    assert night["night-3"].changes == [] and len(night["night-3"].regressions) == 6


def test_the_report_is_one_self_contained_page(store_path: Path, tmp_path: Path) -> None:
    with Store(store_path) as s:
        page = write_history(history(s, recipe="demo"), tmp_path / "h.html", "demo").read_text()
    # one chart per figure: accuracy, output tok/s, slowest-1 % user tok/s, TTFT p99
    assert page.count("<svg") == 4 and "<script" not in page and EVIL not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the variant's name, as text
    assert "night-3" in page and "other-1" not in page
    assert "vllm version: 0.1 → 0.2" in page and ">regression<" in page  # the legend's entry


@pytest.mark.skipif(not browser.available(), reason="Debian chromium: make test installs it")
def test_the_report_renders_in_headless_chromium(store_path: Path, tmp_path: Path) -> None:
    with Store(store_path) as s:
        page = write_history(history(s, recipe="demo"), tmp_path / "h.html", "demo")
    shown = browser.render(page, tmp_path)
    assert shown.screenshot.exists() and shown.screenshot.stat().st_size > 10_000, shown.log
    assert shown.console == []
    assert shown.dom.count("<svg") == 4 and "night-3" in shown.dom


def test_the_command_prints_the_table_and_writes_the_page(store_path: Path, tmp_path: Path
                                                          ) -> None:
    r = subprocess.run([*QEXPLORE, "history", "--recipe", "demo", "--since", "2026-02-01",
                        "--output", str(tmp_path / "h.html")], capture_output=True, text=True,
                       env={**os.environ, "QEXPLORE_STORE": str(store_path), "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    rows = [x for x in lines if x and x[0].startswith("night")]
    assert [x[:3] for x in rows] == [
        ["night-2", "complete", "bf16"], ["night-2", "complete", "<img"],
        ["night-3", "complete", "bf16"], ["night-3", "complete", "<img"]]
    assert "demo_add_mc/acc, user_tps_p1, output_tps" in r.stdout  # night 3's bf16, named
    assert (tmp_path / "h.html").exists() and "trend report:" in r.stdout
