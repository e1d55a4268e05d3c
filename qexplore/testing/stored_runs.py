"""Stored runs made by hand, for tests of what comes after measurement (reports, compare,
history): every record complete and valid, the numbers the test's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qexplore.environment import Hardware
from qexplore.loadtest.metrics import Latency, LevelSummary, UserTps
from qexplore.quantize.build import BuildRecord
from qexplore.recipes.schema import Recipe
from qexplore.results.store import Store


def recipe(name: str = "demo", users: tuple[int, ...] = (1, 4, 16), target_users: int = 16,
           min_user_tps: float = 5, max_drop: float = 1, session_spread_pct: float = 0,
           max_rounds: int = 1) -> dict[str, Any]:
    """A valid recipe's stored form (one workload ``short`` at ``users``, 3 trials a round);
    by default on a machine whose server sessions do not differ (the tests' own numbers are
    the only noise), with a fixed budget (one look: 95 % intervals)."""
    return Recipe.model_validate({
        "name": name, "model": {"path": "@demo"},
        "variants": [{"name": "bf16", "scheme": "baseline"}],
        "workloads": [{"name": "short", "concurrency": list(users)}],
        "slo": {"min_user_tps": min_user_tps, "target_users": target_users,
                "max_accuracy_drop_pct": max_drop, "session_spread_pct": session_spread_pct},
        "precision": {"max_rounds": max_rounds},
    }).model_dump(mode="json")


def provenance() -> dict[str, Any]:
    return {"qexplore": "test", "versions": {"vllm": "test"}, "git_sha": None,
            "hardware": Hardware("test CPU", 2, 8.0, cpu_isa="AVX2").as_dict(),
            "created_at": "2026-01-01T00:00:00+0000"}


def level(users: int, output_tps: float, p1: float, ttft_p99: float, failed: int = 0,
          sent: int = 10, stalls: int = 0, spread: float | None = None, trials: int = 3
          ) -> dict[str, Any]:
    """A closed-loop level's stored summary with the given headline numbers; ``spread`` (a
    fraction) gives each an interval of ± that much, as ``trials`` trials would."""
    lat = Latency(p50=ttft_p99 / 2, p90=ttft_p99 * 0.9, p99=ttft_p99)
    return LevelSummary(
        concurrency=users, sent=sent, completed=sent - failed, failed=failed, duration_s=1.0,
        output_tps=output_tps, request_tps=float(sent), user_tps=UserTps(mean=p1, p50=p1, p1=p1),
        ttft_ms=lat, tpot_ms=lat, itl_ms=lat, e2e_ms=lat, error_rate=failed / sent,
        goodput=1 - failed / sent, stalls=stalls, stall_max_ms=1500.0 if stalls else 50.0,
        trials=1 if spread is None else trials,
        ci={} if spread is None else {f: (v * (1 - spread), v * (1 + spread)) for f, v in (
            ("output_tps", output_tps), ("user_tps.p1", p1), ("ttft_ms.p99", ttft_p99))},
    ).as_dict()


def build(variant: str, scheme: str, size_bytes: float, bits: float) -> dict[str, Any]:
    return BuildRecord(variant, scheme, f"/builds/{variant}", None, True, int(size_bytes),
                       1_000_000, bits).as_dict()


def evaluation(folder: Path, task: str, correct: int, docs: int = 100,
               chunked: tuple[int, int] | None = None, seconds: float | None = None
               ) -> dict[str, Any]:
    """An evaluation of ``task`` whose first ``correct`` of ``docs`` samples are right, with the
    per-sample file the paired tests read; ``chunked``: (documents in all, planned looks) of a
    chunked evaluation that has done ``docs`` of them."""
    (folder / "samples").mkdir(parents=True, exist_ok=True)
    rows = [{"doc_id": i, "metrics": {"acc": 1.0 if i < correct else 0.0}} for i in range(docs)]
    (folder / "samples" / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = {} if chunked is None else {
        task: {"task": task, "total": chunked[0], "done": docs, "looks": chunked[1]}}
    (folder / "lm-eval.json").write_text(json.dumps({"higher_is_better": {task: {"acc": True}},
                                                     "docs": done}))
    return {"tasks": {task: {"acc": {"value": correct / docs, "stderr": 0.03, "n": docs}}},
            "raw_path": str(folder / "lm-eval.json"), "samples_dir": str(folder / "samples"),
            "docs": done, "seconds": seconds}


def add_run(store: Store, run_id: str, stored_recipe: dict[str, Any]) -> None:
    store.create_run(run_id, stored_recipe["name"], "h", stored_recipe, provenance())
