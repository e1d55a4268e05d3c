"""Serving metrics as pure functions over raw request records — the product's contract.

Per request (completed requests only):
    ttft      send → first token-bearing chunk
    e2e       send → last byte
    user_tps  output_tokens / e2e  (TTFT included: the rate a person feels)
    tpot      (e2e − ttft) / (output_tokens − 1), undefined for a single output token
    itl       gaps between consecutive token-bearing chunks

Per level (``sent`` = every measured request, failed ones included):
    duration_s      first send → last end among the level's requests
    output_tps      Σ output tokens of completed requests / duration_s
    request_tps     completed requests / duration_s
    user_tps        mean, p50 and p1 (the slowest 1 %) over *all sent* requests, a failed
                    request counting as a user who got 0 tok/s — failures never vanish
    ttft/tpot/itl/e2e  p50, p90, p99 in milliseconds over completed requests
    queue           open loop only: p50/p90/p99 ms an arrival waited for a free slot under the
                    client's cap on requests in flight (kept apart, as vLLM's bench does)
    stalls          the longest gap between token arrivals across all users (first to last
                    token) and the number of gaps over 1 s: a level with one is "unstable"
    failed, error_rate = failed / sent
    goodput         share of sent requests that completed and met the SLO
Capacity: the largest level whose slowest-1 % user_tps ≥ the SLO floor with no errors (and,
with a TTFT ceiling, TTFT p99 at most the ceiling).

Percentiles interpolate linearly between order statistics (numpy's default, as vLLM's own
benchmark does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from qexplore.loadtest.records import RequestRecord


@dataclass(frozen=True)
class RequestSlo:
    min_user_tps: float = 10.0
    max_ttft_ms: float | None = None


def user_tps(r: RequestRecord) -> float:
    """Output tokens per second of the whole request as its user felt it (0 if it failed)."""
    e2e = r.e2e
    if not r.ok or not e2e or e2e <= 0:
        return 0.0
    return r.output_tokens / e2e


def tpot(r: RequestRecord) -> float | None:
    """Time per output token after the first; None with fewer than two tokens."""
    if not r.ok or r.ttft is None or r.e2e is None or r.output_tokens < 2:
        return None
    return (r.e2e - r.ttft) / (r.output_tokens - 1)


def itls(r: RequestRecord) -> list[float]:
    """Gaps between consecutive token-bearing chunks."""
    t = r.chunk_times
    return [b - a for a, b in pairwise(t)] if r.ok else []


def meets_slo(r: RequestRecord, slo: RequestSlo) -> bool:
    if not r.ok or user_tps(r) < slo.min_user_tps:
        return False
    return slo.max_ttft_ms is None or (r.ttft is not None and r.ttft * 1000 <= slo.max_ttft_ms)


def percentiles(values: Sequence[float], qs: Sequence[float], scale: float = 1.0
                ) -> dict[str, float | None]:
    """``{"p50": …}`` for each q; None for every q when there are no values."""
    arr = np.asarray(values, dtype=float)
    return {f"p{q:g}": (float(np.percentile(arr, q)) * scale if arr.size else None) for q in qs}


class UserTps(BaseModel):
    """Per-user tok/s over all sent requests: mean, median and the slowest 1 %."""

    mean: float
    p50: float | None
    p1: float | None


class Latency(BaseModel):
    """A latency distribution in milliseconds (None when no request completed)."""

    p50: float | None
    p90: float | None
    p99: float | None


class LevelSummary(BaseModel):
    """One measured level; its JSON form (``as_dict``) is what the store and ``--json`` hold."""

    concurrency: int
    sent: int
    completed: int
    failed: int
    duration_s: float
    output_tps: float
    request_tps: float
    user_tps: UserTps
    ttft_ms: Latency
    tpot_ms: Latency
    itl_ms: Latency
    e2e_ms: Latency
    error_rate: float
    goodput: float
    errors: dict[str, int] = Field(default_factory=dict)
    rate: float | None = None
    telemetry: dict[str, Any] | None = None
    queue_ms: Latency | None = None  # open loop: waits for a free slot in the client
    stall_max_ms: float | None = None  # longest time no user got a token (first → last token)
    stalls: int = 0  # token gaps over STALL_S seconds: the machine stopped serving everyone
    # the load generator's own CPU seconds over the measured requests (all its threads): beside
    # ``duration_s``, how close the client came to being the bottleneck
    client_cpu_s: float | None = None
    trials: int = 1  # trials pooled into this summary
    ci: dict[str, tuple[float, float]] = Field(default_factory=dict)  # 95 % intervals by figure

    def interval(self, figure: str) -> tuple[float, float] | None:
        """The 95 % interval of a figure ("output_tps", "user_tps.p1", …), if it has one."""
        return self.ci.get(figure)

    def value(self, figure: str) -> float | None:
        """A figure by its path: "output_tps" or "user_tps.p1"."""
        head, _, tail = figure.partition(".")
        v = getattr(self, head)
        out: float | None = getattr(v, tail) if tail else v
        return out

    @property
    def unstable(self) -> bool:
        return self.stalls > 0

    @property
    def client_cpu_pct(self) -> float | None:
        """The load generator's CPU use over the level, in % of one core."""
        if self.client_cpu_s is None or self.duration_s <= 0:
            return None
        return 100 * self.client_cpu_s / self.duration_s

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


LATENCY_QS = (50, 90, 99)
STALL_S = 1.0


def stall_gaps(records: Sequence[RequestRecord]) -> list[float]:
    """Gaps between consecutive token arrivals across all of a level's users, from the first
    token to the last: a long one means nobody got a token (a stall, not a slow user)."""
    arrivals = sorted(r.start + t for r in records for t in r.chunk_times)
    return [b - a for a, b in pairwise(arrivals)]


def _latency(seconds: Sequence[float]) -> Latency:
    return Latency(**percentiles(seconds, LATENCY_QS, 1000))


def summarize_level(records: Sequence[RequestRecord], slo: RequestSlo = RequestSlo()) -> LevelSummary:
    """The level's summary. ``records`` are its measured requests (no warm-up)."""
    if not records:
        raise ValueError("a level needs at least one request")
    done = [r for r in records if r.ok]
    ends = [r.end for r in records if r.end is not None]
    duration = (max(ends) if ends else 0.0) - min(r.start for r in records)
    per_s = (lambda x: x / duration) if duration > 0 else (lambda x: 0.0)
    utps = [user_tps(r) for r in records]
    errors: dict[str, int] = {}
    for r in records:
        if r.error:
            kind = r.error.split(":", 1)[0]
            errors[kind] = errors.get(kind, 0) + 1
    return LevelSummary(
        concurrency=records[0].concurrency,
        sent=len(records),
        completed=len(done),
        failed=len(records) - len(done),
        duration_s=duration,
        output_tps=per_s(sum(r.output_tokens for r in done)),
        request_tps=per_s(len(done)),
        user_tps=UserTps(mean=float(np.mean(utps)), **percentiles(utps, (50, 1))),
        ttft_ms=_latency([r.ttft for r in done if r.ttft is not None]),
        tpot_ms=_latency([t for r in done if (t := tpot(r)) is not None]),
        itl_ms=_latency([g for r in done for g in itls(r)]),
        e2e_ms=_latency([r.e2e for r in done if r.e2e is not None]),
        error_rate=(len(records) - len(done)) / len(records),
        goodput=sum(meets_slo(r, slo) for r in records) / len(records),
        errors=errors,
        rate=records[0].rate,
        queue_ms=_latency([r.queued for r in records]) if records[0].rate else None,
        **_stalls(stall_gaps(records)),
    )


def _stalls(gaps: list[float]) -> dict[str, Any]:
    return {"stall_max_ms": 1000 * max(gaps) if gaps else None,
            "stalls": sum(g > STALL_S for g in gaps)}


@dataclass(frozen=True)
class Capacity:
    users: int | None  # the largest measured level meeting the SLO, None if none does
    next_level: int | None  # the first measured level above it, which fails the SLO
    note: str


def capacity_at(levels_p1: Mapping[int, float | None], floor: float) -> int | None:
    """The capacity rule: the largest user count whose slowest-1 % user tok/s reaches
    ``floor``. ``levels_p1`` maps users → p1, None for a level with errors (never passes)."""
    passing = [int(u) for u, p in levels_p1.items() if p is not None and p >= floor]
    return max(passing) if passing else None


def levels_p1(levels: Sequence[LevelSummary], max_ttft_ms: float | None = None
              ) -> dict[int, float | None]:
    """Closed-loop levels as users → slowest-1 % user tok/s; None where requests failed or
    TTFT p99 is above ``max_ttft_ms`` (such a level never passes the SLO)."""
    return {lv.concurrency: (lv.user_tps.p1 if lv.failed == 0 and within_ttft(lv, max_ttft_ms)
                             else None)
            for lv in levels if lv.rate is None}


def within_ttft(lv: LevelSummary, max_ttft_ms: float | None) -> bool:
    """Whether the level's TTFT p99 is within the ceiling (always, without one)."""
    return max_ttft_ms is None or (lv.ttft_ms.p99 is not None and lv.ttft_ms.p99 <= max_ttft_ms)


def capacity(levels: Sequence[LevelSummary], slo: RequestSlo = RequestSlo()) -> Capacity:
    """:func:`capacity_at` the SLO floor, with the next measured level and a sentence."""
    ordered = sorted((lv for lv in levels if lv.rate is None), key=lambda lv: lv.concurrency)
    best = capacity_at(levels_p1(ordered, slo.max_ttft_ms), slo.min_user_tps)
    above = [lv.concurrency for lv in ordered if best is None or lv.concurrency > best]
    nxt = min(above) if above else None
    if best is None:
        note = (f"no measured level meets {slo.min_user_tps:g} tok/s per user"
                + (f" (not even {ordered[0].concurrency} users)" if ordered else ""))
    elif nxt is None:
        note = f"all measured levels meet the SLO; capacity is at least {best} users"
    else:
        note = f"between {best} and {nxt} users: {best} meets the SLO, {nxt} does not"
    return Capacity(best, nxt, note)
