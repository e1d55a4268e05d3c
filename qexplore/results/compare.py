"""Nightly tracking: what changed between two runs of a recipe, and whether it is a regression.

Regression rules (defaults, all settable): a significant accuracy drop (paired test, p < 0.05,
on any task metric); output tok/s or slowest-1 % user tok/s down by more than 10 % at any level;
TTFT p99 up by more than 25 % at any level; more failed requests at any level; a level or an
evaluation of the first run that the second lacks (unless missing ones are allowed).
"""

from __future__ import annotations

from dataclasses import dataclass

from qexplore.evaluate.run import paired_comparisons
from qexplore.loadtest.metrics import LevelSummary
from qexplore.results.run import StoredRun, StoredVariant


@dataclass(frozen=True)
class Thresholds:
    max_throughput_drop_pct: float = 10.0
    max_latency_rise_pct: float = 25.0
    allow_missing: bool = False  # levels or evaluations absent from the second run pass


@dataclass(frozen=True)
class Delta:
    variant: str
    what: str  # "task/metric" or "workload@users: metric"
    a: float | None
    b: float | None
    change_pct: float | None
    regression: bool
    note: str = ""


def _pct(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or a == 0 else 100 * (b - a) / a


def compare_runs(a: StoredRun, b: StoredRun, th: Thresholds = Thresholds()) -> list[Delta]:
    """Per variant in both runs: accuracy deltas with the paired verdict, speed deltas per level."""
    out: list[Delta] = []
    va = {v.name: v for v in a.variants if v.ok}
    vb = {v.name: v for v in b.variants if v.ok}
    for name in [n for n in va if n in vb]:
        out += _accuracy(name, va[name], vb[name], th)
        out += _speed(name, a, b, th)
    for name in [n for n in va if n not in vb]:
        out.append(Delta(name, "status", None, None, None, True,
                         "measured in the first run, failed or missing in the second"))
    return out


def _missing(name: str, what: str, th: Thresholds) -> Delta:
    return Delta(name, what, None, None, None, not th.allow_missing,
                 "in the first run, missing from the second"
                 + (" (allowed)" if th.allow_missing else " (--allow-missing to accept)"))


def _accuracy(name: str, ra: StoredVariant, rb: StoredVariant, th: Thresholds) -> list[Delta]:
    if not ra.eval:
        return []
    missing = [t for t in ra.eval.tasks if not (rb.eval and t in rb.eval.tasks)]
    out = [_missing(name, f"{t}: evaluation", th) for t in missing]
    if not rb.eval:
        return out
    cmp = paired_comparisons(ra.eval.result(), rb.eval.result())
    return out + [Delta(name, f"{task}/{metric}", c.baseline, c.variant,
                        _pct(c.baseline, c.variant), c.verdict == "worse",
                        f"{c.verdict} (p={c.p_value:.3g}, {c.test})")
                  for task, metrics in cmp.items() for metric, c in metrics.items()]


def _levels(run: StoredRun, variant: str) -> dict[tuple[str, int, float | None], LevelSummary]:
    return {lv.key: lv.summary for lv in run.levels if lv.variant == variant and lv.measured}


def _speed(name: str, a: StoredRun, b: StoredRun, th: Thresholds) -> list[Delta]:
    la, lb = _levels(a, name), _levels(b, name)
    return [d for k in la for d in (_level_deltas(name, k, la[k], lb[k], th) if k in lb
                                    else [_missing(name, f"{k[0]}@{k[1]} users: level", th)])]


def _level_deltas(name: str, k: tuple[str, int, float | None], sa: LevelSummary,
                  sb: LevelSummary, th: Thresholds) -> list[Delta]:
    where = f"{k[0]}@{k[1]} users"
    out = []
    for metric, x, y, worse_if in (
        ("output_tps", sa.output_tps, sb.output_tps, "drop"),
        ("user_tps_p1", sa.user_tps.p1, sb.user_tps.p1, "drop"),
        ("ttft_ms_p99", sa.ttft_ms.p99, sb.ttft_ms.p99, "rise"),
    ):
        change = _pct(x, y)
        limit = th.max_throughput_drop_pct if worse_if == "drop" else th.max_latency_rise_pct
        bad = change is not None and (-change if worse_if == "drop" else change) > limit
        out.append(Delta(name, f"{where}: {metric}", x, y, change, bad,
                         f"{worse_if} limit {limit:g}%"))
    more = sb.error_rate > sa.error_rate
    out.append(Delta(name, f"{where}: failed requests", sa.failed, sb.failed,
                     _pct(sa.error_rate, sb.error_rate), more,
                     f"error rate {sa.error_rate:.1%} → {sb.error_rate:.1%}"))
    return out
