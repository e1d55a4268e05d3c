"""The history of a recipe: each stored run's variants at their target users, oldest first."""

from __future__ import annotations

from dataclasses import dataclass

from qexplore.catalog.targets import resolve_target
from qexplore.errors import QexploreError
from qexplore.results.pareto import VariantRow
from qexplore.results.run import level_bound, load_run
from qexplore.results.store import Store
from qexplore.results.table import variant_rows


@dataclass(frozen=True)
class HistoryPoint:
    run_id: str
    run_status: str
    started_at: float
    index: int  # the run's position in the history, from 1
    row: VariantRow


def history(store: Store, recipe: str | None = None, variant: str | None = None
            ) -> list[HistoryPoint]:
    """One point per (run, variant), runs in the order they started; ``recipe`` and ``variant``
    filter by name."""
    runs = [r for r in store.runs() if not recipe or r["recipe_name"] == recipe]
    points = []
    for i, r in enumerate(runs, start=1):
        run = load_run(store, r["run_id"])
        points += [HistoryPoint(run.run_id, run.status, run.started_at, i, row)
                   for row in variant_rows(run) if not variant or row.variant == variant]
    return points


def share_of_bound(store: Store, recipe: str, target: str) -> tuple[float, str] | None:
    """The median share of its decode bound that the latest run of ``recipe`` on ``target``
    (a target's name, as resolved) reached over its measured levels (a fraction), and that
    run's id: what the next plan's time estimate uses instead of an assumed share."""
    for r in reversed([r for r in store.runs() if r["recipe_name"] == recipe]):
        try:
            run = load_run(store, r["run_id"])
        except QexploreError:
            continue
        if resolve_target(run.recipe.target).name != target:
            continue
        shares = sorted(b.pct_of_bound for lv in run.levels if lv.measured
                        if (b := level_bound(run.variant(lv.variant), lv.summary, lv.workload))
                        .pct_of_bound)
        if shares:
            return shares[len(shares) // 2] / 100, run.run_id
    return None
