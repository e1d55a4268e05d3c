"""The Pareto table and the recommendation: pure functions over one row per variant.

Objectives: accuracy (recovery_pct) ↑, user_tps_p1 at the target users ↑, output_tps there ↑,
weights_gb ↓. A variant is on the front when no other is at least as good on every objective
and better on one. An objective nobody measured (e.g. accuracy with --skip-eval) is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from qexplore.loadtest.metrics import capacity_at

OBJECTIVES = {"recovery_pct": 1, "user_tps_p1": 1, "output_tps": 1, "weights_gb": -1}


def pareto_flags(df: pd.DataFrame) -> pd.Series:
    """True for each row no other row dominates. Failed rows and missing values never win."""
    cols = [c for c in OBJECTIVES if c in df and df[c].notna().any()]
    ok = df.get("status", pd.Series("ok", index=df.index)) == "ok"
    score = pd.DataFrame({c: df[c].astype(float) * OBJECTIVES[c] for c in cols}).fillna(-math.inf)
    flags = []
    for i in df.index:
        if not ok[i]:
            flags.append(False)
            continue
        dominated = any(
            ok[j] and (score.loc[j] >= score.loc[i]).all() and (score.loc[j] > score.loc[i]).any()
            for j in df.index if j != i
        )
        flags.append(not dominated)
    return pd.Series(flags, index=df.index, dtype=bool)


@dataclass(frozen=True)
class Constraints:
    users: int
    min_user_tps: float
    max_accuracy_drop_pct: float


@dataclass
class Recommendation:
    winner: str | None
    reasons: dict[str, str] = field(default_factory=dict)  # why each other variant lost
    summary: str = ""
    suggestions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [self.summary]
        out += [f"- {name}: {why}" for name, why in self.reasons.items()]
        out += [f"- {s}" for s in self.suggestions]
        return out


def _blockers(row: pd.Series, c: Constraints) -> list[str]:
    if row.get("status") != "ok":
        return [f"failed ({str(row.get('error') or 'no reason recorded').splitlines()[0]})"]
    out = []
    p1 = row.get("user_tps_p1")
    if p1 is None or pd.isna(p1):
        out.append(f"not measured at {c.users} users")
    elif p1 < c.min_user_tps:
        out.append(f"too slow at {c.users} users: slowest-1% user gets {p1:.1f} tok/s "
                   f"< {c.min_user_tps:g}")
    if row.get("failed_requests", 0):
        out.append(f"{int(row['failed_requests'])} failed requests at {c.users} users")
    rec = row.get("recovery_pct")
    if rec is not None and not pd.isna(rec) and 100 - rec > c.max_accuracy_drop_pct:
        significant = " (significant)" if row.get("accuracy_verdict") == "worse" else ""
        out.append(f"accuracy loss {100 - rec:.1f}%{significant} exceeds the "
                   f"{c.max_accuracy_drop_pct:g}% budget")
    return out


def recommend(df: pd.DataFrame, c: Constraints) -> Recommendation:
    """The fastest variant (slowest-1 % user tok/s at the target users) meeting every
    constraint; a sentence for each loser; what to relax when nothing qualifies."""
    blockers = {str(r["variant"]): _blockers(r, c) for _, r in df.iterrows()}
    fine = df[[not blockers[str(v)] for v in df["variant"]]]
    if fine.empty:
        rec = Recommendation(None, {v: "; ".join(b) for v, b in blockers.items()},
                             f"No variant meets every constraint at {c.users} users.")
        rec.suggestions = _suggestions(df, c, blockers)
        return rec
    best = fine.sort_values(["user_tps_p1", "weights_gb"], ascending=[False, True]).iloc[0]
    name = str(best["variant"])
    reasons = {}
    for _, r in df.iterrows():
        v = str(r["variant"])
        if v == name:
            continue
        if blockers[v]:
            reasons[v] = "; ".join(blockers[v])
        else:
            reasons[v] = (f"meets the constraints but is slower at {c.users} users "
                          f"({r['user_tps_p1']:.1f} vs {best['user_tps_p1']:.1f} tok/s for the "
                          "slowest 1%)")
            if not r.get("pareto", True):
                reasons[v] += ", and is dominated"
    summary = (f"Deploy {name} ({best['scheme']}): at {c.users} users the slowest 1% get "
               f"{best['user_tps_p1']:.1f} tok/s (≥ {c.min_user_tps:g}), {best['output_tps']:.0f} "
               f"tok/s in total" + _accuracy_phrase(best) + ".")
    return Recommendation(name, reasons, summary)


def _accuracy_phrase(row: pd.Series) -> str:
    rec = row.get("recovery_pct")
    if rec is None or pd.isna(rec):
        return ", accuracy not measured"
    return f", {rec:.1f}% of the baseline's accuracy"


def _suggestions(df: pd.DataFrame, c: Constraints, blockers: dict[str, list[str]]) -> list[str]:
    out = []
    for _, r in df.iterrows():
        v, b = str(r["variant"]), blockers[str(r["variant"])]
        if r.get("status") != "ok":
            continue
        speed_only = all(x.startswith(("too slow", "not measured")) for x in b)
        accuracy_only = all(x.startswith("accuracy loss") for x in b)
        p1s = r.get("levels_p1")
        users = capacity_at(p1s, c.min_user_tps) if isinstance(p1s, dict) else None
        if speed_only and users is not None:
            out.append(f"{v} would qualify with at most {users} users "
                       f"(its capacity at {c.min_user_tps:g} tok/s)")
        elif speed_only and not pd.isna(r.get("user_tps_p1")):
            out.append(f"{v} would qualify with --min-user-tps {math.floor(r['user_tps_p1'] * 10) / 10:g}")
        elif accuracy_only:
            out.append(f"{v} would qualify with --max-accuracy-drop "
                       f"{math.ceil((100 - r['recovery_pct']) * 10) / 10:g}")
    return out or ["no single constraint change makes any variant qualify"]


def as_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with NaN as None (for JSON)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in df.to_dict("records")]
