"""The Pareto table and the recommendation: pure functions over one typed row per variant.

Objectives: accuracy (recovery_pct) ↑, user_tps_p1 at the target users ↑, output_tps there ↑,
weights_gb ↓. A variant is on the front when no other is at least as good on every objective
and better on one. An objective nobody measured (e.g. accuracy with --skip-eval) is left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from qexplore.loadtest.metrics import LevelSummary, capacity_at
from qexplore.results.formats import ms, pct, sig3
from qexplore.results.speed import (
    FIGURE,
    SpeedComparison,
    SpeedRule,
    compare_speed,
    more_rounds,
)

OBJECTIVES = {"recovery_pct": 1, "user_tps_p1": 1, "output_tps": 1, "weights_gb": -1}


SPEED_FIGURES = {"user_tps_p1": "user_tps.p1", "output_tps": "output_tps",
                 "ttft_ms_p99": "ttft_ms.p99"}  # table column → level figure
COLUMNS = ["variant", "scheme", "status", "weights_gb", "weights_source", "bits_per_weight",
           "recovery_pct", "accuracy_verdict", "speed_verdict", "speed_ratio", "speed_ratio_lo",
           "speed_ratio_hi", "at_users",
           *(f"{c}{s}" for c in SPEED_FIGURES for s in ("", "_lo", "_hi")),
           "bound_tps", "bound_kind", "pct_of_bound", "capacity_users", "capacity_borderline",
           "kv_cache_tokens", "kv_cache_tokens_est", "stalls", "trials_used", "docs_used",
           "pareto"]


@dataclass
class VariantRow:
    variant: str
    scheme: str
    status: str = "ok"
    error: str | None = None
    weights_gb: float | None = None
    bits_per_weight: float | None = None
    weights_source: str | None = None  # "checkpoint" | "estimate" | why unknown
    at_users: int | None = None
    user_tps_p1: float | None = None
    output_tps: float | None = None
    ttft_ms_p99: float | None = None
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # by column
    speed_verdict: str | None = None  # against the baseline, on slowest-1 % user tok/s
    speed: SpeedComparison | None = None
    level: LevelSummary | None = field(default=None, repr=False)  # the level judged
    failed_requests: int = 0
    stalls: int = 0  # token gaps over 1 s at the level judged: an unstable machine
    trials_used: int | None = None  # trials of the level judged, every round's
    docs_used: int | None = None  # documents evaluated, summed over the tasks
    capacity_users: int | None = None
    capacity_borderline: bool = False  # the SLO holds at capacity_users by the point value only
    kv_cache_tokens: int | None = None  # as vLLM reported it
    kv_cache_tokens_est: int | None = None  # as the capacity plan estimated it
    bound_tps: float | None = None  # decode bound at the level judged (output tok/s)
    bound_kind: str | None = None  # which bound binds there: "memory" | "compute"
    pct_of_bound: float | None = None  # output tok/s there ÷ bound_tps × 100
    levels_p1: dict[int, float | None] = field(default_factory=dict)
    recovery_pct: float | None = None
    accuracy_verdict: str | None = None
    recovery_by_task: dict[str, float] = field(default_factory=dict)
    pareto: bool | None = None  # None until pareto_flags has judged the row

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def record(self) -> dict[str, Any]:
        """Every field as a flat record (results.json's and the table's form): one
        ``recovery_TASK`` per task, ``COLUMN_lo``/``_hi`` per speed figure, the speed ratio."""
        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("level", "speed", "intervals")}
        d.update({f"recovery_{t}": v for t, v in sorted(d.pop("recovery_by_task").items())})
        for c in SPEED_FIGURES:
            d[f"{c}_lo"], d[f"{c}_hi"] = self.intervals.get(c, (None, None))
        s = self.speed
        d["speed_ratio"], d["speed_ratio_lo"], d["speed_ratio_hi"] = (
            (s.ratio, s.lo, s.hi) if s else (None, None, None))
        return d

    def cells(self, columns: list[str]) -> list[Any]:
        """The row's values in ``columns`` (a task it has no score for is None)."""
        d = self.record()
        return [d.get(c) for c in columns]


def pareto_flags(rows: Sequence[VariantRow]) -> list[bool]:
    """True for each row no other row dominates. Failed rows and missing values never win."""
    measured = [k for k in OBJECTIVES if any(getattr(r, k) is not None for r in rows)]
    scores = [tuple(_score(r, k) for k in measured) for r in rows]

    def dominates(j: int, i: int) -> bool:
        a, b = scores[j], scores[i]
        return all(x >= y for x, y in zip(a, b, strict=True)) and a != b

    return [r.ok and not any(rows[j].ok and dominates(j, i) for j in range(len(rows)) if j != i)
            for i, r in enumerate(rows)]


def _score(row: VariantRow, objective: str) -> float:
    value = getattr(row, objective)
    return -math.inf if value is None else float(value) * OBJECTIVES[objective]


@dataclass(frozen=True)
class Constraints:
    users: int
    min_user_tps: float
    max_accuracy_drop_pct: float
    max_ttft_ms: float | None = None
    speed: SpeedRule = field(default_factory=SpeedRule)  # how speed is judged: margin, session spread, looks
    speed_only: bool = False  # random weights: ranked on speed and memory, accuracy unknown


def at(row: VariantRow, c: Constraints) -> str:
    """Where a row was judged: the users asked about, or the measured level used for them."""
    if row.at_users is None or row.at_users == c.users:
        return f"at {c.users} users"
    return f"at {row.at_users} users (the smallest measured level ≥ {c.users})"


@dataclass
class Recommendation:
    winner: str | None
    reasons: dict[str, str] = field(default_factory=dict)  # why each other variant lost
    summary: str = ""
    suggestions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the decision rests on that is shaky

    def lines(self) -> list[str]:
        out = [self.summary]
        out += [f"- {name}: {why}" for name, why in self.reasons.items()]
        out += [f"- {s}" for s in self.suggestions]
        out += [f"- caution: {w}" for w in self.warnings]
        return out


def _blockers(row: VariantRow, c: Constraints) -> list[str]:
    if not row.ok:
        return [f"failed ({(row.error or 'no reason recorded').splitlines()[0]})"]
    out = []
    p1, ttft = row.user_tps_p1, row.ttft_ms_p99
    if p1 is None:
        out.append(f"not measured at {c.users} users or more")
    elif p1 < c.min_user_tps:
        out.append(f"too slow {at(row, c)}: slowest-1% user gets {sig3(p1)} tok/s "
                   f"< {c.min_user_tps:g}")
    if c.max_ttft_ms is not None and ttft is not None and ttft > c.max_ttft_ms:
        out.append(f"TTFT p99 {ms(ttft)} ms {at(row, c)} exceeds the {c.max_ttft_ms:g} ms ceiling")
    if row.failed_requests:
        out.append(f"{row.failed_requests} failed requests {at(row, c)}")
    rec = row.recovery_pct
    if rec is None and row.accuracy_verdict == "worse":
        out.append("accuracy significantly worse than the baseline's")
    if rec is not None and 100 - rec > c.max_accuracy_drop_pct:
        significant = " (significant)" if row.accuracy_verdict == "worse" else ""
        out.append(f"accuracy loss {pct(100 - rec)}%{significant} exceeds the "
                   f"{c.max_accuracy_drop_pct:g}% budget")
    return out


def recommend(rows: Sequence[VariantRow], c: Constraints) -> Recommendation:
    """The fastest variant (slowest-1 % user tok/s at the target users) meeting every
    constraint — the smaller on a tie; a sentence for each loser; what to relax when nothing
    qualifies."""
    blockers = {r.variant: _blockers(r, c) for r in rows}
    fine = [r for r in rows if not blockers[r.variant]]
    if not fine:
        return Recommendation(None, {v: "; ".join(b) for v, b in blockers.items()},
                              f"No variant meets every constraint at {c.users} users.",
                              _suggestions(rows, c, blockers))
    fastest = min(fine, key=lambda r: (-(r.user_tps_p1 or 0.0), _or_inf(r.weights_gb)))
    tied = [r for r in fine if r is fastest or _same_speed(fastest, r, c)]
    best = max(tied, key=_next_criteria)  # a tie in speed goes to accuracy, then memory
    undecided = {r.variant: u for r in fine if r not in tied and (u := _undecided(best, r, c))}
    reasons = {r.variant: "; ".join(blockers[r.variant]) or undecided.get(r.variant) or
               (_tie_loss(r, best, c) if r in tied else _slower(r, best, c))
               for r in rows if r is not best}
    summary = (f"Deploy {best.variant} ({best.scheme}): {at(best, c)} the slowest 1% get "
               f"{sig3(best.user_tps_p1 or 0)} tok/s (≥ {c.min_user_tps:g}), "
               f"{sig3(best.output_tps or 0)} tok/s in total"
               + (SPEED_ONLY_PHRASE if c.speed_only else _accuracy_phrase(best)) + "."
               + _tie_phrase(best, tied, c.speed_only)
               + (f" Provisional: against {', '.join(undecided)} the speed is not decided "
                  "yet (see below)." if undecided else ""))
    return Recommendation(best.variant, reasons, summary, warnings=_unstable(rows, c))


def _speed(a: VariantRow, b: VariantRow, c: Constraints) -> SpeedComparison | None:
    """``b`` against ``a`` on slowest-1 % user tok/s; None where a row has no measured level."""
    if a.level is None or b.level is None:
        return None
    return compare_speed(a.level, b.level, FIGURE, c.speed)


def _same_speed(a: VariantRow, b: VariantRow, c: Constraints) -> bool:
    """Whether two rows' slowest-1 % user tok/s are equivalent: the ratio's whole interval
    inside the margin (rows without a measured level only when exactly equal). An
    inconclusive pair is no tie."""
    cmp = _speed(a, b, c)
    return a.user_tps_p1 == b.user_tps_p1 if cmp is None else cmp.verdict == "equivalent"


def _undecided(best: VariantRow, row: VariantRow, c: Constraints) -> str | None:
    """For a row that meets the constraints but whose speed against ``best`` the data cannot
    tell yet: the ratio, its interval and what would decide it."""
    cmp = _speed(best, row, c)
    if cmp is None or cmp.verdict != "inconclusive":
        return None
    assert best.level is not None and row.level is not None
    rule = c.speed
    more = more_rounds(cmp, rule, min(best.level.trials, row.level.trials),
                       (rule.sessions(best.level), rule.sessions(row.level)))
    decide = (f"about {rounds_text(more, rule)} {at(row, c)} would decide it" if more else
              "no number of rounds decides it here: the ratio sits on the margin's edge, or the "
              "spread between server sessions would need over 100 more")
    return (f"cannot tell yet whether it is slower than {best.variant} {at(row, c)} "
            f"(slowest-1% user tok/s {cmp.ratio_text()}); {decide}")


def rounds_text(rounds: int, rule: SpeedRule) -> str:
    """"2 more rounds (6 trials on fresh servers)", or, where a level is one session, "6 more
    trials"."""
    if not rule.per_session:
        return f"{rounds} more trial{'s' * (rounds != 1)}"
    return (f"{rounds} more round{'s' * (rounds != 1)} ({rounds * rule.per_session} trials on "
            "freshly started servers)")


def _next_criteria(r: VariantRow) -> tuple[float, float]:
    return (-math.inf if r.recovery_pct is None else r.recovery_pct, -_or_inf(r.weights_gb))


SPEED_ONLY = "speed only"  # the accuracy cells of a run on random weights
SPEED_ONLY_PHRASE = (" — speed only: random weights, ranked on speed and memory; accuracy not "
                     "measured")


def _tie_phrase(best: VariantRow, tied: list[VariantRow], speed_only: bool = False) -> str:
    others = [r.variant for r in tied if r is not best]
    if not others:
        return ""
    return (f" Tied in speed with {', '.join(others)} (within the noise and the margin); "
            f"chosen on {'memory' if speed_only else 'accuracy, then memory'}.")


def _tie_loss(row: VariantRow, best: VariantRow, c: Constraints) -> str:
    why = ("lower accuracy" if _next_criteria(row)[0] < _next_criteria(best)[0]
           else "larger weights" if _next_criteria(row)[1] < _next_criteria(best)[1]
           else "no better on accuracy or memory")
    return f"as fast {at(row, c)} within the noise, but {why}"


def _unstable(rows: Sequence[VariantRow], c: Constraints) -> list[str]:
    """The levels the decision read that had stalls (nobody got a token for over 1 s)."""
    shaky = [f"{r.variant} {at(r, c)} ({r.stalls} stall{'s' * (r.stalls > 1)})"
             for r in rows if r.ok and r.stalls]
    return [f"it rests on levels with stalls, a sign of an unstable machine: {', '.join(shaky)}; "
            "measure again on a quiet machine"] if shaky else []


def _or_inf(x: float | None) -> float:
    return math.inf if x is None else x


def _slower(row: VariantRow, best: VariantRow, c: Constraints) -> str:
    why = (f"meets the constraints but is slower {at(row, c)} "
           f"({sig3(row.user_tps_p1 or 0)} vs {sig3(best.user_tps_p1 or 0)} tok/s for the slowest "
           "1%)")
    return why + ", and is dominated" if row.pareto is False else why


def _accuracy_phrase(row: VariantRow) -> str:
    if row.recovery_pct is None:
        return (", accuracy not measured" if row.accuracy_verdict is None else
                f", accuracy {row.accuracy_verdict} vs the baseline (recovery undefined)")
    return f", {pct(row.recovery_pct)}% of the baseline's accuracy"


def _suggestions(rows: Sequence[VariantRow], c: Constraints, blockers: dict[str, list[str]]
                 ) -> list[str]:
    out = [s for r in rows if r.ok and (s := _suggestion(r, c, blockers[r.variant]))]
    return out or ["no single constraint change makes any variant qualify"]


def _suggestion(r: VariantRow, c: Constraints, blockers: list[str]) -> str | None:
    speed_only = all(x.startswith(("too slow", "not measured")) for x in blockers)
    accuracy_only = all(x.startswith("accuracy loss") for x in blockers)
    users = capacity_at(r.levels_p1, c.min_user_tps)
    if speed_only and users is not None:
        return (f"{r.variant} would qualify with at most {users} users "
                f"(its capacity at {c.min_user_tps:g} tok/s)")
    if speed_only and r.user_tps_p1 is not None:
        return (f"{r.variant} would qualify with --min-user-tps "
                f"{math.floor(r.user_tps_p1 * 10) / 10:g}")
    if accuracy_only and r.recovery_pct is not None:
        return (f"{r.variant} would qualify with --max-accuracy-drop "
                f"{math.ceil((100 - r.recovery_pct) * 10) / 10:g}")
    return None
