"""A level measured in several trials: the pooled summary and a 95 % confidence interval for
each figure.

How the intervals are computed, and why:

- Throughput (output tok/s, req/s) is a property of a whole trial (tokens ÷ the trial's wall
  time), so its interval is a Student-t interval over the per-trial values — on the log scale:
  a rate is positive and noise scales it (a busy neighbour halves a trial, it does not subtract
  a constant), so the interval is a factor either side and never reaches below zero. With few
  trials it is wide, as it should be — two trials cannot pin a rate down.
- Per-request figures (user tok/s mean/p50/p1; TTFT, TPOT and E2E percentiles) come from a
  two-level bootstrap: resample trials with replacement, then requests within each chosen trial,
  and take the percentile interval of the statistic over the pooled resample. Resampling trials
  first carries the spread between trials (drift, a noisy neighbour) into the interval, not only
  the spread between requests; a plain request bootstrap would be too narrow on a shared machine.
- One trial: no interval (None), never a made-up one. ITL percentiles carry none either (a
  request has many gaps; they are not independent draws).

Seeds are fixed, so the same records always give the same intervals.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from qexplore.loadtest.metrics import LevelSummary, RequestSlo, summarize_level, tpot, user_tps
from qexplore.loadtest.records import RequestRecord

Interval = tuple[float, float]
LEVEL = 0.95
RESAMPLES = 1000
# Figures with an interval, by their path in the summary ("ttft_ms.p99": summary.ttft_ms.p99).
PER_REQUEST = ("user_tps.mean", "user_tps.p50", "user_tps.p1", "ttft_ms.p50", "ttft_ms.p99",
               "tpot_ms.p50", "tpot_ms.p99", "e2e_ms.p50", "e2e_ms.p99")
PER_TRIAL = ("output_tps", "request_tps")


def summarize_trials(trials: Sequence[Sequence[RequestRecord]], slo: RequestSlo | None = None
                     ) -> LevelSummary:
    """One summary over every trial's measured requests: percentiles over all of them, rates
    over the trials' summed wall time (trials of different levels are interleaved, so the span
    from the first to the last request is not this level's time), and ``ci`` per figure."""
    slo = slo or RequestSlo()
    parts = [summarize_level(t, slo) for t in trials]
    pooled = summarize_level([r for t in trials for r in t], slo)
    duration = sum(p.duration_s for p in parts)
    tokens = sum(p.output_tps * p.duration_s for p in parts)
    done = sum(p.completed for p in parts)
    pooled.duration_s = duration
    pooled.output_tps = tokens / duration if duration > 0 else 0.0
    pooled.request_tps = done / duration if duration > 0 else 0.0
    pooled.stalls = sum(p.stalls for p in parts)
    pooled.stall_max_ms = max((p.stall_max_ms for p in parts if p.stall_max_ms is not None),
                              default=None)
    pooled.trials = len(parts)
    pooled.ci = intervals(trials, parts, pooled)
    return pooled


def intervals(trials: Sequence[Sequence[RequestRecord]], parts: Sequence[LevelSummary],
              pooled: LevelSummary) -> dict[str, Interval]:
    """The 95 % interval of each figure that has one (none from a single trial)."""
    if len(parts) < 2:
        return {}
    rates = {name: rate_interval([getattr(p, name) for p in parts], getattr(pooled, name))
             for name in PER_TRIAL}
    return rates | bootstrap(trials)


def rate_interval(values: Sequence[float], pooled: float, level: float = LEVEL) -> Interval:
    """A rate's interval from its trials' rates: the t-interval of their logs, as factors
    about the ``pooled`` rate the summary reports (tokens over summed time), so the figure
    always lies inside its own interval and the interval stays above zero. A trial in which
    nothing completed (rate 0) has no log: then the plain t-interval, cut at zero."""
    if min(values) <= 0:
        lo, hi = t_interval(values, level)
        shift = pooled - float(np.mean(values))
        return max(0.0, lo + shift), max(0.0, hi + shift)
    logs = [math.log(v) for v in values]
    lo, hi = t_interval(logs, level)
    centre = float(np.mean(logs))
    return pooled * math.exp(lo - centre), pooled * math.exp(hi - centre)


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student-t interval for the mean of ``values`` (at least two)."""
    from scipy.stats import t

    n = len(values)
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


FIELDS = ("user_tps", "ttft_ms", "tpot_ms", "e2e_ms")


def per_request(r: RequestRecord) -> list[float]:
    """A request's values of :data:`FIELDS` (NaN where undefined, e.g. a failed request's TTFT;
    a failed request's user tok/s is 0, as in the summary)."""
    nan = math.nan
    ok = r.ok and r.e2e is not None
    tp = tpot(r)
    return [user_tps(r), 1000 * r.ttft if ok and r.ttft is not None else nan,
            nan if tp is None else 1000 * tp, 1000 * r.e2e if ok and r.e2e is not None else nan]


def bootstrap(trials: Sequence[Sequence[RequestRecord]], resamples: int = RESAMPLES,
              level: float = LEVEL) -> dict[str, Interval]:
    """Two-level percentile bootstrap of :data:`PER_REQUEST`: trials with replacement, then
    requests within each chosen trial, one resample serving every figure."""
    rng = np.random.default_rng(0)
    tables = [np.array([per_request(r) for r in t], dtype=float) for t in trials]
    qs = sorted({float(n.split(".")[1][1:]) for n in PER_REQUEST if ".p" in n})
    reps = np.full((resamples, len(PER_REQUEST)), np.nan)
    for b in range(resamples):
        picked = [tables[i] for i in rng.integers(0, len(tables), len(tables))]
        rows = np.concatenate([t[rng.integers(0, len(t), len(t))] for t in picked])
        reps[b] = _figures(rows, qs)
    out = {}
    for k, name in enumerate(PER_REQUEST):
        col = reps[:, k][~np.isnan(reps[:, k])]
        if len(col) >= resamples // 2:  # else mostly undefined (TPOT of one-token answers)
            lo, hi = np.percentile(col, [50 * (1 - level), 50 * (1 + level)])
            out[name] = (float(lo), float(hi))
    return out


def _figures(rows: np.ndarray, qs: list[float]) -> list[float]:
    """:data:`PER_REQUEST` of one resample (NaN where a column has no defined value)."""
    with warnings.catch_warnings():  # all-NaN columns (no completed request) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        pct = np.nanpercentile(rows, qs, axis=0)
        mean = np.nanmean(rows, axis=0)
    out = []
    for name in PER_REQUEST:
        field, q = name.split(".")
        c = FIELDS.index(field)
        out.append(float(mean[c]) if q == "mean" else float(pct[qs.index(float(q[1:])), c]))
    return out
