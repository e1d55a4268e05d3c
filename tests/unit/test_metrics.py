"""Every metric against numbers worked out by hand (in the comments) from tiny records."""

from __future__ import annotations

import pytest

from qexplore.loadtest.metrics import (
    Latency,
    LevelSummary,
    RequestSlo,
    UserTps,
    capacity,
    itls,
    summarize_level,
    tpot,
    user_tps,
)
from qexplore.loadtest.records import RequestRecord

pytestmark = pytest.mark.unit
approx = pytest.approx


def r1() -> RequestRecord:
    # sent at 0.0, first token 0.5 s later, 4 tokens in 4 chunks, done at 2.0
    return RequestRecord(2, 0, start=0.0, end=2.0, ttft=0.5, output_tokens=4,
                         chunk_times=[0.5, 1.0, 1.5, 2.0])


def r2() -> RequestRecord:
    # sent at 0.5, first token after 1.0 s, 6 tokens in 5 chunks (the last carries two), end 3.0
    return RequestRecord(2, 1, start=0.5, end=3.0, ttft=1.0, output_tokens=6,
                         chunk_times=[1.0, 1.3, 1.6, 2.0, 2.5])


def failed() -> RequestRecord:
    return RequestRecord(2, 2, start=0.2, end=1.0, error="HTTP 500: injected failure")


def test_per_request_metrics() -> None:
    assert user_tps(r1()) == approx(2.0)         # 4 tokens / 2.0 s
    assert user_tps(r2()) == approx(2.4)         # 6 / 2.5
    assert tpot(r1()) == approx(0.5)             # (2.0 − 0.5) / 3
    assert tpot(r2()) == approx(0.3)             # (2.5 − 1.0) / 5
    assert itls(r2()) == approx([0.3, 0.3, 0.4, 0.5])
    assert user_tps(failed()) == 0.0 and tpot(failed()) is None and itls(failed()) == []


def test_level_of_two_completed_requests() -> None:
    s = summarize_level([r1(), r2()], RequestSlo(min_user_tps=2.2))
    assert (s.concurrency, s.sent, s.completed, s.failed) == (2, 2, 2, 0)
    assert s.duration_s == approx(3.0)           # first send 0.0 → last end 3.0
    assert s.output_tps == approx(10 / 3)        # (4 + 6) tokens / 3 s
    assert s.request_tps == approx(2 / 3)
    assert s.user_tps.model_dump() == approx({"mean": 2.2, "p50": 2.2, "p1": 2.004})  # 2.0 + 0.01 × 0.4
    assert s.ttft_ms.model_dump() == approx({"p50": 750, "p90": 950, "p99": 995})
    assert s.tpot_ms.p50 == approx(400)
    # gaps 0.5 0.5 0.5 | 0.3 0.3 0.4 0.5 → sorted .3 .3 .4 .5 .5 .5 .5; p50 = 4th = 0.5
    assert s.itl_ms.p50 == approx(500)
    assert s.itl_ms.p90 == approx(500)
    assert s.e2e_ms.p50 == approx(2250)
    assert s.goodput == approx(0.5)              # only r2 reaches 2.2 tok/s
    assert (s.error_rate, s.errors) == (0.0, {})


def test_a_failed_request_stays_in_the_denominators() -> None:
    s = summarize_level([r1(), failed()])
    assert (s.sent, s.completed, s.failed, s.error_rate) == (2, 1, 1, 0.5)
    assert s.errors == {"HTTP 500": 1}
    assert s.duration_s == approx(2.0)
    assert s.output_tps == approx(2.0)           # 4 tokens / 2 s; the failure adds none
    assert s.request_tps == approx(0.5)
    assert s.user_tps.model_dump() == approx({"mean": 1.0, "p50": 1.0, "p1": 0.02})  # the failure is 0 tok/s
    assert s.ttft_ms.p50 == approx(500)       # latency over completed requests only
    assert s.goodput == 0.0                      # SLO 10 tok/s: nobody


def test_a_one_token_request_has_no_tpot_or_itl() -> None:
    one = RequestRecord(1, 0, start=0.0, end=0.25, ttft=0.25, output_tokens=1, chunk_times=[0.25])
    s = summarize_level([one])
    assert s.user_tps.p50 == approx(4.0)     # 1 token / 0.25 s
    assert s.tpot_ms == Latency(p50=None, p90=None, p99=None)
    assert s.itl_ms == Latency(p50=None, p90=None, p99=None)
    assert s.ttft_ms.p99 == approx(250)


def test_a_level_where_every_request_failed() -> None:
    s = summarize_level([failed(), RequestRecord(2, 3, start=0.0, end=30.0, error="timeout")])
    assert (s.completed, s.failed, s.error_rate, s.goodput) == (0, 2, 1.0, 0.0)
    assert (s.output_tps, s.request_tps) == (0.0, 0.0)
    assert s.user_tps == UserTps(mean=0.0, p50=0.0, p1=0.0)
    assert s.ttft_ms.p50 is None and s.e2e_ms.p99 is None
    assert s.errors == {"HTTP 500": 1, "timeout": 1}


def test_ttft_ceiling_in_goodput() -> None:
    assert summarize_level([r1(), r2()], RequestSlo(1.0, max_ttft_ms=600)).goodput == approx(0.5)


def level(users: int, p1: float, failed: int = 0) -> LevelSummary:
    s = summarize_level([r1()])
    s.concurrency, s.failed = users, failed
    s.user_tps = UserTps(mean=p1, p50=p1, p1=p1)
    return s


@pytest.mark.parametrize(
    ("levels", "users", "note"),
    [
        ([(1, 30), (4, 22), (16, 12)], 4, "between 4 and 16 users: 4 meets the SLO, 16 does not"),
        ([(1, 30), (4, 22)], 4, "all measured levels meet the SLO; capacity is at least 4 users"),
        ([(1, 15), (4, 5)], None, "no measured level meets 20 tok/s per user (not even 1 users)"),
        ([(1, 30), (4, 25, 1), (16, 12)], 1, "between 1 and 4 users: 1 meets the SLO, 4 does not"),
    ],
)
def test_capacity(levels: list[tuple[int, ...]], users: int | None, note: str) -> None:
    cap = capacity([level(*lv) for lv in levels], RequestSlo(min_user_tps=20))
    assert (cap.users, cap.note) == (users, note)


def test_a_window_where_nobody_gets_a_token_is_a_stall() -> None:
    # Two users. Tokens every 0.1 s, except 2.0 → 3.5 s, when neither gets one: one stall of
    # 1.5 s. User b's own 0.6 s gap (3.6 → 4.2) is covered by user a's tokens: no stall.
    a = RequestRecord(2, 0, start=0.0, end=5.0, ttft=0.1, output_tokens=40,
                      chunk_times=[round(0.1 * k, 1) for k in range(1, 21)]
                      + [round(3.5 + 0.1 * k, 1) for k in range(0, 16)])
    b = RequestRecord(2, 1, start=1.0, end=4.3, ttft=0.05, output_tokens=5,
                      chunk_times=[0.05, 0.55, 2.6, 3.2, 3.3])
    s = summarize_level([a, b])
    assert s.stalls == 1 and s.unstable
    assert s.stall_max_ms == approx(1500)
    steady = summarize_level([r1(), r2()])
    assert steady.stalls == 0 and not steady.unstable
