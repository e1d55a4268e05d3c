"""A sweep whose server dies in the middle of a level, then resumed (fake vLLM, real sweep):
the cut-short level is kept but never judged, the variant fails, and the resume measures that
level again on a new server before the variant may count as measured."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qexplore.results.run import load_run
from qexplore.results.store import Store
from qexplore.testing.models import tiny_model

pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
RECIPE = """
name: dies
model: {{path: {model}}}
variants: [{{name: base, scheme: baseline}}]
workloads:
  - {{name: short, prompts: short, max_tokens: 4, concurrency: [1, 4], requests: 20, warmup: 0,
      trials: {trials}}}
eval: {{tasks: []}}
slo: {{min_user_tps: 1}}
precision: {{max_rounds: 1}}  # a fixed budget: rounds are tests/integration/test_rounds.py's
"""


def sweep(tmp: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QEXPLORE, "sweep", str(tmp / "r.yaml"), "--output", str(tmp / "out"),
                           *flags],
                          capture_output=True, text=True, timeout=300, cwd=tmp,
                          env={**os.environ, "QEXPLORE_STORE": str(tmp / "s.db"), **env})


def test_a_level_its_server_died_under_is_measured_again(
        fake_vllm: Callable[..., None], tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE.format(model=tiny_model(tmp_path / "model"), trials=1))
    fake_vllm(itl_s=0.01)
    # completion 1 is the start-up check, 2–21 the 1-user level; the 4-user level dies at 30
    first = sweep(tmp_path, FAKE_DIE_AT="30")
    assert first.returncode == 1, first.stdout + first.stderr
    with Store(tmp_path / "s.db") as store:
        run_id = store.runs()[0]["run_id"]
        run = load_run(store, run_id)
        levels = {lv.summary.concurrency: lv.status for lv in run.levels}
        assert levels == {1: "ok", 4: "interrupted"}
        assert run.variants[0].status == "failed"
        assert "killed by signal 9" in (run.variants[0].error or "")
        assert [s.concurrency for s in run.closed_loop("base")] == [1]  # the cut level: not data
        kept = {lv.summary.concurrency: lv for lv in run.levels}[1].summary
    idle = sweep(tmp_path, "--skip-loadtest")  # measures nothing: the failure must stand
    assert idle.returncode == 1 and "stays failed" in idle.stdout, idle.stdout
    second = sweep(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    with Store(tmp_path / "s.db") as store:
        run = load_run(store, run_id)
    after = {lv.summary.concurrency: lv for lv in run.levels}
    assert {u: lv.status for u, lv in after.items()} == {1: "ok", 4: "ok"}
    assert after[1].summary == kept  # the whole level was not measured again
    assert after[4].summary.completed == 20 and after[4].summary.failed == 0
    assert run.variants[0].status == "ok"


def test_trials_interleave_and_resume_measures_only_the_missing_trial(
        fake_vllm: Callable[..., None], tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE.format(model=tiny_model(tmp_path / "model"), trials=2))
    fake_vllm(itl_s=0.01)
    # 10 requests a trial, interleaved: 1 user t0 (completions 2-11), 4 users t0 (12-21),
    # 1 user t1 (22-31), 4 users t1 (32-41): the server dies in the last trial
    assert sweep(tmp_path, FAKE_DIE_AT="35").returncode == 1
    with Store(tmp_path / "s.db") as store:
        run_id = store.runs()[0]["run_id"]
        trials = {(r["concurrency"], r["trial"]): r["status"] for r in store.trials(run_id, "base")}
        pooled = {lv.summary.concurrency: lv.summary for lv in load_run(store, run_id).levels}
    assert trials == {(1, 0): "ok", (4, 0): "ok", (1, 1): "ok", (4, 1): "interrupted"}
    assert (pooled[1].trials, pooled[1].sent, pooled[4].trials, pooled[4].sent) == (2, 20, 1, 10)
    assert "output_tps" in pooled[1].ci and pooled[4].ci == {}  # one trial: no interval
    assert sweep(tmp_path).returncode == 0
    with Store(tmp_path / "s.db") as store:
        after = {(r["concurrency"], r["trial"]): r for r in store.trials(run_id, "base")}
        level4 = next(lv.summary for lv in load_run(store, run_id).levels
                      if lv.summary.concurrency == 4)
    assert {k: r["status"] for k, r in after.items()} == dict.fromkeys(trials, "ok")
    assert (level4.trials, level4.sent, level4.failed) == (2, 20, 0)
    lo, hi = level4.ci["output_tps"]
    assert lo <= level4.output_tps <= hi
