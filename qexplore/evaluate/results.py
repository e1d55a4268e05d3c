"""lm-eval's results, normalised: ``{task: {metric: {"value", "stderr", "n"}}}``.

Metric keys drop lm-eval's filter suffix (``exact_match,strip`` → ``exact_match``) unless two
filters of one metric would collide. Values are lm-eval's own, unchanged.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

Normalized = dict[str, dict[str, dict[str, Any]]]


def normalize(raw: dict[str, Any]) -> Normalized:
    """Per task and metric: value, stderr (None when lm-eval has none) and sample count."""
    out: Normalized = {}
    n_samples = raw.get("n-samples", {})
    for task, entries in raw.get("results", {}).items():
        if task not in n_samples:
            continue  # a group's aggregate row; its subtasks are listed on their own
        n = n_samples[task].get("effective")
        metrics: dict[str, dict[str, Any]] = {}
        keys = [k for k in entries if "," in k and "_stderr," not in k]
        names = [k.split(",")[0] for k in keys]
        for key, name in zip(keys, names, strict=True):
            metric, flt = key.split(",", 1)
            label = metric if names.count(name) == 1 else key
            stderr = entries.get(f"{metric}_stderr,{flt}")
            metrics[label] = {"value": _num(entries[key]), "stderr": _num(stderr), "n": n,
                              "filter": flt}
        out[task] = metrics
    return out


def higher_is_better(raw: dict[str, Any], task: str, metric: str) -> bool:
    return bool(raw.get("higher_is_better", {}).get(task, {}).get(metric, True))


def _num(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
        return float(v)
    return None


def load_samples(sample_dir: Path, task: str, flt: str | None = None
                 ) -> dict[int, dict[str, Any]]:
    """Per-sample metric values of one task under one filter (lm-eval logs a row per filter
    and doc), by doc id. Without ``flt``, every row (a task with one filter)."""
    path = sample_dir / f"{task}.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return {int(r["doc_id"]): r["metrics"] for r in rows if flt is None or r.get("filter") == flt}
