"""Speed verdicts: faster or slower only beyond both the noise and the practical margin."""

from __future__ import annotations

import math

import pytest
from pytest import approx

from qexplore.loadtest.metrics import Latency, LevelSummary, UserTps
from qexplore.results.speed import SpeedRule, compare_speed, log_se, rounds_to_decide

pytestmark = pytest.mark.unit

TEN = SpeedRule(0.1)  # a 10 % margin, no session spread, one look


def level(p1: float, ci: tuple[float, float] | None = None, ttft: float = 100.0,
          ttft_ci: tuple[float, float] | None = None) -> LevelSummary:
    lat = Latency(p50=ttft, p90=ttft, p99=ttft)
    return LevelSummary(concurrency=4, sent=48, completed=48, failed=0, duration_s=10,
                        output_tps=100.0, request_tps=4.8, user_tps=UserTps(mean=p1, p50=p1, p1=p1),
                        ttft_ms=lat, tpot_ms=lat, itl_ms=lat, e2e_ms=lat, error_rate=0, goodput=1,
                        ci={k: v for k, v in (("user_tps.p1", ci), ("ttft_ms.p99", ttft_ci)) if v})


def test_log_se_reads_a_95_percent_interval() -> None:
    # ln(12) - ln(8) = 0.405 spans 2 × 1.96 standard errors
    assert log_se(10, (8, 12)) == approx(0.4055 / 3.92, rel=1e-3)
    assert log_se(10, (-1, 12)) == approx(0.1823 / 1.96, rel=1e-3)  # upper half only
    assert log_se(10, None) is None


def test_noise_reaching_past_the_margin_is_inconclusive_not_same() -> None:
    # ±5 % on each side: the ratio's interval [0.96, 1.11] reaches past 1.1, so the data
    # cannot say the two are within 10 % of each other, nor that they differ
    c = compare_speed(level(10, (9.5, 10.5)), level(10.3, (9.8, 10.8)), "user_tps.p1", TEN)
    assert c.verdict == "inconclusive" and c.lo < 1 < c.hi and c.hi > 1.1  # type: ignore[operator]


def test_an_interval_inside_the_margin_is_equivalent() -> None:
    c = compare_speed(level(10, (9.8, 10.2)), level(10.2, (10.0, 10.4)), "user_tps.p1", TEN)
    assert c.verdict == "equivalent" and 0.9 <= c.lo < 1 < c.hi <= 1.1  # type: ignore[operator]


def test_a_clear_gain_beyond_the_margin_is_faster() -> None:
    c = compare_speed(level(10, (9.5, 10.5)), level(13, (12.5, 13.5)), "user_tps.p1", TEN)
    assert (c.verdict, c.ratio) == ("faster", approx(1.3))
    assert 1 < c.lo < 1.3 < c.hi  # type: ignore[operator]


def test_significant_but_smaller_than_the_margin_is_equivalent() -> None:
    c = compare_speed(level(10, (9.95, 10.05)), level(10.8, (10.75, 10.85)), "user_tps.p1", TEN)
    assert c.lo > 1 and c.hi < 1.1 and c.verdict == "equivalent"  # type: ignore[operator]
    assert compare_speed(level(10, (9.95, 10.05)), level(10.8, (10.75, 10.85)), "user_tps.p1",
                         SpeedRule(0.05)).verdict == "faster"


def test_without_intervals_the_margin_alone_decides() -> None:
    c = compare_speed(level(10), level(12), "user_tps.p1", TEN)
    assert (c.verdict, c.lo, c.hi) == ("faster", None, None)
    assert "(no interval)" in c.describe()


def test_latency_is_faster_when_lower() -> None:
    c = compare_speed(level(10, ttft=100, ttft_ci=(95, 105)), level(10, ttft=150, ttft_ci=(140, 160)),
                      "ttft_ms.p99", TEN)
    assert (c.verdict, c.ratio) == ("slower", approx(2 / 3))


def test_the_spread_between_server_sessions_widens_the_interval() -> None:
    # 30 % faster with tight intervals: a difference, unless sessions alone stray by 25 %
    a, b = level(10, (9.9, 10.1)), level(13, (12.9, 13.1))
    assert compare_speed(a, b, "user_tps.p1", TEN).verdict == "faster"
    c = compare_speed(a, b, "user_tps.p1", SpeedRule(0.1, 0.25))
    assert c.verdict == "inconclusive" and c.lo < 1 < c.hi  # type: ignore[operator]
    # no intervals at all: the session spread alone still gives one
    d = compare_speed(level(10), level(30), "user_tps.p1", SpeedRule(0.1, 0.25))
    assert d.verdict == "faster" and d.lo is not None and d.lo > 1


def test_a_side_without_an_interval_is_taken_as_noisy_as_the_other() -> None:
    one_trial, three = level(13), level(10, (9.0, 11.0))
    c = compare_speed(three, one_trial, "user_tps.p1", TEN)
    both = compare_speed(three, level(13, (11.7, 14.3)), "user_tps.p1", TEN)
    assert (c.lo, c.hi) == (approx(both.lo, rel=0.02), approx(both.hi, rel=0.02))


def trials(p1: float, ci: tuple[float, float], n: int) -> LevelSummary:
    return level(p1, ci).model_copy(update={"trials": n})


def test_rounds_to_decide_scale_with_the_interval_and_decide_when_taken() -> None:
    # 30 % slower, 3 trials a side with ±40 % intervals: inconclusive; the interval's trial part
    # shrinks as 1/n, so the estimate, once taken (same ratio, intervals narrowed by
    # sqrt(3 / (3 + more))), decides it
    a, b = trials(10, (6, 14), 3), trials(7, (4.2, 9.8), 3)
    assert compare_speed(a, b, "user_tps.p1", TEN).verdict == "inconclusive"
    # by hand: log-se 0.216 a side, room ln(1/0.7) = 0.357: ceil(3 × 0.0934 / 0.0331) - 3 = 6
    more = rounds_to_decide(a, b, "user_tps.p1", TEN)
    assert more == 6
    k = math.sqrt(3 / (3 + more))
    narrow = lambda x, ci: trials(x, (x * (ci[0] / x) ** k, x * (ci[1] / x) ** k), 3 + more)  # noqa: E731
    assert compare_speed(narrow(10, (6, 14)), narrow(7, (4.2, 9.8)), "user_tps.p1",
                         TEN).verdict == "slower"
    assert rounds_to_decide(a, trials(3, (2.9, 3.1), 3), "user_tps.p1", TEN) == 0  # decided


def test_sessions_share_the_spread_and_looks_widen_the_test() -> None:
    # 6 trials a side: one session (per_session 0) or two rounds of 3 on fresh servers; the
    # session spread's variance ln(1.03)^2 × (1/S + 1/S) halves from one session to two.
    # By hand: 3 % faster; half-widths 0.083 (one session: up to 1.119, past 1.1) and 0.060
    # (two: [0.973, 1.093], inside the margin)
    a, b = trials(10, (9.9, 10.1), 6), trials(10.3, (10.2, 10.4), 6)
    one = compare_speed(a, b, "user_tps.p1", SpeedRule(0.1, 0.03))
    two = compare_speed(a, b, "user_tps.p1", SpeedRule(0.1, 0.03, per_session=3))
    own = (math.log(10.1 / 9.9) ** 2 + math.log(10.4 / 10.2) ** 2) / (2 * 1.959964) ** 2
    half = lambda c: math.log(c.hi / c.lo) / 2  # noqa: E731
    assert half(one) == approx(1.959964 * math.sqrt(own + 2 * math.log(1.03) ** 2), rel=1e-4)
    assert half(two) == approx(1.959964 * math.sqrt(own + math.log(1.03) ** 2), rel=1e-4)
    assert (one.verdict, two.verdict) == ("inconclusive", "equivalent")
    # three planned looks: each at 5 %/3, z = 2.394 (Bonferroni): half-width 0.073, up to
    # 1.108: inconclusive
    three = SpeedRule(0.1, 0.03, looks=3, per_session=3)
    assert three.z == approx(2.3940, abs=1e-4)
    assert compare_speed(a, b, "user_tps.p1", three).verdict == "inconclusive"


def test_more_rounds_on_fresh_servers_shrink_the_session_spread_too() -> None:
    # sessions stray 5 %: 3 trials a side in one session each, 25 % slower, tight trials.
    # Within a session nothing decides it (session variance 2 × 0.04879² stays); rounds on fresh
    # servers do. By hand: need (ln(1/0.75) / 1.96)² = 0.02151; trial var (0.05 / 1.96)² × 2 =
    # 0.0013 (read back as total − session); session 0.00476 → (0.0013·3/(3+3k) +
    # 0.00476/(1+k)): k=1 gives 0.0030 ≤ 0.0215 — but the verdict is slower already
    a, b = trials(10, (10 / 1.05, 10 * 1.05), 3), trials(7.5, (7.5 / 1.05, 7.5 * 1.05), 3)
    assert rounds_to_decide(a, b, "user_tps.p1", SpeedRule(0.1, 0.05, per_session=3)) == 0
    # 5 % faster with the same spread: equivalence needs the room to 1.1, ln(1.1/1.05) =
    # 0.04652, need (0.04652/1.96)² = 0.000563. Trial var 2 × (0.0488/1.96)² = 0.00124,
    # session 0.00476: k rounds give 0.00124/(1+k) + 0.00476/(1+k) ≤ 0.000563 → k = 10
    a, b = trials(10, (10 / 1.05, 10 * 1.05), 3), trials(10.5, (10.5 / 1.05, 10.5 * 1.05), 3)
    rule = SpeedRule(0.1, 0.05, per_session=3)
    assert compare_speed(a, b, "user_tps.p1", rule).verdict == "inconclusive"
    assert rounds_to_decide(a, b, "user_tps.p1", rule) == 10
    assert rounds_to_decide(a, b, "user_tps.p1", SpeedRule(0.1, 0.05)) is None  # one session


def test_no_number_of_trials_decides_what_the_session_spread_hides() -> None:
    # sessions stray 25 %: a 5 % difference can never be shown inside a 10 % margin
    a, b = trials(10, (9, 11), 3), trials(10.5, (9.5, 11.5), 3)
    assert compare_speed(a, b, "user_tps.p1", SpeedRule(0.1, 0.25)).verdict == "inconclusive"
    assert rounds_to_decide(a, b, "user_tps.p1", SpeedRule(0.1, 0.25)) is None
