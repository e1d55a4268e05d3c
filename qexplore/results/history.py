"""The history of a recipe: each stored run's variants at their target users, oldest first —
per variant and figure one point per run with its 95 % interval, the points where the run
regressed against the one before it, and what changed between them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from qexplore.catalog.targets import resolve_target
from qexplore.errors import QexploreError
from qexplore.results.compare import compare_runs
from qexplore.results.pareto import SPEED_FIGURES, VariantRow
from qexplore.results.run import StoredRun, level_bound, load_run
from qexplore.results.store import Store
from qexplore.results.table import variant_rows

Z95 = 1.96  # an accuracy's interval: lm-eval's standard error × this


@dataclass(frozen=True)
class HistoryPoint:
    run_id: str
    run_status: str
    started_at: float
    index: int  # the run's position in the history, from 1
    row: VariantRow


@dataclass(frozen=True)
class Figure:
    """One figure of one variant in one run: a task's primary metric, or a speed figure at the
    target users. ``what`` names it as ``compare`` does, so a regression joins on it."""

    run_id: str
    index: int
    variant: str
    what: str
    value: float
    lo: float | None = None
    hi: float | None = None
    regression: str | None = None  # the comparison's note, when it regressed from the run before


@dataclass(frozen=True)
class RunEntry:
    """A run in the history: its gate, what regressed against the run before, what changed."""

    index: int
    run_id: str
    recipe_name: str
    started_at: float
    status: str
    gate: str | None
    changes: list[str]
    regressions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class History:
    """The runs that passed the filters, a row per (run, variant), and every figure."""

    runs: list[RunEntry]
    points: list[HistoryPoint]  # one per (run, variant): the table's rows
    figures: list[Figure]


def history(store: Store, recipe: str | None = None, variant: str | None = None,
            since: datetime | None = None, until: datetime | None = None) -> History:
    """The runs that pass the filters (recipe and variant by name, start time within
    [since, until]) in the order they started; each run is compared with the previous run of
    its recipe in this history."""
    rows = [r for r in store.runs() if (not recipe or r["recipe_name"] == recipe)
            and (since is None or r["started_at"] >= since.timestamp())
            and (until is None or r["started_at"] <= until.timestamp())]
    runs, points, figures = [], [], []
    previous: dict[str, StoredRun] = {}
    for i, r in enumerate(rows, start=1):
        run = load_run(store, r["run_id"])
        before = previous.get(run.recipe_name)
        regressed, notes = _regressions(before, run)
        gate = store.gate(run.run_id)
        runs.append(RunEntry(i, run.run_id, run.recipe_name, run.started_at, run.status,
                             gate["outcome"] if gate else None, changes(before, run),
                             notes))
        for row in variant_rows(run):
            if variant and row.variant != variant:
                continue
            points.append(HistoryPoint(run.run_id, run.status, run.started_at, i, row))
            figures += [replace(f, regression=regressed.get((f.variant, f.what)))
                        for f in _figures(run, i, row)]
        previous[run.recipe_name] = run
    return History(runs, points, figures)


def _figures(run: StoredRun, index: int, row: VariantRow) -> list[Figure]:
    out = []
    v = run.variant(row.variant)
    if v is not None and v.eval is not None and v.ok:
        for task in v.eval.tasks:
            metric, m = v.eval.primary(task)
            if m.value is not None:
                half = Z95 * m.stderr if m.stderr is not None else None
                out.append(Figure(run.run_id, index, row.variant, f"{task}/{metric}", m.value,
                                  None if half is None else m.value - half,
                                  None if half is None else m.value + half))
    if row.at_users is None or row.level is None:
        return out
    where = f"{run.primary_workload()}@{row.at_users} users"
    for column in SPEED_FIGURES:
        value = getattr(row, column)
        if value is not None:
            lo, hi = row.intervals.get(column, (None, None))
            out.append(Figure(run.run_id, index, row.variant, f"{where}: {column}", value, lo, hi))
    b = level_bound(v, row.level, run.primary_workload())
    if b.pct_of_bound is not None and b.bound_tps:
        lo, hi = row.intervals.get("output_tps", (None, None))
        out.append(Figure(run.run_id, index, row.variant, f"{where}: pct_of_bound",
                          b.pct_of_bound, None if lo is None else 100 * lo / b.bound_tps,
                          None if hi is None else 100 * hi / b.bound_tps))
    return out


def _regressions(before: StoredRun | None, run: StoredRun
                 ) -> tuple[dict[tuple[str, str], str], list[str]]:
    """What regressed in ``run`` against ``before``, by (variant, figure), and as lines."""
    if before is None:
        return {}, []
    try:
        deltas = compare_runs(before, run)
    except QexploreError as e:  # e.g. an evaluation's per-sample files are not here
        return {}, [f"not compared with {before.run_id}: {e}"]
    bad = [d for d in deltas if d.regression]
    return ({(d.variant, d.what): d.note for d in bad},
            [f"{d.variant} {d.what} ({d.note})" for d in bad])


def changes(before: StoredRun | None, run: StoredRun) -> list[str]:
    """What differs in ``run``'s provenance and recipe from ``before``'s, as 'what: old → new'."""
    if before is None:
        return ["first run in this history"]
    a, b = before.provenance, run.provenance
    pairs = [(f"{name} version", a.versions.get(name), b.versions.get(name))
             for name in sorted(set(a.versions) | set(b.versions))]
    pairs += [("qexplore", a.qexplore, b.qexplore),
              ("qexplore commit", (a.git_sha or "")[:10] or None, (b.git_sha or "")[:10] or None),
              ("model", _model(a.model), _model(b.model)),
              ("recipe hash", before.recipe_hash, run.recipe_hash),
              ("hardware", a.hardware.line() if a.hardware else None,
               b.hardware.line() if b.hardware else None)]
    return [f"{what}: {x or 'not recorded'} → {y or 'not recorded'}"
            for what, x, y in pairs if x != y]


def _model(m: dict[str, str | None] | None) -> str | None:
    if not m:
        return None
    return f"{m.get('path')} @ {m.get('revision') or 'unknown revision'}"


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
