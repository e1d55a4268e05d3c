"""Measure until decided: after each round of a sweep, where each variant's speed against the
baseline stands at each closed-loop level, and which levels the next round measures again.

A round measures each level ``workloads[].trials`` times, interleaved, on a freshly started
server per variant. A level is measured again (the baseline's and each variant's still
undecided there) while the comparison on slowest-1 % user tok/s is ``inconclusive``, the
variant has had fewer than ``precision.max_rounds`` rounds there, it was measured in every
round the baseline was (a variant once left is not taken up again), and the estimate of
:func:`~qexplore.results.speed.more_rounds` says the rounds left could decide it (a level that
cannot be decided in time is left, not measured in vain: that costs power, never a false
decision). A pair's data changes only in rounds the baseline is measured in, at most
``max_rounds`` looks in all; :class:`~qexplore.results.speed.SpeedRule` holds each look's test
at 5 %/max_rounds, so stopping when decided does not inflate false decisions.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from qexplore.results.run import StoredRun
from qexplore.results.speed import (
    FIGURE,
    SpeedComparison,
    SpeedRule,
    compare_speed,
    more_rounds,
)

Level = tuple[str, int]  # (workload, users)


@dataclass(frozen=True)
class LevelState:
    """One variant at one level against the baseline, after the rounds so far."""

    workload: str
    users: int
    variant: str
    comparison: SpeedComparison
    trials: int  # the variant's there
    base_trials: int
    rounds: int  # the variant's rounds there (server sessions)
    state: str  # decided | measuring | at the maximum | cannot decide in time | left earlier

    @property
    def level(self) -> Level:
        return self.workload, self.users

    def line(self) -> str:
        """"short@16 int8-w8a8: ratio 0.52 [0.31, 0.9] inconclusive after 3 trials (1 round)"."""
        c = self.comparison
        rounds = f"{self.rounds} round{'s' * (self.rounds != 1)}"
        return (f"{self.workload}@{self.users} {self.variant}: {c.ratio_text()} {c.verdict} "
                f"after {self.trials} trials ({rounds}) — {self.state}")


def level_states(run: StoredRun, names: Collection[str] | None = None) -> list[LevelState]:
    """Every measured variant (of ``names``, when given) at every closed-loop level the
    baseline has too."""
    ref = run.reference
    if ref is None or not ref.ok:
        return []
    out = []
    for w in run.recipe.workloads:
        rule = run.speed_rule(w.name)
        base = {s.concurrency: s for s in run.closed_loop(ref.name, w.name)}
        for v in run.variants:
            if v is ref or not v.ok or (names is not None and v.name not in names):
                continue
            for lv in run.closed_loop(v.name, w.name):
                b = base.get(lv.concurrency)
                if b is None:
                    continue
                c = compare_speed(b, lv, FIGURE, rule)
                rounds = rule.sessions(lv)
                out.append(LevelState(w.name, lv.concurrency, v.name, c, lv.trials, b.trials,
                                      rounds, standing(c, rule, lv.trials, b.trials,
                                                       (rule.sessions(b), rounds))))
    return out


def standing(c: SpeedComparison, rule: SpeedRule, trials: int, base_trials: int,
             sessions: tuple[int, int]) -> str:
    """Where a comparison stands after the rounds so far (``sessions``: the baseline's and the
    variant's): decided, measuring (a round more could decide it), at the maximum of rounds,
    or cannot decide in time (the rounds left would not, were the ratio to stay)."""
    if c.verdict != "inconclusive":
        return "decided"
    left = rule.looks - sessions[1]
    if left <= 0:
        return "at the maximum"
    if sessions[1] < sessions[0]:
        return "left earlier"  # the baseline went on without it: its looks are spent
    need = more_rounds(c, rule, min(trials, base_trials), sessions, cap=rule.looks)
    return "measuring" if need is not None and need <= left else "cannot decide in time"


def next_round(run: StoredRun, states: list[LevelState]) -> dict[str, dict[Level, int]]:
    """Per variant (the baseline included), the levels the next round measures and the trials
    each is to have after it: one more round's worth (``workloads[].trials``), never beyond
    ``max_rounds`` of them. Empty when every level is decided or has stopped."""
    ref = run.reference
    measuring = [s for s in states if s.state == "measuring"]
    if ref is None or not measuring:
        return {}
    out: dict[str, dict[Level, int]] = {}
    base = {(w.name, s.concurrency): s.trials for w in run.recipe.workloads
            for s in run.closed_loop(ref.name, w.name)}
    for s in measuring:
        for name, have in ((s.variant, s.trials), (ref.name, base[s.level])):
            target = _next_target(run, s.workload, have)
            if target > have:
                out.setdefault(name, {})[s.level] = target
    return out


def _next_target(run: StoredRun, workload: str, have: int) -> int:
    """The trials a level holding ``have`` has after one more round (a round cut short
    is completed first), at most ``max_rounds`` rounds' worth."""
    per = run.workload(workload).trials
    return min(per * run.recipe.precision.max_rounds, per * (have // per + 1))


def round_seconds(run: StoredRun, plan: dict[str, dict[Level, int]]) -> float:
    """About how long a round of ``plan`` takes: each variant's server start (as long as its
    last one took) and each level's added trials (as long as its trials took so far)."""
    total = 0.0
    for name, levels in plan.items():
        v = run.variant(name)
        total += (v.server.startup_s or 0.0) if v and v.server else 0.0
        have = {(w, s.concurrency): s for w, _ in levels for s in run.closed_loop(name, w)}
        for level, target in levels.items():
            s = have.get(level)
            if s is not None and s.trials:
                total += (target - s.trials) * s.duration_s / s.trials
    return total
