"""Every benchmark under bench/ runs through with its smallest arguments (nothing else runs
them: `make bench` once stopped at a bench that no longer started, and nobody noticed). The
fake server stands in for vLLM where a bench needs no real model; `vllm bench serve` is real.
Their figures are for a person to read on a quiet machine, so only that each bench got to its
result line, with numbers in it, is asserted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qexplore.testing.models import tiny_model

pytestmark = pytest.mark.e2e
BENCH = Path(__file__).parents[2] / "bench"
FAKE = {"QEXPLORE_VLLM": str(Path(__file__).parents[1] / "fakes" / "vllm"),
        "QEXPLORE_FAKE_PYTHON": sys.executable, "QEXPLORE_STOP_GRACE_S": "3",
        "FAKE_ITL_S": "0.002"}
RECIPE = """
name: bench-smoke
model: {{path: {model}}}
variants: [{{name: base, scheme: baseline}}]
workloads:
  - {{name: short, prompts: short, max_tokens: 4, concurrency: [2], requests: 4, warmup: 0,
      trials: 2}}
eval: {{tasks: []}}
slo: {{min_user_tps: 1, target_users: 2}}
precision: {{max_rounds: 1}}  # a fixed budget: rounds are tests/integration/test_rounds.py's
"""
NUMBER = r"\d[\d,]*(\.\d+)?"


def bench(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    r = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True,
                       text=True, timeout=600, env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def test_loadtest_fidelity(demo_model: Path) -> None:
    out = bench("loadtest_fidelity.py", "--server", "fake", "--users", "2", "--prompts", "4",
                "--output-len", "8", "--pairs", "2", "--no-warmup", "--startup-runs", "1")
    assert re.search(rf"output tok/s ratio qexplore/vllm-bench: {NUMBER} \[{NUMBER}, {NUMBER}\]",
                     out), out
    assert re.search(rf"client CPU per 1,000 tokens, qexplore +: median +-?{NUMBER} ms", out), out
    assert re.search(rf"qexplore +/ truth: output tok/s {NUMBER}", out), out


def test_client_cost(demo_model: Path) -> None:
    out = bench("client_cost.py", "--prompts", "4", "--output-len", "8", "--users", "2",
                "--runs", "1")
    assert re.search(rf"ratio qexplore/vllm-bench: -?{NUMBER}", out), out


def test_sweep_overhead_and_aa_calibration(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(model=tiny_model(tmp_path / "model")))
    out = bench("sweep_overhead.py", "--recipe", str(recipe), env=FAKE)
    assert re.search(rf"bench-smoke sweep: {NUMBER} s in total, qexplore's own code {NUMBER} s",
                     out), out
    assert re.search(rf"re-run of the completed sweep: {NUMBER} s", out), out
    out = bench("aa_calibration.py", "--recipe", str(recipe), env=FAKE)
    assert re.search(rf"spread between server sessions: {NUMBER} % within a run", out), out
    assert re.search(r"compare \S+ \S+: exit [015]\b", out), out


def test_verdict_calibration() -> None:
    out = bench("verdict_calibration.py", "--runs", "5")
    assert out.count("mean spent") == 13, out  # every scenario drew its comparisons
    assert re.search(r"30 % slower \(max 3 rounds\): .*slower", out), out


def test_budget_compare(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(model=tiny_model(tmp_path / "model")))
    out = bench("budget_compare.py", "--recipe", str(recipe), env=FAKE)
    assert re.search(rf"fixed budget: {NUMBER} min \(max_rounds 1, first_docs None\)", out), out
    assert re.search(rf"until decided: {NUMBER} min", out), out
    assert out.count("recommendation: ") == 2, out
