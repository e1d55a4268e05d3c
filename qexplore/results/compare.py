"""Nightly tracking: what changed between two runs of a recipe, and whether it is a regression.

Regression rules (defaults, all settable): a significant accuracy drop (paired test, p < 0.05,
on any task metric); output tok/s or slowest-1 % user tok/s down by more than 10 % at any level;
TTFT p99 up by more than 25 % at any level; more failed requests at any level; a level or an
evaluation of the first run that the second lacks (unless missing ones are allowed). A speed
change counts only when it is both beyond the limit and significant (the levels' 95 %
intervals, see ``results/speed.py``); where the new run reads slower and the interval reaches
beyond the limit without the drop being significant, the figure is ``inconclusive``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from qexplore.errors import ExitCode
from qexplore.evaluate.run import paired_comparisons
from qexplore.loadtest.metrics import LevelSummary
from qexplore.results.formats import figure_of
from qexplore.results.run import StoredRun, StoredVariant, load_run
from qexplore.results.speed import SpeedRule, compare_speed
from qexplore.results.store import Store

LAST_GOOD = "LAST_GOOD"  # as the reference: the last run of the recipe whose gate passed


@dataclass(frozen=True)
class Thresholds:
    max_throughput_drop_pct: float = 10.0
    max_latency_rise_pct: float = 25.0
    allow_missing: bool = False  # levels or evaluations absent from the second run pass
    max_accuracy_drop: float = 0.0  # within it "equivalent"; the new run's recipe sets it


@dataclass(frozen=True)
class Delta:
    variant: str
    what: str  # "task/metric" or "workload@users: metric"
    a: float | None
    b: float | None
    change_pct: float | None
    regression: bool
    note: str = ""
    inconclusive: bool = False  # the noise is larger than the limit: neither pass nor fail

    @property
    def figure(self) -> str:
        """The figure compared, as a table column names it ("output_tps", "exact_match")."""
        return figure_of(self.what)


def _pct(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or a == 0 else 100 * (b - a) / a


def compare_runs(a: StoredRun, b: StoredRun, th: Thresholds = Thresholds()) -> list[Delta]:
    """Per variant in both runs: accuracy deltas with the paired verdict, speed deltas per level."""
    th = replace(th, max_accuracy_drop=b.max_accuracy_drop)
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
    cmp = paired_comparisons(ra.eval.result(), rb.eval.result(), th.max_accuracy_drop)
    return out + [Delta(name, f"{task}/{metric}", c.baseline, c.variant,
                        _pct(c.baseline, c.variant), c.verdict == "worse",
                        f"{c.verdict} (p={c.p_value:.3g}, {c.test})")
                  for task, metrics in cmp.items() for metric, c in metrics.items()]


def _levels(run: StoredRun, variant: str) -> dict[tuple[str, int, float | None], LevelSummary]:
    return {lv.key: lv.summary for lv in run.levels if lv.variant == variant and lv.measured}


def _speed(name: str, a: StoredRun, b: StoredRun, th: Thresholds) -> list[Delta]:
    la, lb = _levels(a, name), _levels(b, name)
    return [d for k in la for d in (_level_deltas(name, k, la[k], lb[k], th, _rule(a, b, k[0]))
                                    if k in lb
                                    else [_missing(name, f"{k[0]}@{k[1]} users: level", th)])]


def _rule(a: StoredRun, b: StoredRun, workload: str) -> SpeedRule:
    """Two runs' levels judged as the new run judges its own (its session spread, its trials
    per round), with the looks of whichever run looked more often (each stopped on its own
    data)."""
    rule = b.speed_rule(workload)
    return replace(rule, looks=max(rule.looks, a.recipe.precision.max_rounds))


def _level_deltas(name: str, k: tuple[str, int, float | None], sa: LevelSummary,
                  sb: LevelSummary, th: Thresholds, rule: SpeedRule) -> list[Delta]:
    where = f"{k[0]}@{k[1]} users" + (f" at {k[2]:g} req/s" if k[2] else "")
    drop = th.max_throughput_drop_pct / 100
    rise = 1 - 1 / (1 + th.max_latency_rise_pct / 100)  # a 25 % rise is a 0.8 speed ratio
    out = [_figure_delta(name, where, column, figure, sa, sb, limit, replace(rule, margin=margin))
           for column, figure, margin, limit in (
               ("output_tps", "output_tps", drop, f"drop limit {th.max_throughput_drop_pct:g}%"),
               ("user_tps_p1", "user_tps.p1", drop, f"drop limit {th.max_throughput_drop_pct:g}%"),
               ("ttft_ms_p99", "ttft_ms.p99", rise, f"rise limit {th.max_latency_rise_pct:g}%"))]
    more = sb.error_rate > sa.error_rate
    out.append(Delta(name, f"{where}: failed requests", sa.failed, sb.failed,
                     _pct(sa.error_rate, sb.error_rate), more,
                     f"error rate {sa.error_rate:.1%} → {sb.error_rate:.1%}"))
    return out


def _figure_delta(name: str, where: str, column: str, figure: str, sa: LevelSummary,
                  sb: LevelSummary, limit: str, rule: SpeedRule) -> Delta:
    """A regression is a slowdown both significant and beyond the limit; when the interval
    cannot rule out a slowdown beyond the limit, the figure is inconclusive. Levels stored
    without intervals are judged on their point values."""
    x, y = sa.value(figure), sb.value(figure)
    c = compare_speed(sa, sb, figure, rule)
    bad = c.verdict == "slower"
    unsure = not bad and c.ratio is not None and c.ratio < 1 and c.lo is not None \
        and c.lo < 1 - rule.margin  # slower, and the noise reaches past the limit
    return Delta(name, f"{where}: {column}", x, y, _pct(x, y), bad, f"{limit}; {c.describe()}",
                 unsure)


@dataclass(frozen=True)
class Gate:
    """A nightly gate: ``run`` against ``reference`` (None: no earlier good run of its recipe,
    so ``run`` becomes the first reference if it completed)."""

    run: StoredRun
    reference: StoredRun | None
    deltas: list[Delta]

    @property
    def regressions(self) -> list[Delta]:
        return [d for d in self.deltas if d.regression]

    @property
    def inconclusive(self) -> list[Delta]:
        return [d for d in self.deltas if d.inconclusive]

    @property
    def outcome(self) -> str:
        """'regression' (a figure regressed); 'failed' (the run is not complete: a variant
        failed, or it was interrupted); 'inconclusive'; else 'pass', or 'first' when there is
        no reference. Only 'pass' and 'first' make the run a reference (``store.GOOD``)."""
        if self.regressions:
            return "regression"
        if self.run.status != "complete":
            return "failed"
        if self.inconclusive:
            return "inconclusive"
        return "first" if self.reference is None else "pass"

    @property
    def exit_code(self) -> ExitCode:
        return {"regression": ExitCode.PARTIAL, "failed": ExitCode.PARTIAL,
                "inconclusive": ExitCode.INCONCLUSIVE}.get(self.outcome, ExitCode.OK)


def gate(store: Store, reference: str, run: str, th: Thresholds = Thresholds()) -> Gate:
    """Compare ``run`` with ``reference``: a run id, or ``LAST_GOOD`` — then the outcome is
    recorded in the store, where the next ``LAST_GOOD`` finds it (a comparison with a named
    run, someone looking into a change, leaves the nightly's references alone)."""
    b = load_run(store, run)
    if reference == LAST_GOOD:
        found = store.last_good(b.recipe_name, run)
        a = load_run(store, found) if found else None
    else:
        a = load_run(store, reference)
    g = Gate(b, a, compare_runs(a, b, th) if a else [])
    if reference == LAST_GOOD:
        store.record_gate(run, a.run_id if a else None, g.outcome, len(g.regressions),
                          len(g.inconclusive))
    return g
