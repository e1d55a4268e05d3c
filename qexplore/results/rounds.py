"""Measure until decided: after each round of a sweep, where each variant's speed against the
baseline stands at each closed-loop level and its accuracy on each task, and which levels and
documents the next round measures.

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

from qexplore.evaluate.stats import Comparison, chunk_schedule, family_verdict
from qexplore.results.run import StoredRun, StoredVariant
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


@dataclass(frozen=True)
class RoundPlan:
    """A later round: per variant, the levels it measures (and the trials each is to have
    after it), and the tasks it evaluates further (each one's range of the seeded order)."""

    levels: dict[str, dict[Level, int]]
    docs: dict[str, dict[str, tuple[int, int]]]

    @property
    def variants(self) -> set[str]:
        return set(self.levels) | set(self.docs)


def round_seconds(run: StoredRun, plan: RoundPlan) -> float:
    """About how long a round of ``plan`` takes: each variant's server start (as long as its
    last one took), each level's added trials (as long as its trials took so far), and each
    task's added documents (as long as its evaluation's documents took so far)."""
    total = 0.0
    for name in plan.variants:
        v = run.variant(name)
        total += (v.server.startup_s or 0.0) if v and v.server else 0.0
        levels = plan.levels.get(name, {})
        have = {(w, s.concurrency): s for w, _ in levels for s in run.closed_loop(name, w)}
        for level, target in levels.items():
            s = have.get(level)
            if s is not None and s.trials:
                total += (target - s.trials) * s.duration_s / s.trials
        ev = v.eval if v else None
        done = sum(d.done for d in ev.docs.values()) if ev else 0
        if ev and ev.seconds and done:
            added = sum(b - a for a, b in plan.docs.get(name, {}).values())
            total += added * ev.seconds / done
    return total


def round_number(run: StoredRun, plan: RoundPlan) -> int:
    """The round a plan measures: the most rounds' worth of trials it brings a level to, or
    the most looks a task of it will have had."""
    trials = [-(-n // run.workload(w).trials) for levels in plan.levels.values()
              for (w, _), n in levels.items()]
    first = run.recipe.precision.first_docs or 1
    looks = [sum(1 for n in chunk_schedule(first, _total(run, v, t)) if n <= b)
             for v, ranges in plan.docs.items() for t, (_, b) in ranges.items()]
    return max([*trials, *looks, 2])


def _total(run: StoredRun, variant: str, task: str) -> int:
    v = run.variant(variant)
    d = v.eval.docs.get(task) if v and v.eval else None
    return d.total if d else 0


@dataclass(frozen=True)
class TaskState:
    """One variant on one task against the baseline after the looks so far (a chunked
    evaluation: ``precision.first_docs``). A variant's tasks are evaluated further, a chunk a
    round (the documents doubling, the baseline's alike), while its accuracy verdict over its
    tasks is ``inconclusive``: each task not yet ``equivalent`` with documents left. Each look's
    test is at 5 %/the task's planned looks."""

    task: str
    variant: str
    comparison: Comparison
    docs: int  # the variant's, in the seeded order's first ``docs``
    total: int
    base_docs: int
    state: str  # decided | measuring | waiting for the baseline | all documents | left earlier
    family: str | None = None  # the variant's verdict over its tasks

    def line(self) -> str:
        """"gsm8k int8-w8a8: inconclusive, recovery ≥ 97.1 % after 250 of 1,319 documents —
        measuring" (a task decided by the variant's verdict over all its tasks says so)."""
        c = self.comparison
        lo = "" if c.recovery_lo is None else f", recovery ≥ {100 * c.recovery_lo:.1f} %"
        by = f" (the variant: {self.family} over its tasks)" if self.state == "decided" and \
            c.verdict != "equivalent" and self.family != c.verdict else ""
        return (f"{self.task} {self.variant}: {c.verdict}{lo} after {self.docs:,} of "
                f"{self.total:,} documents — {self.state}{by}")


def task_states(run: StoredRun, names: Collection[str] | None = None) -> list[TaskState]:
    """Every evaluated variant (of ``names``, when given) on every task of a chunked
    evaluation the baseline has too (none when evaluated at once)."""
    base = run.baseline
    if base is None or base.eval is None or not base.eval.docs:
        return []
    out = []
    for v in run.variants:
        if v is base or not v.ok or v.eval is None or (names is not None and v.name not in names):
            continue
        primary = _primary(run, v)
        family = family_verdict(list(primary.values()))
        for task, c in primary.items():
            d, b = v.eval.docs.get(task), base.eval.docs.get(task)
            if d is None or b is None:
                continue
            out.append(TaskState(task, v.name, c, d.done, d.total, b.done,
                                 _task_standing(c, family, d.done, d.total, b.done), family))
    return out


def _primary(run: StoredRun, v: StoredVariant) -> dict[str, Comparison]:
    """Per task, the comparison of its first-listed metric (the one the verdict is on)."""
    cmps = run.comparisons.get(v.name, {})
    assert v.eval is not None
    return {t: cmps[t][v.eval.primary(t)[0]] for t in v.eval.tasks
            if t in cmps and v.eval.primary(t)[0] in cmps[t]}


def _task_standing(c: Comparison, family: str | None, docs: int, total: int, base: int) -> str:
    if family != "inconclusive" or c.verdict == "equivalent":
        return "decided"
    if base < docs:  # a later round of the baseline failed: it catches up first
        return "waiting for the baseline"
    if docs >= total:
        return "all documents"
    return "left earlier" if base > docs else "measuring"


def next_looks(run: StoredRun, states: list[TaskState]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per variant (the baseline included), the tasks the next round evaluates further and the
    range of each one's seeded order: from the documents done to the next point of
    :func:`~qexplore.evaluate.stats.chunk_schedule`. Every range is one chunk of that
    schedule, so each document is evaluated in the same chunk, with the same few-shot
    examples, by every variant; a baseline behind a variant takes its next chunk alone."""
    base, first = run.baseline, run.recipe.precision.first_docs
    if base is None or first is None:
        return {}
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for s in states:
        if s.state not in ("measuring", "waiting for the baseline"):
            continue
        schedule = chunk_schedule(first, s.total)
        if s.state == "measuring":
            out.setdefault(s.variant, {})[s.task] = (s.docs, next(n for n in schedule
                                                                  if n > s.docs))
        if s.base_docs < s.total:
            out.setdefault(base.name, {})[s.task] = (s.base_docs, next(
                n for n in schedule if n > s.base_docs))
    return out


Standing = LevelState | TaskState  # where a level's speed or a task's accuracy stands


def most_looks(run: StoredRun) -> int:
    """The most looks any task of the baseline's chunked evaluation planned (1: at once)."""
    base = run.baseline
    docs = base.eval.docs if base and base.eval else {}
    return max((d.looks for d in docs.values()), default=1)
