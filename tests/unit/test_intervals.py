"""A level in trials: pooled rates over the trials' own time, and honest intervals."""

from __future__ import annotations

import random

import pytest
from pytest import approx

from qexplore.loadtest.intervals import bootstrap, rate_interval, summarize_trials, t_interval
from qexplore.loadtest.records import RequestRecord

pytestmark = pytest.mark.unit


def request(i: int, start: float, e2e: float, tokens: int = 10, trial: int = 0) -> RequestRecord:
    times = [e2e * (k + 1) / tokens for k in range(tokens)]
    return RequestRecord(1, i, start, start + e2e, times[0], tokens, chunk_times=times)


def test_rates_use_each_trials_own_time_not_the_span_between_them() -> None:
    # Two trials of one 1-s request (10 tokens), 100 s apart (other levels ran in between).
    s = summarize_trials([[request(0, 0.0, 1.0)], [request(1, 100.0, 1.0)]])
    assert (s.trials, s.duration_s, s.output_tps, s.request_tps) == (2, 2.0, 10.0, 1.0)


def test_one_trial_has_no_interval() -> None:
    s = summarize_trials([[request(i, i, 1.0) for i in range(5)]])
    assert s.ci == {} and s.interval("output_tps") is None


def test_t_interval_by_hand() -> None:
    # mean 12, sd 2, n 3: t(0.975, 2) = 4.303 (any t table), half-width 4.303 × 2 / √3 = 4.969
    lo, hi = t_interval([10.0, 12.0, 14.0])
    assert (lo, hi) == (approx(7.031, abs=1e-3), approx(16.969, abs=1e-3))


def test_intervals_cover_the_point_estimates_and_widen_with_trial_spread() -> None:
    steady = [[request(i, 10 * t + i, 1.0) for i in range(8)] for t in range(3)]
    drifting = [[request(i, 10 * t + i, 1.0 + t) for i in range(8)] for t in range(3)]
    a, b = summarize_trials(steady), summarize_trials(drifting)
    for s in (a, b):
        for figure, (lo, hi) in s.ci.items():
            assert lo <= s.value(figure) <= hi, figure  # type: ignore[operator]
    width = lambda s, f: s.ci[f][1] - s.ci[f][0]  # noqa: E731
    assert width(a, "e2e_ms.p50") == approx(0) and width(b, "e2e_ms.p50") > 500
    assert width(b, "output_tps") > 0


def test_the_bootstrap_interval_covers_the_true_mean_most_of_the_time() -> None:
    # 100 simulated levels of 3 trials × 16 requests, E2E ~ uniform(1, 3) s: the true mean
    # user tok/s is 10 tokens × E[1/E2E] = 10 × ln(3)/2 = 5.493. A 95 % interval should cover
    # it in most levels (percentile bootstraps of small samples run a little under nominal).
    rng, truth, covered = random.Random(1), 10 * 1.0986 / 2, 0
    for _ in range(100):
        trials = [[request(i, 0.0, rng.uniform(1, 3)) for i in range(16)] for _ in range(3)]
        lo, hi = bootstrap(trials, resamples=100)["user_tps.mean"]
        covered += lo <= truth <= hi
    assert covered / 100 >= 0.85


def test_a_pooled_rate_lies_inside_its_interval_when_trials_differ_in_length() -> None:
    # 10 tokens in 1 s, then 10 tokens in 4 s: the pooled rate is 20 / 5 = 4 tok/s, while the
    # plain mean of the trials' rates is 6.25.
    s = summarize_trials([[request(0, 0.0, 1.0)], [request(1, 10.0, 4.0)]])
    lo, hi = s.ci["output_tps"]
    assert s.output_tps == approx(4.0) and lo <= 4.0 <= hi


def test_a_rate_interval_never_reaches_below_zero() -> None:
    # The demo's W8A8 level on an AVX-512 CPU: trials of 484, 2,482 and 2,463 tok/s (one beside
    # a busy neighbour) gave 1,043.3 [-1,808.9, 3,895.5] as a plain t-interval.
    # On the log scale: logs 6.182, 7.817, 7.809, mean 7.269, sd 0.942; t(0.975, 2) = 4.303,
    # half-width 4.303 × 0.942 / √3 = 2.340, so the pooled 1,043.3 × e^∓2.340.
    lo, hi = rate_interval([484.0, 2482.0, 2463.0], 1043.3)
    assert lo == approx(1043.3 * 0.0963, rel=0.01) and hi == approx(1043.3 * 10.38, rel=0.01)
    assert 0 < lo < 1043.3 < hi


def test_a_trial_with_nothing_completed_cuts_the_interval_at_zero() -> None:
    lo, hi = rate_interval([0.0, 10.0, 12.0], 7.0)
    assert lo == 0.0 and hi > 7.0
