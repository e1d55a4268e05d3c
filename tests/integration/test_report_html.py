"""report.html renders in headless Chromium without console errors, and user strings stay text."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qexplore.report.write import write_reports
from qexplore.results.run import load_run
from qexplore.results.store import Store
from qexplore.testing import browser
from qexplore.testing import stored_runs as stored

pytestmark = pytest.mark.integration
EVIL = "<script>alert(1)</script>"
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]


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


def demo_like_run(tmp: Path) -> tuple[Path, str]:
    """Three variants with the demo's widest figures (thousands of tok/s, intervals on every
    speed figure), as a store on disk."""
    store = Store(tmp / "demo.db")
    stored.add_run(store, "demo-run", stored.recipe("demo", max_drop=2))
    for i, (name, scheme, tps, correct) in enumerate([
            ("bf16", "baseline", 2_104.3, 90), ("int8-w8a8", "W8A8", 1_043.3, 90),
            ("int4-w4a8", "W4A8", 112.5, 89)]):
        store.upsert_variant("demo-run", name, scheme, i, status="ok",
                             build=stored.build(name, scheme, 7e6 / (i + 1), 16 / (i + 1)),
                             eval=stored.evaluation(tmp / f"eval{i}", "demo_add_mc", correct))
        for users in (1, 4, 16):
            store.add_level("demo-run", name, "short",
                            stored.level(users, tps * users / 4, 82.14 / (i + 1), 1_234.5 * users,
                                         spread=0.6), None)
    store.set_run_status("demo-run", "complete")
    store.close()
    return tmp / "demo.db", "demo-run"


def report_cli(db: Path, run: str, out: Path, *flags: str, columns: int = 100) -> list[str]:
    r = subprocess.run([*QEXPLORE, "report", run, "--store", str(db), "--output", str(out),
                        *flags], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": str(columns)})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def table_lines(lines: list[str]) -> list[str]:
    return lines[:next(i for i, line in enumerate(lines)
                       if line.startswith(("Deploy", "left out")))]


@pytest.mark.parametrize("columns", [100, 200])
def test_the_console_shows_one_line_per_variant(tmp_path: Path, columns: int) -> None:
    db, run = demo_like_run(tmp_path)
    lines = report_cli(db, run, tmp_path / "out", columns=columns)
    table = table_lines(lines)
    assert len(table) == 1 + 3, "\n".join(lines)  # the heading and a line per variant
    assert [line.split()[0] for line in table[1:]] == ["bf16", "int8-w8a8", "int4-w4a8"]
    assert not any("[" in line or "…" in line for line in table)  # point values, none cut
    assert all(len(line) <= columns for line in table)
    bf16 = table[1].split()
    # one format per kind: tok/s to 3 significant digits, whole ms, % to one decimal
    assert "82.1" in bf16 and "8,417" in bf16 and "19,752" in bf16 and "100.0" in bf16, bf16
    # 13 headline columns need ~145 characters: a narrower terminal leaves the last ones out
    left_out = [line for line in lines if line.startswith("left out")]
    assert ("weights GB" in table[0], bool(left_out)) == (columns == 200, columns == 100), lines
    wide = report_cli(db, run, tmp_path / "out", "--wide")
    assert any("[" in line for line in wide)  # with --wide, the intervals


@pytest.mark.skipif(not browser.available(), reason="Debian chromium: make test installs it")
def test_the_variant_table_fits_a_1300_pixel_window(tmp_path: Path) -> None:
    db, run = demo_like_run(tmp_path)
    with Store(db) as store:
        html = write_reports(load_run(store, run), tmp_path / "report").paths["html"]
    # The report has no scripts; a copy measures itself for the test: every headline column
    # in view, nothing to scroll to.
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", """<script>
const t = document.querySelector("table.headline"), box = t.parentElement;
document.body.setAttribute("data-fit", JSON.stringify({right: t.getBoundingClientRect().right,
  window: window.innerWidth, scroll: box.scrollWidth - box.clientWidth,
  columns: t.rows[0].cells.length}));
</script></body>"""))
    page = browser.render(probe, tmp_path, width=1300)
    fit = json.loads(re.search(r'data-fit="([^"]+)"', page.dom).group(1).replace("&quot;", '"'))
    assert fit["columns"] == 13 and fit["scroll"] == 0 and fit["right"] <= 1300, fit
    assert "every column" in page.dom.lower()  # the rest, one click away
    Path("reports").mkdir(exist_ok=True)  # for a person to look at
    shutil.copy(page.screenshot, Path("reports") / "test-report-1300px.png")
