"""Speed verdicts: is one measured level faster than another, beyond the noise and beyond a
practical margin?

The test: the ratio of the two figures (oriented so that > 1 means faster: tok/s as
``other / reference``, latencies as ``reference / other``) with an interval from a normal
approximation on the log scale, each side's standard error read off its own 95 % interval
(``summary.ci``: trials and requests resampled, see ``loadtest/intervals.py``), plus the spread
between server sessions (``slo.session_spread_pct``, measured by ``bench/aa_calibration.py``):
the two sides always ran on different server sessions, which trials within one session cannot
see. A side measured over S sessions (rounds of ``precision.max_rounds``, each on a freshly
started server) carries 1/S of that spread. The verdict is one of four:

- ``faster`` when the interval lies above 1 **and** the ratio exceeds 1 + margin (``slower``
  mirrored): a difference that is both real and large enough to matter;
- ``equivalent`` when the whole interval lies inside [1 − margin, 1 + margin]: whatever the
  truth is, it is within the margin (two one-sided tests);
- ``inconclusive`` otherwise: the data cannot tell yet, and :func:`more_rounds` says about
  how many more rounds would.

A sweep that measures until decided looks at the data after each round: each look's test is at
5 %/K for K planned looks (Bonferroni over the looks), so the chance of any false decision over
all of them stays at most 5 % (:attr:`SpeedRule.z`). A fixed budget is one look: 95 %.

A side without an interval (a single trial) is taken to be as noisy as the other side; with
neither, the session spread alone makes the interval, and with no spread either, the margin
alone decides (the comparison then says it had no interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from qexplore.loadtest.metrics import LevelSummary
from qexplore.recipes.schema import Recipe
from qexplore.results.formats import sig3

Z = 1.959964  # two-sided 95 %
ALPHA = 0.05
MAX_ROUNDS_ESTIMATED = 100  # beyond this many more rounds, "cannot decide it here"
LOWER_IS_BETTER = ("ttft_ms.", "tpot_ms.", "itl_ms.", "e2e_ms.")
FIGURE = "user_tps.p1"  # what the SLO, the verdict columns and the rounds read


@dataclass(frozen=True)
class SpeedRule:
    """How a run judges speed: the practical ``margin`` and the ``session_spread`` (fractions),
    the ``looks`` its sweep planned at the data (rounds: Bonferroni over them), and the trials
    one server session measures of a level (``per_session``; 0: a level is one session, however
    many trials)."""

    margin: float = 0.1
    session_spread: float = 0.0
    looks: int = 1
    per_session: int = 0

    @classmethod
    def of(cls, recipe: Recipe, workload: str | None = None) -> SpeedRule:
        """How a recipe judges speed in ``workload`` (default: its first): its margin and
        session spread, its planned looks (``precision.max_rounds``), a round's trials."""
        w = next((x for x in recipe.workloads if x.name == workload), recipe.workloads[0])
        slo = recipe.slo
        return cls(slo.speed_margin_pct / 100, slo.session_spread_pct / 100,
                   recipe.precision.max_rounds, w.trials)

    @property
    def z(self) -> float:
        """The normal quantile of each look's two-sided test: 1.96 for one look."""
        return Z if self.looks == 1 else NormalDist().inv_cdf(1 - ALPHA / 2 / self.looks)

    def sessions(self, s: LevelSummary) -> int:
        """The server sessions a level's trials came from (a round's trials share one)."""
        return max(1, -(-s.trials // self.per_session)) if self.per_session else 1

    def session_var(self, sessions_a: int, sessions_b: int) -> float:
        """The session spread's share of the log ratio's variance."""
        return math.log1p(self.session_spread) ** 2 * (1 / sessions_a + 1 / sessions_b)


@dataclass(frozen=True)
class SpeedComparison:
    figure: str  # "user_tps.p1", "output_tps", "ttft_ms.p99", …
    ratio: float | None  # > 1: the other level is faster on this figure
    lo: float | None
    hi: float | None
    verdict: str  # faster | slower | equivalent | inconclusive | unknown

    def describe(self) -> str:
        if self.ratio is None:
            return f"{self.figure}: not comparable"
        return f"{self.figure} {self.ratio_text()}"

    def ratio_text(self) -> str:
        """"ratio 0.971 [0.893, 1.06]" (or "(no interval)")."""
        if self.ratio is None:
            return "not comparable"
        ci = f" [{sig3(self.lo)}, {sig3(self.hi)}]" if self.lo is not None and self.hi is not None \
            else " (no interval)"
        return f"ratio {sig3(self.ratio)}{ci}"


def log_se(value: float, ci: tuple[float, float] | None) -> float | None:
    """Standard error of ln(value) from a 95 % interval (its upper half when the lower bound
    is not positive, as a t-interval of few trials can be)."""
    if ci is None or value <= 0:
        return None
    lo, hi = ci
    if lo > 0:
        return (math.log(hi) - math.log(lo)) / (2 * Z)
    return max(0.0, math.log(hi) - math.log(value)) / Z


def compare_speed(reference: LevelSummary, other: LevelSummary, figure: str,
                  rule: SpeedRule = SpeedRule()) -> SpeedComparison:
    """``other`` against ``reference`` on one figure, the two measured on different server
    sessions, judged by ``rule``: each side's own interval, plus the spread between sessions
    each side adds to the variance of the log ratio (less as it spans more sessions)."""
    a, b = reference.value(figure), other.value(figure)
    if a is None or b is None or a <= 0 or b <= 0:
        return SpeedComparison(figure, None, None, None, "unknown")
    lower_better = figure.startswith(LOWER_IS_BETTER)
    ratio = a / b if lower_better else b / a
    se_a, se_b = log_se(a, reference.interval(figure)), log_se(b, other.interval(figure))
    se_a, se_b = se_a if se_a is not None else se_b, se_b if se_b is not None else se_a
    m = rule.margin
    if se_a is None and not rule.session_spread:
        return SpeedComparison(figure, ratio, None, None, _verdict(ratio, ratio, ratio, m))
    var = (se_a or 0.0) ** 2 + (se_b or 0.0) ** 2 + rule.session_var(rule.sessions(reference),
                                                                      rule.sessions(other))
    half = rule.z * math.sqrt(var)
    lo, hi = ratio * math.exp(-half), ratio * math.exp(half)
    return SpeedComparison(figure, ratio, lo, hi, _verdict(ratio, lo, hi, m))


def _verdict(ratio: float, lo: float, hi: float, margin: float) -> str:
    if lo > 1 and ratio > 1 + margin:
        return "faster"
    if hi < 1 and ratio < 1 - margin:
        return "slower"
    if lo >= 1 - margin and hi <= 1 + margin:
        return "equivalent"
    return "inconclusive"


def rounds_to_decide(reference: LevelSummary, other: LevelSummary, figure: str,
                     rule: SpeedRule) -> int | None:
    """About how many more rounds per side would decide the comparison of ``other`` with
    ``reference`` on ``figure``: see :func:`more_rounds`."""
    c = compare_speed(reference, other, figure, rule)
    return more_rounds(c, rule, min(reference.trials, other.trials),
                       (rule.sessions(reference), rule.sessions(other)))


def more_rounds(c: SpeedComparison, rule: SpeedRule, trials: int,
                sessions: tuple[int, int] = (1, 1), cap: int | None = None) -> int | None:
    """About how many more rounds per side (each ``rule.per_session`` trials on a fresh server
    session; one trial in the same session when ``per_session`` is 0) would decide an
    ``inconclusive`` comparison that rests on ``trials`` trials a side and ``sessions``
    sessions, were the ratio to stay where it is: the trials' share of the log ratio's variance
    shrinks as 1/trials, the sessions' share as 1/sessions (not at all within one session); a
    side already at ``cap`` sessions gains none. 0 when it is decided; None when no number can
    (the session spread alone is wider than the room the ratio leaves, the ratio sits on the
    margin's edge, or both sides reach the cap first), or more than
    :data:`MAX_ROUNDS_ESTIMATED` would be needed."""
    if c.verdict != "inconclusive":
        return 0
    assert c.ratio is not None and c.lo is not None and c.hi is not None
    log_r, m = math.log(c.ratio), rule.margin
    inside = math.log1p(-m) < log_r < math.log1p(m)
    # the half-width that would decide it: inside the margin, the room to its nearer edge;
    # beyond it, the distance from 1 (the interval must exclude 1)
    room = min(math.log1p(m) - log_r, log_r - math.log1p(-m)) if inside else abs(log_r)
    trial_var = max(0.0, (math.log(c.hi / c.lo) / (2 * rule.z)) ** 2 - rule.session_var(*sessions))
    n, per = max(1, trials), rule.per_session or 1
    need = (room / rule.z) ** 2
    if room <= 0:
        return None
    limit = MAX_ROUNDS_ESTIMATED if cap is None else cap
    for k in range(1, MAX_ROUNDS_ESTIMATED + 1):
        if rule.per_session:  # each round a fresh session a side, up to the cap
            grown = [min(s + k, max(s, limit)) for s in sessions]
            if grown == list(sessions):
                return None  # both sides at the cap: nothing more to measure
            added = [(g - s) * per for s, g in zip(sessions, grown, strict=True)]
        else:  # more trials in the same session: the session's share stays
            grown, added = list(sessions), [k, k]
        # the trials' share: each side's half of it over its grown count
        trials_part = sum(trial_var / 2 * n / (n + a) for a in added)
        if trials_part + rule.session_var(*grown) <= need:
            return k
    return None
