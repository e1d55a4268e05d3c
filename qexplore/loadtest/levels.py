"""Closed-loop levels (N users, each sending its next request when the last one ends) and
open-loop levels (Poisson arrivals at a rate), on one event loop and one connection pool."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from qexplore.loadtest.client import Endpoint, payload, send
from qexplore.loadtest.records import RequestRecord


@dataclass(frozen=True)
class LevelPlan:
    """One level: ``concurrency`` closed-loop users, or Poisson arrivals at ``rate`` req/s
    with at most ``concurrency`` in flight."""

    concurrency: int
    requests: int
    warmup: int = 0
    rate: float | None = None
    trial: int = 0

    @property
    def key(self) -> tuple[int, float | None]:
        """The level this plan is a trial of."""
        return self.concurrency, self.rate


def level_plans(users: Sequence[int], requests: int | Callable[[int], int],
                warmup: int | None = None,
                rates: Sequence[float] = (), trials: Sequence[int] = (0,),
                skip: Collection[tuple[int, float | None, int]] = ()) -> list[LevelPlan]:
    """Closed-loop levels at each user count — or, given ``rates``, open-loop levels at each
    rate with the largest user count in flight — once per trial, trials interleaved (every
    level's first trial, then every level's second…), leaving out the (users, rate, trial)
    in ``skip``. ``requests`` per trial: a number, or one per user count. Warm-up (``warmup``
    requests, by default one per user) comes before a level's first trial here only: the
    server has seen its batch sizes after that."""
    per_level = requests if callable(requests) else (lambda _u: requests)
    shapes = [(max(users), r) for r in rates] if rates else [(u, None) for u in users]
    plans, warmed = [], set()
    for t in trials:
        for u, r in shapes:
            if (u, r, t) in skip:
                continue
            warm = 0 if (u, r) in warmed else (u if warmup is None else warmup)
            warmed.add((u, r))
            plans.append(LevelPlan(u, per_level(u), warm, r, t))
    return plans


@dataclass(frozen=True)
class RequestShape:
    prompts: Sequence[Any]
    max_tokens: int
    ignore_eos: bool = False
    temperature: float = 0.0
    seed: int = 0


@dataclass
class Progress:
    level: LevelPlan
    done: int = 0
    failed: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def tokens_per_s(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.tokens / elapsed if elapsed > 0 else 0.0


class Sampler(Protocol):
    """Collects server telemetry while a level runs (see :mod:`qexplore.serve.telemetry`)."""

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event,
                  ready: asyncio.Event) -> dict[str, Any] | None:
        """Sample until ``stop``; set ``ready`` once the baseline sample is taken."""
        ...


OnProgress = Callable[[Progress], None]
Check = Callable[[], None]


@dataclass
class LevelRun:
    """One measured level (a trial of it): its requests, the server's telemetry around it and
    the client's own CPU seconds while its requests ran (all the client's threads)."""

    records: list[RequestRecord]
    telemetry: dict[str, Any] | None = None
    client_cpu_s: float | None = None


async def run_levels(
    target: Endpoint, shape: RequestShape, levels: Sequence[LevelPlan],
    on_progress: OnProgress | None = None, sampler: Sampler | None = None,
    check: Check | None = None, on_level: Callable[[LevelPlan, LevelRun], None] | None = None,
) -> list[LevelRun]:
    """Run each level in order; returns each one's measured run.

    ``check`` is called before each level (e.g. to raise if the server died: requests to a dead
    server are recorded as connection errors, then the next level does not start); ``on_level``
    gets each level's results as soon as it ends, so nothing measured is lost.
    """
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    out = []
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        prompts = itertools.cycle(_shuffled(shape))
        for lv in levels:
            if check:
                check()
            result = await _run_level(session, target, shape, lv, prompts, t0, on_progress,
                                      sampler)
            if on_level:
                on_level(lv, result)
            out.append(result)
    return out


def _shuffled(shape: RequestShape) -> list[Any]:
    items = list(shape.prompts)
    random.Random(shape.seed).shuffle(items)
    return items


async def _run_level(session: aiohttp.ClientSession, target: Endpoint, shape: RequestShape,
                     lv: LevelPlan, prompts: itertools.cycle[Any], t0: float,
                     on_progress: OnProgress | None, sampler: Sampler | None) -> LevelRun:
    def body() -> dict[str, Any]:
        return payload(target, next(prompts), shape.max_tokens, shape.ignore_eos, shape.temperature)

    if lv.warmup:
        warm = LevelPlan(min(lv.concurrency, lv.warmup), lv.warmup)
        await _closed_loop(session, target, warm, body, t0, None)
    stop, ready = asyncio.Event(), asyncio.Event()
    telemetry = asyncio.create_task(sampler.run(session, stop, ready)) if sampler else None
    if telemetry:
        await ready.wait()  # the baseline sample is taken before any measured request
    try:
        run = _open_loop if lv.rate else _closed_loop
        cpu = time.process_time()
        records = await run(session, target, lv, body, t0, on_progress)
        cpu = time.process_time() - cpu
    finally:
        stop.set()
    return LevelRun(records, await telemetry if telemetry else None, cpu)


async def _closed_loop(session: aiohttp.ClientSession, target: Endpoint, lv: LevelPlan,
                       body: Callable[[], dict[str, Any]], t0: float,
                       on_progress: OnProgress | None) -> list[RequestRecord]:
    counter = itertools.count()
    records: list[RequestRecord] = []
    progress = Progress(lv)

    async def user() -> None:
        while (i := next(counter)) < lv.requests:
            rec = await send(session, target, body(),
                             RequestRecord(lv.concurrency, i, 0.0, trial=lv.trial), t0)
            records.append(rec)
            _advance(progress, rec, on_progress)

    await asyncio.gather(*(user() for _ in range(lv.concurrency)))
    return sorted(records, key=lambda r: r.index)


async def _open_loop(session: aiohttp.ClientSession, target: Endpoint, lv: LevelPlan,
                     body: Callable[[], dict[str, Any]], t0: float,
                     on_progress: OnProgress | None) -> list[RequestRecord]:
    assert lv.rate is not None
    rng = random.Random(int(lv.rate * 1000) + 7919 * lv.trial)  # each trial its own arrivals
    slots = asyncio.Semaphore(lv.concurrency)
    progress = Progress(lv)
    records: list[RequestRecord] = []

    async def one(i: int) -> None:
        arrived = time.perf_counter()
        async with slots:  # the client's cap on requests in flight: arrivals may queue here
            queued = time.perf_counter() - arrived
            rec = await send(session, target, body(), RequestRecord(
                lv.concurrency, i, 0.0, rate=lv.rate, queued=queued, trial=lv.trial), t0)
        records.append(rec)
        _advance(progress, rec, on_progress)

    tasks: list[Awaitable[None]] = []
    for i in range(lv.requests):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(rng.expovariate(lv.rate))
    await asyncio.gather(*tasks)
    return sorted(records, key=lambda r: r.index)


def _advance(progress: Progress, rec: RequestRecord, on_progress: OnProgress | None) -> None:
    progress.done += 1
    progress.failed += not rec.ok
    progress.tokens += rec.output_tokens
    if on_progress:
        on_progress(progress)
