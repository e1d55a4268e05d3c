"""The evaluate stage's entry point: lm-eval against a running OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qexplore.endpoint import api_base
from qexplore.errors import EvalError, RecipeError
from qexplore.evaluate.results import Normalized, higher_is_better, load_samples, normalize
from qexplore.evaluate.stats import Comparison, paired_test
from qexplore.guard import run_logged

OnLine = Callable[[str], None]
ROLLING = {"word_perplexity", "byte_perplexity", "bits_per_byte"}


@dataclass(frozen=True)
class TaskSpec:
    name: str
    num_fewshot: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Look:
    """One look of a chunked evaluation (``precision.first_docs``): its number (1, 2, …),
    the first look's documents per task, and in later looks each leaf task's range in the
    seeded order of its documents (only those leaves are evaluated)."""

    number: int
    first: int
    ranges: dict[str, tuple[int, int]] | None = None


@dataclass(frozen=True)
class EvalJob:
    """What to evaluate and where: ``base_url`` ends before ``/v1``."""

    base_url: str
    model: str
    tokenizer: str
    tasks: list[TaskSpec]
    include_path: str | None = None
    num_concurrent: int = 8
    seed: int = 1234
    max_length: int = 2048
    api_key: str | None = None
    look: Look | None = None  # None: every document at once (up to each task's limit)

    def model_args(self) -> dict[str, Any]:
        """lm-eval's local-completions arguments. Token-list requests: text requests shift
        log-likelihoods by a token when the server adds BOS."""
        return {
            "model": self.model, "base_url": f"{api_base(self.base_url)}/v1/completions",
            "tokenizer": self.tokenizer, "tokenizer_backend": "huggingface",
            "tokenized_requests": True, "add_bos_token": True,
            "num_concurrent": self.num_concurrent, "max_length": self.max_length,
            "max_retries": 3, "timeout": 600,
        }

    def groups(self) -> list[dict[str, Any]]:
        """Tasks sharing few-shot and limit settings go to lm-eval together."""
        by_key: dict[tuple[int | None, int | None], list[str]] = {}
        for t in self.tasks:
            by_key.setdefault((t.num_fewshot, t.limit), []).append(t.name)
        return [{"tasks": names, "num_fewshot": k[0], "limit": k[1]} for k, names in by_key.items()]


@dataclass
class EvalResult:
    tasks: Normalized
    raw_path: Path
    samples_dir: Path
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """``{"tasks": {TASK: {METRIC: {"value", "stderr", "n"}}}}`` — the ``--json`` format."""
        return {"tasks": {t: {m: {k: v[k] for k in ("value", "stderr", "n")} for m, v in ms.items()}
                          for t, ms in self.tasks.items()}}


def check_tasks(tasks: list[str], include_path: str | None) -> None:
    """Raise RecipeError at once for unknown tasks or hub datasets that cannot be had."""
    if local_tasks_only(tasks, include_path):
        return  # defined in include_path over local data: nothing to fetch (no lm-eval import)
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"tasks": tasks, "include_path": include_path}))
        cmd = [sys.executable, "-m", "qexplore.evaluate.worker", "check", str(job)]
        _, tail = run_logged(cmd, Path(tmp) / "check.log", "[eval]")
    answer = next((line for line in reversed(tail) if line.startswith('{"problems"')), None)
    if answer is None:
        raise EvalError("checking the eval tasks failed: " + " | ".join(tail[-5:]))
    problems = json.loads(answer)["problems"]
    if problems:
        raise RecipeError(problems)


class _TagTolerantLoader(yaml.SafeLoader):
    """Reads task YAMLs without resolving lm-eval's ``!function`` tags."""


_TagTolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix}")


def local_tasks_only(tasks: list[str], include_path: str | None) -> bool:
    """Whether every task is a YAML task in ``include_path`` whose data is local (a
    ``custom_dataset`` function or an existing ``dataset_path``)."""
    if not include_path or not Path(include_path).is_dir():
        return False
    found: dict[str, dict[str, Any]] = {}
    for f in Path(include_path).rglob("*.yaml"):
        try:
            cfg = yaml.load(f.read_text(), Loader=_TagTolerantLoader)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(cfg, dict) and isinstance(cfg.get("task"), str) and "include" not in cfg:
            found[cfg["task"]] = cfg
    return all(t in found and (found[t].get("custom_dataset") or
                               Path(str(found[t].get("dataset_path") or "\0")).exists())
               for t in tasks)


def evaluate(job: EvalJob, out_dir: Path, on_line: OnLine | None = None) -> EvalResult:
    """Run lm-eval in a guarded child process; results and per-sample logs land in ``out_dir``
    (a look of a chunked evaluation: in ``out_dir/looks/N``, its result this look's alone;
    :func:`merge_looks` joins them)."""
    if job.look is not None:
        out_dir = out_dir / "looks" / str(job.look.number)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = {"model_args": job.model_args(), "groups": job.groups(), "seed": job.seed,
            "include_path": job.include_path, "out": str(out_dir), "docs": _docs(job.look,
                                                                               job.seed)}
    (out_dir / "job.json").write_text(json.dumps(spec, indent=1))
    env = {**os.environ, "OPENAI_API_KEY": job.api_key or "EMPTY"}
    _run_child(out_dir / "job.json", out_dir / "eval.log", env, on_line)
    raw = json.loads((out_dir / "lm-eval.json").read_text())
    return EvalResult(normalize(raw), out_dir / "lm-eval.json", out_dir / "samples", raw)


def _docs(look: Look | None, seed: int) -> dict[str, Any] | None:
    if look is None:
        return None
    return {"first": look.first, "seed": seed,
            "ranges": None if look.ranges is None else {k: list(v) for k, v in look.ranges.items()}}


def merge_looks(eval_dir: Path, first: int, on_line: OnLine | None = None) -> EvalResult:
    """A chunked evaluation's looks so far (``eval_dir/looks/N``) as one result in
    ``eval_dir``: per leaf task, its samples of every look and its metrics aggregated over
    them; ``raw["docs"]`` says per leaf its documents done, in all, and its planned looks."""
    (eval_dir / "merge.json").write_text(json.dumps({"dir": str(eval_dir), "first": first}))
    _run_child(eval_dir / "merge.json", eval_dir / "merge.log", dict(os.environ), on_line,
               "merge")
    raw = json.loads((eval_dir / "lm-eval.json").read_text())
    return EvalResult(normalize(raw), eval_dir / "lm-eval.json", eval_dir / "samples", raw)


def _run_child(job: Path, log_path: Path, env: dict[str, str], on_line: OnLine | None,
               mode: str = "run") -> None:
    cmd = [sys.executable, "-u", "-m", "qexplore.evaluate.worker", mode, str(job)]
    code, tail = run_logged(cmd, log_path, "[eval]", on_line, env)
    if code != 0:
        last = next((t for t in reversed(tail) if "Error" in t), tail[-1] if tail else "")
        raise EvalError(f"lm-eval failed (exit {code}): {last}\n" + "\n".join(tail))


def sample_value(v: Any) -> float:
    """A per-sample metric as one number: rolling metrics' (log-likelihood, count) pairs become
    the negative log-likelihood per unit (lower is better, like perplexity)."""
    if isinstance(v, list) and len(v) == 2:
        return -float(v[0]) / float(v[1])
    return float(v)


def paired_comparisons(base: EvalResult, variant: EvalResult, max_drop: float = 0.0
                       ) -> dict[str, dict[str, Comparison]]:
    """Per task and metric: recovery, paired p-value and verdict against the baseline, each
    metric over its own filter's samples; ``max_drop``: the accuracy budget (a fraction) within
    which a variant is equivalent."""
    out: dict[str, dict[str, Comparison]] = {}
    for task, metrics in variant.tasks.items():
        if task not in base.tasks:
            continue
        for metric, v in metrics.items():
            out.setdefault(task, {})[metric] = _paired(base, variant, task, metric, v,
                                                       max_drop)
    return out


def _paired(base: EvalResult, variant: EvalResult, task: str, metric: str, v: dict[str, Any],
            max_drop: float) -> Comparison:
    name, flt = metric.split(",")[0], v.get("filter")
    bs = {i: sample_value(m[name]) for i, m in load_samples(base.samples_dir, task, flt).items()
          if name in m}
    vs = {i: sample_value(m[name]) for i, m in load_samples(variant.samples_dir, task, flt).items()
          if name in m}
    hib = higher_is_better(variant.raw, task, name)
    binary = name not in ROLLING and set(bs.values()) | set(vs.values()) <= {0.0, 1.0}
    return paired_test(metric, base.tasks[task].get(metric, {}).get("value"), v["value"], bs, vs,
                       hib if name not in ROLLING else False, binary, max_drop,
                       log_scale=name in ROLLING, looks=planned_looks(variant.raw, task))


def planned_looks(raw: dict[str, Any], task: str) -> int:
    """The looks a chunked evaluation planned for a task (1: evaluated at once)."""
    return int(raw.get("docs", {}).get(task, {}).get("looks", 1))
