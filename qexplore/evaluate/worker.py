"""lm-eval in a child process of the core env.

    python -m qexplore.evaluate.worker check JOB.json   → prints {"problems": [...]}
    python -m qexplore.evaluate.worker run JOB.json     → writes JOB["out"]/lm-eval.json, samples

Why a child process and the Python API: lm-eval brings torch, transformers and datasets
(seconds to import, ~1–2 GB) and configures global logging; a child returns that memory when it
ends and can be stopped by the guard. The Python API hands over the results and per-sample logs
directly, without depending on the CLI's output-file layout. Progress lines start with ``[eval]``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any


def say(msg: str) -> None:
    print(f"[eval] {msg}", flush=True)


def task_manager(job: dict[str, Any]) -> Any:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=job.get("include_path"))


def leaf_configs(tm: Any, name: str, depth: int = 0) -> list[dict[str, Any]]:
    """The raw configs of the tasks a name stands for (groups and tags expanded)."""
    entry = tm.task_index.get(name)
    if entry is None or depth > 6:
        return []
    cfg = entry.cfg or {}
    subtasks = cfg.get("task")
    if isinstance(subtasks, list):
        return [c for sub in subtasks if isinstance(sub, str) for c in leaf_configs(tm, sub, depth + 1)]
    if not cfg:  # a tag: every task carrying it
        return [e.cfg for e in tm.task_index.values() if name in e.tags and e.cfg]
    return [cfg]


def hub_is_reachable() -> bool:
    if any(os.environ.get(v) == "1" for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


def dataset_cached(path: str) -> bool:
    """Whether a hub dataset is in the local Hugging Face caches."""
    hf_home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    hub = Path(os.environ.get("HF_HUB_CACHE") or hf_home / "hub")
    ds = Path(os.environ.get("HF_DATASETS_CACHE") or hf_home / "datasets")
    return (hub / f"datasets--{path.replace('/', '--')}").is_dir() or \
        (ds / path.replace("/", "___")).is_dir()


def check(job: dict[str, Any]) -> list[str]:
    """One line per task that is unknown, or needs a hub dataset it cannot get."""
    from qexplore.registry import suggest

    tm = task_manager(job)
    problems, online = [], None
    for i, name in enumerate(job["tasks"]):
        if name not in tm.task_index:
            hint = suggest(name, list(tm.all_tasks), list_choices=False)
            problems.append(f"eval.tasks[{i}]: unknown lm-eval task '{name}'{hint}")
            continue
        for cfg in leaf_configs(tm, name):
            path = cfg.get("dataset_path")
            if cfg.get("custom_dataset") or not path or Path(str(path)).exists():
                continue
            if path in ("json", "csv", "parquet", "text", "arrow") or dataset_cached(str(path)):
                continue
            online = hub_is_reachable() if online is None else online
            if not online:
                problems.append(
                    f"eval.tasks[{i}]: task '{name}' needs the dataset '{path}' from the Hugging "
                    "Face hub; it is not in the local cache and the hub cannot be reached")
                break
    return problems


def run(job: dict[str, Any]) -> None:
    """One lm-eval call per (few-shot, limit) group of tasks, merged into one result."""
    import lm_eval

    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    tm = task_manager(job)
    results: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    for group in job["groups"]:
        say(f"tasks {', '.join(group['tasks'])} against {job['model_args']['base_url']}")
        part = lm_eval.simple_evaluate(
            model="local-completions", model_args=job["model_args"], tasks=group["tasks"],
            num_fewshot=group.get("num_fewshot"), limit=group.get("limit"), log_samples=True,
            task_manager=tm, random_seed=job["seed"], numpy_random_seed=job["seed"],
            torch_random_seed=job["seed"], fewshot_random_seed=job["seed"],
        )
        assert part is not None
        samples |= part.pop("samples", {})
        for key in ("results", "n-samples", "higher_is_better", "versions", "n-shot", "configs"):
            results.setdefault(key, {}).update(part.get(key, {}))
        results["lm_eval_version"] = part.get("lm_eval_version")
    (out / "lm-eval.json").write_text(json.dumps(results, default=str, indent=1))
    sample_dir = out / "samples"
    sample_dir.mkdir(exist_ok=True)
    for task, rows in samples.items():
        with open(sample_dir / f"{task}.jsonl", "w") as f:
            for row in rows:
                f.write(json.dumps(_sample(row), default=str) + "\n")
    say("done")


def _sample(row: dict[str, Any]) -> dict[str, Any]:
    """The parts of an lm-eval sample log a paired test needs (metrics by doc id)."""
    metrics = {k: row[k] for k in row.get("metrics", []) if k in row}
    return {"doc_id": row.get("doc_id"), "filter": row.get("filter"), "metrics": metrics,
            "target": row.get("target"), "response": row.get("filtered_resps")}


def main(mode: str, job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    if mode == "check":
        print(json.dumps({"problems": check(job)}))
    else:
        run(job)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
