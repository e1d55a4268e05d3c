"""report.html renders in headless Chromium without console errors, and user strings stay text."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from qexplore.report.write import write_reports
from qexplore.results.run import load_run
from qexplore.results.store import Store
from qexplore.testing import browser
from qexplore.testing import stored_runs as stored

pytestmark = pytest.mark.integration
EVIL = "<script>alert(1)</script>"


def synthetic_run(tmp: Path) -> tuple[Store, str]:
    store = Store(tmp / "s.db")
    stored.add_run(store, "r1", stored.recipe("demo <b>bold</b>"))
    for i, (name, scheme, tps, correct) in enumerate([("bf16", "baseline", 40.0, 90),
                                                      (EVIL, "W4A16", 60.0, 88)]):
        store.upsert_variant("r1", name, scheme, i, status="ok",
                             build=stored.build(name, scheme, 2e9 / (i + 1), 16 / (i + 1)),
                             eval=stored.evaluation(tmp / f"eval{i}", "t", correct))
        for users in (1, 4, 16):
            store.add_level("r1", name, "short",
                            stored.level(users, tps * users, tps / users ** 0.3, 40.0 * users,
                                         spread=0.1), None)
    store.set_run_status("r1", "complete")
    return store, "r1"


@pytest.fixture
def report(tmp_path: Path) -> Path:
    store, run = synthetic_run(tmp_path)
    paths = write_reports(load_run(store, run), tmp_path / "report").paths
    store.close()
    return paths["html"]


def test_user_strings_are_escaped(report: Path) -> None:
    html = report.read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "<script" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}  # namespaces only


@pytest.mark.skipif(not browser.available(), reason="Debian chromium: make test installs it")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    page = browser.render(report, tmp_path)
    assert page.screenshot.exists() and page.screenshot.stat().st_size > 10_000, page.log
    assert page.console == []
    assert "<svg" in page.dom and "<script" not in page.dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.dom  # shown as text
    Path("reports").mkdir(exist_ok=True)  # for a person to look at
    shutil.copy(page.screenshot, Path("reports") / "test-report-screenshot.png")


def test_results_json_carries_intervals_and_verdicts(tmp_path: Path) -> None:
    store, run = synthetic_run(tmp_path)
    out = write_reports(load_run(store, run), tmp_path / "report").paths["json"]
    store.close()
    data = json.loads(out.read_text())
    evil = next(r for r in data["pareto"] if r["variant"] == EVIL)
    assert evil["speed_verdict"] == "faster" and evil["user_tps_p1_lo"] < evil["user_tps_p1"]
    assert evil["output_tps_hi"] > evil["output_tps"]
    per_level = data["speed"][EVIL]
    assert sorted(per_level) == ["short@1", "short@16", "short@4"]
    assert per_level["short@4"]["output_tps"]["verdict"] == "faster"  # 1.5× with ±10 %
    level = next(lv for lv in data["levels"] if lv["variant"] == EVIL)
    assert set(level["summary"]["ci"]) >= {"output_tps", "user_tps.p1", "ttft_ms.p99"}
