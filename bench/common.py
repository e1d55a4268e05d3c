"""Helpers shared by the benchmarks: running qexplore and `vllm bench serve` as child processes."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from qexplore import paths

QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def child_cpu_seconds(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Run ``cmd`` to completion; return the CPU seconds (user + system) it and its children used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, env=env or OFFLINE, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_per_1000_tokens(cpu_s: float, fixed_cpu_s: float, requests: int, output_len: int
                        ) -> float:
    """A run's CPU seconds per 1,000 streamed tokens beyond its tool's fixed cost
    (``fixed_cpu_s``: a 1-request run, which streamed one request's tokens)."""
    return (cpu_s - fixed_cpu_s) / ((requests - 1) * output_len / 1000)


def qexplore_random(base_url: str, model: str, tokenizer: str, users: int, prompts: int,
                    input_len: int, output_len: int) -> tuple[list[str], Path]:
    out = Path(tempfile.mkdtemp()) / "q.json"
    cmd = [*QEXPLORE, "loadtest", "--endpoint", base_url, "--model", model, "--workload", "random",
           "--tokenizer", tokenizer, "--input-len", str(input_len), "--output-len", str(output_len),
           "--ignore-eos", "--concurrency", str(users), "--requests", str(prompts), "--warmup", "0",
           "--json", str(out), "--raw", str(out.with_suffix(".parquet"))]
    return cmd, out


def vllm_bench(base_url: str, model: str, tokenizer: str, users: int, prompts: int,
               input_len: int, output_len: int) -> tuple[list[str], Path]:
    out_dir = Path(tempfile.mkdtemp())
    cmd = [str(paths.vllm_executable()), "bench", "serve", "--backend", "vllm", "--base-url",
           base_url, "--model", model, "--tokenizer", tokenizer, "--dataset-name", "random",
           "--random-input-len", str(input_len), "--random-output-len", str(output_len),
           "--random-range-ratio", "0", "--ignore-eos", "--num-prompts", str(prompts),
           "--max-concurrency", str(users), "--request-rate", "inf", "--num-warmups", "0",
           "--disable-tqdm", "--save-result", "--result-dir", str(out_dir),
           "--result-filename", "v.json"]
    return cmd, out_dir / "v.json"


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
