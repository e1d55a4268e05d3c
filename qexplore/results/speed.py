"""Speed verdicts: is one measured level faster than another, beyond the noise and beyond a
practical margin?

The test: the ratio of the two figures (oriented so that > 1 means faster: tok/s as
``other / reference``, latencies as ``reference / other``) with a 95 % interval from a normal
approximation on the log scale, each side's standard error read off its own 95 % interval
(``summary.ci``: trials and requests resampled, see ``loadtest/intervals.py``), plus the spread
between server sessions (``slo.session_spread_pct``, measured by ``bench/aa_calibration.py``):
the two sides always ran on different server sessions, which trials within one session cannot
see. The verdict is one of four:

- ``faster`` when the interval lies above 1 **and** the ratio exceeds 1 + margin (``slower``
  mirrored): a difference that is both real and large enough to matter;
- ``equivalent`` when the whole interval lies inside [1 − margin, 1 + margin]: whatever the
  truth is, it is within the margin (two one-sided tests, each at 2.5 %);
- ``inconclusive`` otherwise: the data cannot tell yet, and :func:`trials_to_decide` says about
  how many more trials would.

A side without an interval (a single trial) is taken to be as noisy as the other side; with
neither, the session spread alone makes the interval, and with no spread either, the margin
alone decides (the comparison then says it had no interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qexplore.loadtest.metrics import LevelSummary
from qexplore.results.formats import sig3

Z = 1.959964  # two-sided 95 %
LOWER_IS_BETTER = ("ttft_ms.", "tpot_ms.", "itl_ms.", "e2e_ms.")


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


def compare_speed(reference: LevelSummary, other: LevelSummary, figure: str, margin: float,
                  session_spread: float = 0.0) -> SpeedComparison:
    """``other`` against ``reference`` on one figure, the two measured on different server
    sessions. ``margin`` and ``session_spread`` are fractions (0.1 = 10 %); the spread is the
    standard deviation of one session's log speed about the machine's, which each side adds to
    the variance of the log ratio on top of its own interval."""
    a, b = reference.value(figure), other.value(figure)
    if a is None or b is None or a <= 0 or b <= 0:
        return SpeedComparison(figure, None, None, None, "unknown")
    lower_better = figure.startswith(LOWER_IS_BETTER)
    ratio = a / b if lower_better else b / a
    se_a, se_b = log_se(a, reference.interval(figure)), log_se(b, other.interval(figure))
    se_a, se_b = se_a if se_a is not None else se_b, se_b if se_b is not None else se_a
    if se_a is None and not session_spread:
        return SpeedComparison(figure, ratio, None, None, _verdict(ratio, ratio, ratio, margin))
    half = Z * math.hypot(se_a or 0.0, se_b or 0.0, math.sqrt(2) * math.log1p(session_spread))
    lo, hi = ratio * math.exp(-half), ratio * math.exp(half)
    return SpeedComparison(figure, ratio, lo, hi, _verdict(ratio, lo, hi, margin))


def _verdict(ratio: float, lo: float, hi: float, margin: float) -> str:
    if lo > 1 and ratio > 1 + margin:
        return "faster"
    if hi < 1 and ratio < 1 - margin:
        return "slower"
    if lo >= 1 - margin and hi <= 1 + margin:
        return "equivalent"
    return "inconclusive"


def trials_to_decide(reference: LevelSummary, other: LevelSummary, figure: str, margin: float,
                     session_spread: float = 0.0) -> int | None:
    """About how many more trials per side would decide the comparison of ``other`` with
    ``reference`` on ``figure``: see :func:`more_trials`."""
    c = compare_speed(reference, other, figure, margin, session_spread)
    return more_trials(c, min(reference.trials, other.trials), margin, session_spread)


def more_trials(c: SpeedComparison, trials: int, margin: float, session_spread: float = 0.0
                ) -> int | None:
    """About how many more trials per side would decide an ``inconclusive`` comparison that
    rests on ``trials`` trials a side, were the ratio to stay where it is: the trials' share of
    the log ratio's variance shrinks as 1/n, the spread between server sessions does not. 0 when
    it is decided; None when no number of trials can decide it (the session spread alone is
    wider than the room the ratio leaves, or the ratio sits on the margin's edge)."""
    if c.verdict != "inconclusive":
        return 0
    assert c.ratio is not None and c.lo is not None and c.hi is not None
    log_r = math.log(c.ratio)
    inside = math.log1p(-margin) < log_r < math.log1p(margin)
    # the half-width that would decide it: inside the margin, the room to its nearer edge;
    # beyond it, the distance from 1 (the interval must exclude 1)
    room = min(math.log1p(margin) - log_r, log_r - math.log1p(-margin)) if inside else abs(log_r)
    spread = 2 * math.log1p(session_spread) ** 2
    trial_var = max(0.0, (math.log(c.hi / c.lo) / (2 * Z)) ** 2 - spread)
    n = max(1, trials)
    budget = (room / Z) ** 2 - spread
    if room <= 0 or budget <= 0 or trial_var == 0:
        return None
    return max(1, math.ceil(n * trial_var / budget) - n)
