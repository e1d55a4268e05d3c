"""report.html renders in headless Chromium without console errors, and user strings stay text."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from qexplore.report.data import load_run
from qexplore.report.write import write_reports
from qexplore.results.store import Store

pytestmark = pytest.mark.integration
EVIL = "<script>alert(1)</script>"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def summary(users: int, tps: float) -> dict:  # type: ignore[type-arg]
    p = {"p50": 20.0, "p90": 30.0, "p99": 40.0 * users}
    return {"concurrency": users, "rate": None, "output_tps": tps * users, "failed": 0,
            "sent": 10, "completed": 10, "duration_s": 1.0, "request_tps": 10.0,
            "error_rate": 0.0, "goodput": 1.0,
            "user_tps": {"mean": tps, "p50": tps, "p1": tps / users ** 0.3},
            "ttft_ms": p, "tpot_ms": p, "itl_ms": p, "e2e_ms": p}


def synthetic_run(tmp: Path) -> tuple[Store, str]:
    store = Store(tmp / "s.db")
    recipe = {"name": "demo <b>bold</b>", "slo": {"min_user_tps": 5, "max_accuracy_drop_pct": 1,
                                                   "target_users": 16},
              "workloads": [{"name": "short", "concurrency": [1, 4, 16]}]}
    store.create_run("r1", "demo <b>bold</b>", "h", recipe, {"qexplore": "test", "versions": {},
                                                             "hardware": {}})
    for i, (name, scheme, tps, correct) in enumerate([("bf16", "baseline", 40.0, 90),
                                                      (EVIL, "W4A16", 60.0, 88)]):
        d = tmp / f"eval{i}"
        (d / "samples").mkdir(parents=True)
        rows = [{"doc_id": k, "metrics": {"acc": 1.0 if k < correct else 0.0}} for k in range(100)]
        (d / "samples" / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (d / "lm-eval.json").write_text(json.dumps({"higher_is_better": {"t": {"acc": True}}}))
        store.upsert_variant("r1", name, scheme, i, status="ok",
                             build={"size_bytes": 2e9 / (i + 1), "bits_per_weight": 16 / (i + 1)},
                             eval={"tasks": {"t": {"acc": {"value": correct / 100, "stderr": 0.03,
                                                           "n": 100}}},
                                   "raw_path": str(d / "lm-eval.json"),
                                   "samples_dir": str(d / "samples")})
        for users in (1, 4, 16):
            store.add_level("r1", name, "short", summary(users, tps), None)
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
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium: make test installs it")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    shot = report.with_name("report.png")
    r = subprocess.run(["chromium", *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                        f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    console = [line for line in r.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    dom = subprocess.run(["chromium", *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}",
                          "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "<svg" in dom and "<script" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text
    Path("reports").mkdir(exist_ok=True)
    shutil.copy(shot, Path("reports") / "test-report-screenshot.png")  # for a person to look at
