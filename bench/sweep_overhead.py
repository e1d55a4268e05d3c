"""Sweep overhead: time spent in qexplore's own code (planning, bookkeeping between variants,
reports) as a share of a demo sweep's total, and the time to re-run a completed sweep.

    .venv/bin/python bench/sweep_overhead.py [--recipe recipes/demo-cpu.yaml]

Own time = from the start to the first variant's build + from each variant's end to the next
variant's build + from the last variant's end to the written reports. Builds come from the
cache, as they would on a re-measurement; measuring happens in the stages in between.
Targets: own time under 2 % of the total; a re-run of the completed sweep under 15 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qexplore.loadtest.levels import Progress
from qexplore.loadtest.metrics import LevelSummary
from qexplore.recipes import load_recipe
from qexplore.sweep import Headless, SweepOptions, sweep

RECIPE = Path(__file__).parents[1] / "recipes" / "demo-cpu.yaml"


class Timing(Headless):
    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []

    def stage(self, variant: str, stage: str, detail: str = "") -> None:
        if stage == "build" and not detail:
            self.events.append((time.perf_counter(), "start"))

    def level_progress(self, variant: str, p: Progress) -> None:
        pass

    def level_done(self, variant: str, s: LevelSummary) -> None:
        pass

    def variant_done(self, variant: str, status: str, detail: str = "") -> None:
        self.events.append((time.perf_counter(), "end"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=RECIPE)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["QEXPLORE_STORE"] = str(tmp / "store.db")
    recipe = load_recipe(args.recipe)
    timing = Timing()
    t0 = time.perf_counter()
    sweep(recipe, SweepOptions(output=tmp / "reports"), timing)  # the reports included
    t_end = time.perf_counter()
    own = timing.events[0][0] - t0 + (t_end - timing.events[-1][0])
    for (t_a, a), (t_b, b) in zip(timing.events, timing.events[1:], strict=False):
        if a == "end" and b == "start":
            own += t_b - t_a
    total = t_end - t0
    print(f"{recipe.name} sweep: {total:.1f} s in total, qexplore's own code {own:.2f} s "
          f"= {100 * own / total:.2f} % (target < 2 %)")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from qexplore.cli.main import run; run()", "sweep",
                    str(args.recipe), "--output", str(tmp / "reports")], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"re-run of the completed sweep: {time.perf_counter() - started:.1f} s (target < 15 s)")


if __name__ == "__main__":
    main()
