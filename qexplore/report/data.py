"""Everything a report shows, loaded from the store alone (plus the files it points to)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from qexplore.evaluate.run import EvalResult, compare_to_baseline
from qexplore.evaluate.stats import Comparison
from qexplore.loadtest.metrics import LevelSummary, capacity_at, levels_p1
from qexplore.results.pareto import Constraints, Recommendation, pareto_flags, recommend
from qexplore.results.store import Store

VERDICT_RANK = {"worse": 3, "better": 2, "same": 1}


@dataclass
class RunData:
    run: dict[str, Any]
    variants: list[dict[str, Any]]
    levels: list[dict[str, Any]]
    comparisons: dict[str, dict[str, dict[str, Comparison]]]
    baseline: str | None

    @property
    def recipe(self) -> dict[str, Any]:
        recipe: dict[str, Any] = self.run["recipe"]
        return recipe

    def target_users(self) -> int:
        slo = self.recipe["slo"]
        if slo.get("target_users"):
            return int(slo["target_users"])
        return int(max(self.recipe["workloads"][0]["concurrency"]))

    def primary_workload(self) -> str:
        return str(self.recipe["workloads"][0]["name"])


def load_run(store: Store, run_id: str) -> RunData:
    run = store.run(run_id)
    variants = store.variants(run_id)
    base = next((v for v in variants if v["scheme"] == "baseline" and v.get("eval")), None)
    comparisons = {}
    if base:
        base_eval = stored_eval(base["eval"])
        for v in variants:
            if v is not base and v.get("eval") and v["status"] == "ok":
                comparisons[v["variant"]] = compare_to_baseline(base_eval, stored_eval(v["eval"]))
    return RunData(run, variants, store.levels(run_id), comparisons,
                   base["variant"] if base else None)


def stored_eval(e: dict[str, Any]) -> EvalResult:
    """An :class:`EvalResult` from a variant's stored ``eval`` record."""
    raw_path = Path(e["raw_path"])
    raw = json.loads(raw_path.read_text()) if raw_path.exists() else {}
    return EvalResult(e["tasks"], raw_path, Path(e["samples_dir"]), raw)


def variant_levels(data: RunData, variant: str, workload: str | None = None
                   ) -> list[LevelSummary]:
    """Closed-loop level summaries of a variant (primary workload by default), by users."""
    w = workload or data.primary_workload()
    rows = [LevelSummary(**lv["summary"]) for lv in data.levels
            if lv["variant"] == variant and lv["workload"] == w and not lv["summary"].get("rate")]
    return sorted(rows, key=lambda s: s.concurrency)


def variant_table(data: RunData, users: int | None = None) -> pd.DataFrame:
    """One row per variant: size, accuracy, speed at ``users`` (default: the recipe's target
    users; the largest measured level not above it), capacity, Pareto flag."""
    users = users or data.target_users()
    floor = float(data.recipe["slo"]["min_user_tps"])
    rows = [_row(data, v, users, floor) for v in data.variants]
    df = pd.DataFrame(rows)
    if not df.empty:
        df["pareto"] = pareto_flags(df)
    return df


def _row(data: RunData, v: dict[str, Any], users: int, floor: float) -> dict[str, Any]:
    build = v.get("build") or {}
    levels = variant_levels(data, v["variant"])
    at = [s for s in levels if s.concurrency <= users]
    lv = at[-1] if at else None
    p1s = levels_p1(levels)
    row: dict[str, Any] = {
        "variant": v["variant"], "scheme": v["scheme"], "status": v["status"],
        "error": (v.get("error") or "").split("\n")[0] or None,
        "weights_gb": (build.get("served_bytes") or build.get("size_bytes", 0)) / 1e9
        if build else None,
        "bits_per_weight": build.get("bits_per_weight"),
        "at_users": lv.concurrency if lv else None,
        "user_tps_p1": lv.user_tps["p1"] if lv else None,
        "output_tps": lv.output_tps if lv else None,
        "ttft_ms_p99": lv.ttft_ms["p99"] if lv else None,
        "failed_requests": lv.failed if lv else 0,
        "capacity_users": capacity_at(p1s, floor),
        "kv_cache_tokens": (v.get("server") or {}).get("kv_cache_tokens"),
        "levels_p1": p1s,
    }
    row.update(_accuracy(data, v))
    return row


def _accuracy(data: RunData, v: dict[str, Any]) -> dict[str, Any]:
    tasks = (v.get("eval") or {}).get("tasks") or {}
    if not tasks:
        return {"recovery_pct": None, "accuracy_verdict": None}
    if v["variant"] == data.baseline:
        per_task = {f"recovery_{t}": 100.0 for t in tasks}
        return {"recovery_pct": 100.0, "accuracy_verdict": "baseline", **per_task}
    cmp = data.comparisons.get(v["variant"], {})
    per_task, verdicts = {}, []
    for task, metrics in tasks.items():
        primary = next(iter(metrics))
        c = cmp.get(task, {}).get(primary)
        if c and c.recovery is not None:
            per_task[f"recovery_{task}"] = 100 * c.recovery
            verdicts.append(c.verdict)
    mean = sum(per_task.values()) / len(per_task) if per_task else None
    verdict = max(verdicts, key=lambda x: VERDICT_RANK[x]) if verdicts else None
    return {"recovery_pct": mean, "accuracy_verdict": verdict, **per_task}


def recommendation(data: RunData, users: int | None = None, min_user_tps: float | None = None,
                   max_drop: float | None = None, table: pd.DataFrame | None = None
                   ) -> Recommendation:
    """The variant to deploy for ``users`` (default: the recipe's target); the floor and the
    accuracy budget default to the recipe's SLO. ``table`` is ``variant_table(data, users)``
    when the caller already has it."""
    slo = data.recipe["slo"]
    users = users or data.target_users()
    df = variant_table(data, users) if table is None else table
    c = Constraints(users,
                    min_user_tps if min_user_tps is not None else float(slo["min_user_tps"]),
                    max_drop if max_drop is not None else float(slo["max_accuracy_drop_pct"]))
    return recommend(df, c)


def comparisons_json(data: RunData) -> dict[str, Any]:
    return {v: {t: {m: asdict(c) for m, c in ms.items()} for t, ms in tasks.items()}
            for v, tasks in data.comparisons.items()}
