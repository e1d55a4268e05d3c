"""A fixed budget against measuring until decided, side by side: the same recipe swept twice,
each into its own store, once with one round and every document at once
(``precision: {max_rounds: 1, first_docs: null}``) and once as the recipe says; the builds are
shared (cached), so each sweep's time is serve, load and evaluation.

    .venv/bin/python bench/budget_compare.py [--recipe recipes/demo-cpu.yaml]

Prints each sweep's time and, per variant and level, the speed verdict against the baseline
with its ratio, interval and the trials it took, and per variant and task of a chunked
evaluation its accuracy verdict and the documents it took; each variant's accuracy verdict
over its tasks; then each one's recommendation. The order
alternates nothing: the fixed sweep runs first, on a machine whose neighbours may differ
minutes later (read the times as one draw each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from qexplore.results.rounds import Standing, level_states, task_states
from qexplore.results.run import load_runs
from qexplore.results.store import Store
from qexplore.results.table import recommendation, variant_rows

DEMO = Path(__file__).parents[1] / "recipes" / "demo-cpu.yaml"
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]


def copy(source: Path, folder: Path, fixed: bool) -> Path:
    """``source``'s recipe in ``folder``, with a fixed budget or as it says; its relative
    paths must not matter (the demo's name built-in files)."""
    recipe = yaml.safe_load(source.read_text())
    if fixed:
        recipe["precision"] = {**recipe.get("precision", {}), "max_rounds": 1,
                               "first_docs": None}
        recipe["precision"].pop("time_budget_min", None)
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def sweep(recipe: Path, folder: Path) -> tuple[str, float]:
    """The sweep's run id and wall time."""
    t = time.monotonic()
    r = subprocess.run([*QEXPLORE, "sweep", str(recipe), "--output", str(folder / "reports")],
                       capture_output=True, text=True,
                       env={**os.environ, "QEXPLORE_STORE": str(folder / "store.db")})
    if r.returncode not in (0, 1):
        sys.exit(f"sweep failed (exit {r.returncode}): {r.stderr[-2000:]}")
    with Store(folder / "store.db") as store:
        return store.runs()[0]["run_id"], time.monotonic() - t


def report(label: str, folder: Path, run_id: str, seconds: float) -> None:
    (run,) = load_runs(folder / "store.db", run_id)
    p = run.recipe.precision
    print(f"{label}: {seconds / 60:.1f} min (max_rounds {p.max_rounds}, first_docs "
          f"{p.first_docs})")
    states: list[Standing] = [*level_states(run), *task_states(run)]
    for s in states:
        print(f"  {s.line()}")
    verdicts = [f"{r.variant} {r.accuracy_verdict}" for r in variant_rows(run)
                if r.accuracy_verdict not in (None, "baseline")]
    print(f"  accuracy over the tasks: {', '.join(verdicts) or 'not measured'}")
    print(f"  recommendation: {recommendation(run).summary}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=DEMO)
    a = ap.parse_args()
    out = []
    for label, fixed in (("fixed budget", True), ("until decided", False)):
        folder = Path(tempfile.mkdtemp())
        run_id, seconds = sweep(copy(a.recipe, folder, fixed), folder)
        out.append((label, folder, run_id, seconds))
    for args in out:
        report(*args)


if __name__ == "__main__":
    main()
