"""`qexplore history`: a table of a recipe's runs, oldest first, and a self-contained HTML trend
report with one line per variant."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qexplore.report.history import write_history
from qexplore.results.history import history
from qexplore.results.store import Store
from qexplore.testing import stored_runs as stored

pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
EVIL = "<img src=x onerror=alert(1)>"


def add(store: Store, run: str, recipe: str, tps: dict[str, float]) -> None:
    stored.add_run(store, run, stored.recipe(recipe, users=(1, 4), target_users=4))
    for i, (variant, t) in enumerate(tps.items()):
        store.upsert_variant(run, variant, "baseline" if i == 0 else "W8A8", i, status="ok")
        for users in (1, 4):
            store.add_level(run, variant, "short", stored.level(users, t * users, t, 50.0), None)
    store.set_run_status(run, "complete")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    with Store(tmp_path / "s.db") as s:
        add(s, "night-1", "demo", {"bf16": 10.0, EVIL: 20.0})
        add(s, "other-1", "other", {"bf16": 99.0})
        add(s, "night-2", "demo", {"bf16": 11.0, EVIL: 15.0})
    return tmp_path / "s.db"


def test_points_follow_the_runs_in_order_and_the_filters(store_path: Path) -> None:
    with Store(store_path) as s:
        points = history(s, recipe="demo")
        only = history(s, recipe="demo", variant="bf16")
    assert [(p.index, p.run_id, p.row.variant, p.row.output_tps) for p in points] == [
        (1, "night-1", "bf16", 40.0), (1, "night-1", EVIL, 80.0),  # at 4 users: 4 × tok/s
        (2, "night-2", "bf16", 44.0), (2, "night-2", EVIL, 60.0)]
    assert [p.run_id for p in only] == ["night-1", "night-2"]


def test_the_report_is_one_self_contained_page(store_path: Path, tmp_path: Path) -> None:
    with Store(store_path) as s:
        page = write_history(history(s, recipe="demo"), tmp_path / "h.html", "demo").read_text()
    assert page.count("<svg") == 1 and "<script" not in page and EVIL not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the variant's name, as text
    assert "night-1" in page and "night-2" in page and "other-1" not in page


def test_the_command_prints_the_table_and_writes_the_page(store_path: Path, tmp_path: Path
                                                          ) -> None:
    r = subprocess.run([*QEXPLORE, "history", "--recipe", "demo", "--html", str(tmp_path / "h.html")],
                       capture_output=True, text=True,
                       env={**os.environ, "QEXPLORE_STORE": str(store_path), "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert [x[:3] for x in lines if x and x[0].startswith("night")] == [
        ["night-1", "complete", "bf16"], ["night-1", "complete", "<img"],
        ["night-2", "complete", "bf16"], ["night-2", "complete", "<img"]]
    assert (tmp_path / "h.html").exists() and "trend report:" in r.stdout
