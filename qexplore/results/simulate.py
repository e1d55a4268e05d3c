"""Verdicts drawn from known truths: how often each speed and accuracy verdict comes out when
the truth is set, measured until decided as a sweep measures (``results/rounds.py``) — the
calibration ``bench/verdict_calibration.py`` prints and the tests assert.

Speed: a level's trials are log-normal about the side's true speed, each server session
(round) shifting all of its trials by its own log-normal effect, a share of trials optionally
hit by a busy neighbour (a third of the speed, as this machine shows). Each side's figure is
the geometric mean of its trials with the t-interval of their logs (how ``loadtest/intervals``
gives a rate its interval). Accuracy: per-document paired outcomes, correct or not, with a set
share of documents answered differently and a set true drop, looked at in doubling chunks of
documents.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from qexplore.evaluate.stats import chunk_schedule, paired_test
from qexplore.loadtest.intervals import rate_interval
from qexplore.loadtest.metrics import Latency, LevelSummary, UserTps
from qexplore.results.rounds import standing
from qexplore.results.speed import FIGURE, SpeedRule, compare_speed


@dataclass(frozen=True)
class SpeedWorld:
    """The truth of a speed comparison: the variant's speed ÷ the baseline's, the spread of
    trials within a session and of sessions (standard deviations of the log, as fractions),
    and the share of trials a busy neighbour slows to a third."""

    ratio: float = 1.0
    trial_spread: float = 0.05
    session_spread: float = 0.05
    busy_share: float = 0.0


@dataclass
class Tally:
    """How many simulated comparisons ended in each verdict, and what they spent."""

    verdicts: Counter[str] = field(default_factory=Counter)
    spent: list[int] = field(default_factory=list)  # rounds, or documents, each comparison took

    @property
    def runs(self) -> int:
        return sum(self.verdicts.values())

    def share(self, *verdicts: str) -> float:
        return sum(self.verdicts[v] for v in verdicts) / self.runs

    def line(self) -> str:
        shares = ", ".join(f"{v} {100 * n / self.runs:.1f} %" for v, n in
                           sorted(self.verdicts.items()))
        return f"{shares}; mean spent {np.mean(self.spent):.3g} (max {max(self.spent)})"


def summary(values: list[float]) -> LevelSummary:
    """A level whose slowest-1 % user tok/s is the geometric mean of ``values`` (its trials),
    with the t-interval of their logs."""
    v = math.exp(float(np.mean(np.log(values))))
    lat = Latency(p50=1.0, p90=1.0, p99=1.0)
    return LevelSummary(concurrency=16, sent=len(values), completed=len(values), failed=0,
                        duration_s=1.0, output_tps=v, request_tps=1.0,
                        user_tps=UserTps(mean=v, p50=v, p1=v), ttft_ms=lat, tpot_ms=lat,
                        itl_ms=lat, e2e_ms=lat, error_rate=0.0, goodput=1.0, trials=len(values),
                        ci={FIGURE: rate_interval(values, v)} if len(values) > 1 else {})


def simulate_speed(world: SpeedWorld, rule: SpeedRule, runs: int = 400, seed: int = 0) -> Tally:
    """``runs`` comparisons of a variant with the baseline at one level, each measured round by
    round (``rule.per_session`` trials a side on fresh sessions) until :func:`standing` says it
    is no longer measuring."""
    rng = np.random.default_rng(seed)
    tally = Tally()
    per = rule.per_session or 1
    for _ in range(runs):
        sides: tuple[list[float], list[float]] = ([], [])
        for r in range(1, rule.looks + 1):
            for values, truth in zip(sides, (1.0, world.ratio), strict=True):
                values += _round(rng, world, 100 * truth, per)
            base, other = summary(sides[0]), summary(sides[1])
            c = compare_speed(base, other, FIGURE, rule)
            if standing(c, rule, other.trials, base.trials, (r, r)) != "measuring":
                break
        tally.verdicts[c.verdict] += 1
        tally.spent.append(r)
    return tally


def _round(rng: np.random.Generator, world: SpeedWorld, speed: float, trials: int
           ) -> list[float]:
    """One session's trials of one side."""
    session = rng.normal(0.0, math.log1p(world.session_spread))
    noise = rng.normal(0.0, math.log1p(world.trial_spread), trials)
    busy = np.where(rng.random(trials) < world.busy_share, math.log(3.0), 0.0)
    return [float(x) for x in speed * np.exp(session + noise - busy)]


@dataclass(frozen=True)
class AccuracyWorld:
    """The truth of an accuracy comparison on one task of ``docs`` documents: the baseline's
    accuracy, the variant's true relative drop (0.02: 2 % of the baseline's accuracy), and the
    share of documents the two answer differently."""

    accuracy: float = 0.6
    drop: float = 0.0
    discordant: float = 0.1
    docs: int = 10_000


def simulate_accuracy(world: AccuracyWorld, max_drop: float, first: int = 250, runs: int = 400,
                      seed: int = 0) -> Tally:
    """``runs`` paired evaluations, each looked at after every chunk of
    :func:`chunk_schedule` (from ``first`` documents, doubling) until decided or out of
    documents; every look's test at 5 %/looks."""
    rng = np.random.default_rng(seed)
    p, delta = world.accuracy, world.drop * world.accuracy
    lost, won = (world.discordant + delta) / 2 / p, (world.discordant - delta) / 2 / (1 - p)
    schedule = chunk_schedule(first, world.docs)
    tally = Tally()
    for _ in range(runs):
        base = rng.random(world.docs) < p
        flip = rng.random(world.docs) < np.where(base, lost, won)
        xs, ys = base.astype(float).tolist(), (base ^ flip).astype(float).tolist()
        for n in schedule:
            x, y = dict(zip(range(n), xs[:n], strict=True)), dict(zip(range(n), ys[:n],
                                                                      strict=True))
            c = paired_test("acc", None, None, x, y, True, True, max_drop, looks=len(schedule))
            if c.verdict != "inconclusive":
                break
        tally.verdicts[c.verdict] += 1
        tally.spent.append(n)
    return tally
