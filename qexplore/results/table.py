"""The variant table of a stored run: one typed row per variant — size, accuracy, speed at the
target users, capacity — and the recommendation made from it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pandas as pd

from qexplore.evaluate.stats import family_verdict
from qexplore.loadtest.metrics import LevelSummary, capacity_at, levels_p1
from qexplore.results.pareto import (
    COLUMNS,
    SPEED_FIGURES,
    SPEED_ONLY,
    Constraints,
    Recommendation,
    VariantRow,
    pareto_flags,
    recommend,
)
from qexplore.results.run import StoredRun, StoredVariant, level_bound
from qexplore.results.speed import FIGURE, compare_speed

INTEGER_COLUMNS = ("at_users", "capacity_users", "kv_cache_tokens", "kv_cache_tokens_est",
                   "stalls", "trials_used", "docs_used")


def variant_rows(run: StoredRun, users: int | None = None) -> list[VariantRow]:
    """One row per variant at ``users`` (default: the recipe's target), judged at the smallest
    measured level with at least that many users, with its Pareto flag."""
    users = users or run.target_users()
    rows = [_row(run, v, users) for v in run.variants]
    for row, flag in zip(rows, pareto_flags(rows), strict=True):
        row.pareto = flag
    return rows


def frame(rows: list[VariantRow]) -> pd.DataFrame:
    """The rows as the Pareto table (CSV, Markdown, HTML): every column, tasks last."""
    columns = table_columns(rows)
    df = pd.DataFrame([r.cells(columns) for r in rows], columns=columns)
    return df.astype({c: "Int64" for c in INTEGER_COLUMNS})  # counts stay integers beside gaps


def table_columns(rows: list[VariantRow]) -> list[str]:
    tasks = sorted({t for r in rows for t in r.recovery_by_task})
    return COLUMNS + [f"recovery_{t}" for t in tasks]


def _row(run: StoredRun, v: StoredVariant, users: int) -> VariantRow:
    """The variant judged at the smallest measured level with at least ``users`` users (never
    at a smaller one: a level below the load asked about proves nothing about it)."""
    slo = run.recipe.slo
    levels = run.closed_loop(v.name)
    lv = next((s for s in levels if s.concurrency >= users), None)
    p1s = levels_p1(levels, slo.max_ttft_ms)
    est = v.estimate
    row = VariantRow(
        v.name, v.scheme, v.status, v.reason, v.weights_gb, _bits(v), v.weights_source,
        capacity_users=capacity_at(p1s, slo.min_user_tps), levels_p1=p1s,
        kv_cache_tokens=v.server.kv_cache_tokens if v.server else None,
        kv_cache_tokens_est=est.kv_cache_tokens if est else None)
    if lv:
        _add_level(row, lv)
        b = level_bound(v, lv, run.primary_workload())
        row.bound_tps, row.bound_kind, row.pct_of_bound = b.bound_tps, b.bound_kind, b.pct_of_bound
        row.capacity_borderline = _borderline(levels, row.capacity_users, slo.min_user_tps)
        _add_speed_verdict(run, v, row)
    _add_accuracy(run, v, row)
    return row


def _bits(v: StoredVariant) -> float | None:
    """Bits per weight as served: counted where the checkpoint was, else estimated."""
    if v.build and v.build.bits_per_weight:
        return v.build.bits_per_weight
    return v.estimate.bits_per_weight if v.estimate else None


def _add_level(row: VariantRow, lv: LevelSummary) -> None:
    row.level, row.at_users, row.failed_requests, row.stalls, row.trials_used = (
        lv, lv.concurrency, lv.failed, lv.stalls, lv.trials)
    row.user_tps_p1, row.output_tps, row.ttft_ms_p99 = lv.user_tps.p1, lv.output_tps, lv.ttft_ms.p99
    row.intervals = {c: ci for c, fig in SPEED_FIGURES.items() if (ci := lv.interval(fig))}


def _borderline(levels: list[LevelSummary], capacity: int | None, floor: float) -> bool:
    """Whether the capacity level meets the floor by its point value but not by the lower end
    of its interval (so the SLO there is not certain)."""
    lv = next((s for s in levels if s.concurrency == capacity), None)
    ci = lv.interval("user_tps.p1") if lv else None
    return ci is not None and ci[0] < floor


def _add_speed_verdict(run: StoredRun, v: StoredVariant, row: VariantRow) -> None:
    """Against the baseline at the same users, on slowest-1 % user tok/s."""
    ref = run.reference
    if ref is None or row.level is None:
        return
    if ref is v:
        row.speed_verdict = "baseline"
        return
    base = _reference_level(run, run.primary_workload(), row.at_users)
    if base is not None:
        row.speed = compare_speed(base, row.level, FIGURE, run.speed_rule())
        row.speed_verdict = row.speed.verdict


def _add_accuracy(run: StoredRun, v: StoredVariant, row: VariantRow) -> None:
    if run.speed_only:  # random weights: no accuracy to show, and the cell says why
        row.accuracy_verdict = SPEED_ONLY
        return
    if not (v.eval and v.eval.tasks):
        return
    counts = [v.eval.primary(t)[1].n for t in v.eval.tasks]
    row.docs_used = None if None in counts else sum(c or 0 for c in counts)
    if run.baseline is v:
        row.recovery_by_task = {t: 100.0 for t in v.eval.tasks}
        row.recovery_pct, row.accuracy_verdict = 100.0, "baseline"
        return
    cmp = run.comparisons.get(v.name, {})
    primary = {task: c for task in v.eval.tasks
               if (c := cmp.get(task, {}).get(v.eval.primary(task)[0]))}
    row.recovery_by_task = {task: 100 * c.recovery for task, c in primary.items()
                            if c.recovery is not None}
    per_task = row.recovery_by_task.values()
    row.recovery_pct = sum(per_task) / len(per_task) if per_task else None
    row.accuracy_verdict = family_verdict(list(primary.values()))  # Holm over the tasks


def recommendation(run: StoredRun, users: int | None = None, min_user_tps: float | None = None,
                   max_drop: float | None = None, rows: list[VariantRow] | None = None
                   ) -> Recommendation:
    """The variant to deploy for ``users`` (default: the recipe's target); the floor and the
    accuracy budget default to the recipe's SLO. ``rows`` are ``variant_rows(run, users)`` when
    the caller already has them."""
    slo = run.recipe.slo
    users = users or run.target_users()
    c = Constraints(users, slo.min_user_tps if min_user_tps is None else min_user_tps,
                    slo.max_accuracy_drop_pct if max_drop is None else max_drop, slo.max_ttft_ms,
                    run.speed_rule(), run.speed_only)
    return recommend(variant_rows(run, users) if rows is None else rows, c)


def comparisons_json(run: StoredRun) -> dict[str, Any]:
    return {v: {t: {m: asdict(c) for m, c in ms.items()} for t, ms in tasks.items()}
            for v, tasks in run.comparisons.items()}


def level_verdicts(run: StoredRun) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Per variant and level ("short@16"), each speed figure against the baseline's same level:
    ratio, 95 % interval and verdict (results.json's ``speed``)."""
    ref = run.reference
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for lv in run.levels:
        b = _reference_level(run, lv.workload, lv.summary.concurrency)
        if ref is None or lv.variant == ref.name or not lv.measured or b is None:
            continue
        out.setdefault(lv.variant, {})[f"{lv.workload}@{lv.summary.concurrency}"] = {
            fig: asdict(compare_speed(b, lv.summary, fig, run.speed_rule(lv.workload)))
            for fig in SPEED_FIGURES.values()}
    return out


def _reference_level(run: StoredRun, workload: str, users: int | None) -> LevelSummary | None:
    """The baseline's closed-loop level a variant's level is compared with."""
    ref = run.reference
    if ref is None or users is None:
        return None
    return next((s for s in run.closed_loop(ref.name, workload) if s.concurrency == users), None)
