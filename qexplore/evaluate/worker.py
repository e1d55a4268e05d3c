"""lm-eval in a child process of the core env.

    python -m qexplore.evaluate.worker check JOB.json   → prints {"problems": [...]}
    python -m qexplore.evaluate.worker run JOB.json     → writes JOB["out"]/lm-eval.json, samples
    python -m qexplore.evaluate.worker merge JOB.json   → a chunked evaluation's looks as one

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
    """One lm-eval call per (few-shot, limit) group of tasks, merged into one result. With
    ``job["docs"]`` (a chunked evaluation's look), each leaf task evaluates only its chunk of
    the seeded order (see :func:`chunk_ids`)."""
    import lm_eval

    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    tm = task_manager(job)
    results: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    for group in job["groups"]:
        say(f"tasks {', '.join(group['tasks'])} against {job['model_args']['base_url']}")
        tasks, chosen = group["tasks"], None
        if job.get("docs") is not None:
            tasks, chosen = chunk(tm, group, job["docs"], results)
            if not tasks:
                continue
        part = lm_eval.simple_evaluate(
            model="local-completions", model_args=job["model_args"], tasks=tasks,
            num_fewshot=group.get("num_fewshot"), limit=None if chosen else group.get("limit"),
            samples=chosen, log_samples=True, task_manager=tm, random_seed=job["seed"],
            numpy_random_seed=job["seed"], torch_random_seed=job["seed"],
            fewshot_random_seed=job["seed"],
        )
        assert part is not None
        samples |= part.pop("samples", {})
        for key in ("results", "n-samples", "higher_is_better", "versions", "n-shot", "configs"):
            results.setdefault(key, {}).update(part.get(key, {}))
        results["lm_eval_version"] = part.get("lm_eval_version")
    write_samples(out / "samples", samples)  # before lm-eval.json, which marks a look done
    (out / "lm-eval.json").write_text(json.dumps(results, default=str, indent=1))
    say("done")


def chunk(tm: Any, group: dict[str, Any], docs: dict[str, Any], results: dict[str, Any]
          ) -> tuple[list[Any], dict[str, list[int]]]:
    """A group's leaf tasks that have documents in this look, and each one's doc ids. Records
    in ``results["docs"]`` each leaf's recipe task, its documents in all, and this chunk's
    range, and in ``results["aggregation"]`` its metrics' lm-eval aggregations by name."""
    from lm_eval.api.registry import AGGREGATION_REGISTRY

    names = {id(f): k for k, f in AGGREGATION_REGISTRY.items()}
    ranges = docs.get("ranges")
    tasks, chosen = [], {}
    for name in group["tasks"]:
        for leaf, task in tm.load(name)["tasks"].items():
            if ranges is not None and leaf not in ranges:
                continue
            start, stop = ranges[leaf] if ranges is not None else (0, docs["first"])
            total = min(len(task.eval_docs), group.get("limit") or len(task.eval_docs))
            ids = chunk_ids(len(task.eval_docs), total, start, stop, docs["seed"])
            if not ids:
                continue
            tasks.append(task)
            chosen[leaf] = ids
            results.setdefault("docs", {})[leaf] = {"task": name, "total": total,
                                                    "start": start, "stop": start + len(ids)}
            results.setdefault("aggregation", {})[leaf] = _aggregations(leaf, task, names)
    return tasks, chosen


def _aggregations(leaf: str, task: Any, names: dict[int, str]) -> dict[str, str]:
    """A task's metrics' aggregations by their lm-eval registry names; a function the registry
    does not hold cannot be applied again to joined chunks: the look fails, saying so."""
    out = {}
    for metric, fn in task.aggregation().items():
        if id(fn) not in names:
            raise SystemExit(f"Error: {leaf}'s {metric} aggregates with a function lm-eval does "
                             "not register; it cannot be evaluated in chunks (set "
                             "precision.first_docs: null)")
        out[metric] = names[id(fn)]
    return out


def chunk_ids(n: int, total: int, start: int, stop: int, seed: int) -> list[int]:
    """Doc ids ``start``..``stop`` of one fixed shuffled order of a task's ``n`` documents
    (seeded, the same for every variant and look), of which the first ``total`` are ever
    used. Sorted: lm-eval maps its samples' positions back to ids as if they were."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(n)[:total]
    return sorted(int(i) for i in order[start:stop])


def write_samples(sample_dir: Path, samples: dict[str, Any], raw: bool = False) -> None:
    """Per task, its rows as JSON lines: lm-eval's sample logs (cut to :func:`_sample`), or
    rows already cut (``raw``)."""
    sample_dir.mkdir(parents=True, exist_ok=True)
    for task, rows in samples.items():
        with open(sample_dir / f"{task}.jsonl", "w") as f:
            for row in rows:
                f.write(json.dumps(row if raw else _sample(row), default=str) + "\n")


def merge(job: dict[str, Any]) -> None:
    """A chunked evaluation's looks (``JOB["dir"]/looks/K``, each written by :func:`run`) as
    one result in ``JOB["dir"]``: every leaf task's samples of all looks, its metrics
    aggregated over them with lm-eval's own aggregation and standard error, and under
    ``"docs"`` its documents done, in all, and its planned looks (from ``JOB["first"]``)."""
    from qexplore.evaluate.stats import chunk_schedule

    root = Path(job["dir"])
    merged, rows = _read_looks(root)
    for leaf, entries in merged.get("results", {}).items():
        if leaf not in merged.get("docs", {}):
            continue
        done = len({doc for doc, _ in rows.get(leaf, {})})
        _aggregate(entries, merged["aggregation"][leaf], rows.get(leaf, {}).values())
        entries["sample_len"] = done
        info = merged["docs"][leaf]
        merged["docs"][leaf] = {"task": info["task"], "total": info["total"], "done": done,
                                "looks": len(chunk_schedule(job["first"], info["total"]))}
        merged["n-samples"][leaf] = {**merged["n-samples"].get(leaf, {}), "effective": done}
    write_samples(root / "samples", {leaf: list(r.values()) for leaf, r in rows.items()},
                  raw=True)
    (root / "lm-eval.json").write_text(json.dumps(merged, default=str, indent=1))
    say("merged")


def _read_looks(root: Path) -> tuple[dict[str, Any], dict[str, dict[tuple[Any, Any], Any]]]:
    """The finished looks' results, merged key by key (a later look's entries win), and per
    task its sample rows by (doc id, filter): a document evaluated twice counts once."""
    looks = sorted((d for d in (root / "looks").iterdir() if (d / "lm-eval.json").exists()),
                   key=lambda d: int(d.name))
    merged: dict[str, Any] = {}
    rows: dict[str, dict[tuple[Any, Any], dict[str, Any]]] = {}
    for d in looks:
        raw = json.loads((d / "lm-eval.json").read_text())
        for key in ("results", "higher_is_better", "versions", "n-shot", "configs",
                    "aggregation", "docs", "n-samples"):
            merged.setdefault(key, {}).update(raw.get(key, {}))
        merged["lm_eval_version"] = raw.get("lm_eval_version")
        for f in (d / "samples").glob("*.jsonl"):
            for line in f.read_text().splitlines():
                r = json.loads(line)
                rows.setdefault(f.stem, {})[(r["doc_id"], r.get("filter"))] = r
    return merged, rows


def _aggregate(entries: dict[str, Any], aggs: dict[str, str], rows: Any) -> None:
    """A task's ``metric,filter`` entries recomputed over ``rows`` with the metrics'
    lm-eval aggregations (by name) and their standard errors."""
    from lm_eval.api.metrics import stderr_for_metric
    from lm_eval.api.registry import AGGREGATION_REGISTRY

    rows = list(rows)
    for key in [k for k in entries if "," in k and "_stderr," not in k]:
        metric, flt = key.split(",", 1)
        values = [r["metrics"][metric] for r in rows
                  if r.get("filter") == flt and metric in r["metrics"]]
        fn = AGGREGATION_REGISTRY[aggs.get(metric, "mean")]
        se = stderr_for_metric(fn, 1000)
        entries[key] = fn(values) if values else None
        entries[f"{metric}_stderr,{flt}"] = se(values) if se and len(values) > 1 else "N/A"


def _sample(row: dict[str, Any]) -> dict[str, Any]:
    """The parts of an lm-eval sample log a paired test needs (metrics by doc id)."""
    metrics = {k: row[k] for k in row.get("metrics", []) if k in row}
    return {"doc_id": row.get("doc_id"), "filter": row.get("filter"), "metrics": metrics,
            "target": row.get("target"), "response": row.get("filtered_resps")}


def main(mode: str, job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    if mode == "check":
        print(json.dumps({"problems": check(job)}))
    elif mode == "merge":
        merge(job)
    else:
        run(job)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
