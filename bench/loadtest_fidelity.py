"""Fidelity: qexplore's load tester vs `vllm bench serve` on the same vLLM-CPU server and the
same workload (random prompts, fixed input/output lengths, ignore_eos).

    .venv/bin/python bench/loadtest_fidelity.py [--users 8] [--prompts 256] [--pairs 12]
    .venv/bin/python bench/loadtest_fidelity.py --server fake --users 64 --itl-ms 10

vLLM-CPU speeds up over its first runs (kernels for new batch shapes), so each tool first does
one discarded warm-up run. Then come ``--pairs`` back-to-back pairs in alternating order; each
pair gives a ratio qexplore / vllm-bench. Printed: the ratio's geometric mean with its 95 %
interval (a t-interval of the pairs' log ratios: a paired design, so the drift of a shared
machine cancels within a pair), the median and range, each tool's run-to-run spread, and each
client's CPU per 1,000 streamed tokens while the server runs beside it: qexplore's as it
records it over the measured requests (``client_cpu_s``), vllm bench's as the run's CPU less
its fixed start-up cost (the median of ``--startup-runs`` 1-request runs; start-up is most of
a run's CPU, so this one is rough). Targets: the output tok/s ratio's interval contains 1 and lies within
0.95–1.05; median TTFT within 10 %.

``--server fake`` runs the same comparison against the fake server with injected latencies
(``--ttft-ms``, ``--itl-ms``), where the true values are known and the server keeps to its
timetable: TTFT = ttft and output tok/s = users × output_len / (ttft + (output_len − 1) × itl).
Each tool's reading is also printed against that truth (target: within 3 % at ≥ 5,000 tok/s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import OFFLINE, child_cpu_seconds, cpu_per_1000_tokens, qexplore_random, read, vllm_bench

from qexplore import paths
from qexplore.demo.model import ensure_demo_model
from qexplore.loadtest.intervals import rate_interval
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer

FAKE = Path(__file__).parents[1] / "tests" / "fakes" / "vllm"
TOOLS = ("qexplore", "vllm-bench")


@dataclass(frozen=True)
class Reading:
    tps: float  # output tok/s
    ttft_ms: float  # median
    prompt: float  # mean prompt tokens as the server counted them
    cpu_s: float  # the client's CPU time, start-up included
    level_cpu_s: float | None = None  # over the measured requests only (qexplore records it)


def run_tool(tool: str, base_url: str, args: tuple[object, ...]) -> Reading:
    """One run of ``tool`` ("qexplore" or "vllm-bench") and what it measured."""
    make = qexplore_random if tool == "qexplore" else vllm_bench
    cmd, out = make(base_url, *args)  # type: ignore[arg-type]
    cpu = child_cpu_seconds(cmd, OFFLINE)
    data = read(out)
    if tool == "qexplore":
        import pandas as pd

        lv = data["levels"][0]
        prompt = float(pd.read_parquet(out.with_suffix(".parquet"))["prompt_tokens"].mean())
        return Reading(lv["output_tps"], lv["ttft_ms"]["p50"], prompt, cpu, lv["client_cpu_s"])
    return Reading(data["output_throughput"], data["median_ttft_ms"],
                   data["total_input_tokens"] / data["completed"], cpu)


def ratio_interval(ratios: list[float]) -> str:
    """Geometric mean [95 % interval] of paired ratios, from the t-interval of their logs (as
    qexplore's rates over trials)."""
    mean = statistics.geometric_mean(ratios)
    if len(ratios) < 2:
        return f"{mean:.3f} (one pair: no interval)"
    lo, hi = rate_interval(ratios, mean)
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def spread(values: list[float]) -> str:
    return f"{min(values):,.0f}–{max(values):,.0f}"


def show(tool: str, r: Reading, note: str = "") -> None:
    print(f"{tool:10s}: {r.tps:8,.1f} tok/s  TTFT p50 {r.ttft_ms:7.1f} ms  prompt "
          f"{r.prompt:5.1f} tokens  CPU {r.cpu_s:5.1f} s{note}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--input-len", type=int, default=64)
    ap.add_argument("--output-len", type=int, default=64)
    ap.add_argument("--server", choices=["vllm", "fake"], default="vllm")
    ap.add_argument("--ttft-ms", type=float, default=50.0, help="fake server: time to first token")
    ap.add_argument("--itl-ms", type=float, default=10.0, help="fake server: time between tokens")
    ap.add_argument("--no-warmup", action="store_true", help="skip each tool's warm-up run")
    ap.add_argument("--startup-runs", type=int, default=3,
                    help="1-request runs whose median CPU is a tool's start-up cost")
    a = ap.parse_args()
    model = str(ensure_demo_model())
    name = "demo"
    spec = ServerSpec(model=model, served_name=name, run_dir=Path(tempfile.mkdtemp()),
                      dtype="bfloat16", max_model_len=256, kv_cache_gb=1,
                      max_num_seqs=max(64, a.users))
    truth, real_vllm = None, paths.vllm_executable()
    if a.server == "fake":
        os.environ.update({"QEXPLORE_VLLM": str(FAKE), "QEXPLORE_FAKE_PYTHON": sys.executable,
                           "FAKE_TTFT_S": str(a.ttft_ms / 1000), "FAKE_ITL_S": str(a.itl_ms / 1000)})
        truth = a.users * a.output_len / (a.ttft_ms / 1000 + (a.output_len - 1) * a.itl_ms / 1000)
        print(f"fake server: true TTFT {a.ttft_ms:g} ms, true output {truth:,.1f} tok/s")
    args = (name, model, a.users, a.prompts, a.input_len, a.output_len)
    fixed_args = (name, model, 1, 1, a.input_len, a.output_len)
    runs: dict[str, list[Reading]] = {tool: [] for tool in TOOLS}
    fixed: dict[str, float] = {}
    with VllmServer(spec) as server:
        os.environ["QEXPLORE_VLLM"] = str(real_vllm)  # `vllm bench` always from the serve env
        for tool in TOOLS:
            fixed[tool] = statistics.median(run_tool(tool, server.base_url, fixed_args).cpu_s
                                            for _ in range(a.startup_runs))
            if not a.no_warmup:
                show(tool, run_tool(tool, server.base_url, args), "  (warm-up, discarded)")
        for i in range(a.pairs):
            for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
                runs[tool].append(run_tool(tool, server.base_url, args))
                show(tool, runs[tool][-1])
    report(a, runs, fixed, truth)


def report(a: argparse.Namespace, runs: dict[str, list[Reading]], fixed: dict[str, float],
           truth: float | None) -> None:
    q, v = runs["qexplore"], runs["vllm-bench"]
    tps = [x.tps / y.tps for x, y in zip(q, v, strict=True)]
    ttft = [x.ttft_ms / y.ttft_ms for x, y in zip(q, v, strict=True)]
    print(f"users {a.users}, {a.prompts} prompts, {a.input_len} in / {a.output_len} out tokens, "
          f"{a.pairs} pairs, {a.server} server")
    print(f"run-to-run output tok/s: qexplore {spread([x.tps for x in q])}, "
          f"vllm bench {spread([x.tps for x in v])}")
    print(f"output tok/s ratio qexplore/vllm-bench: {ratio_interval(tps)} (95 %); median "
          f"{statistics.median(tps):.3f}, pairs {min(tps):.2f}–{max(tps):.2f}; target: the "
          "interval contains 1, within 0.95–1.05")
    print(f"median TTFT ratio  qexplore/vllm-bench: {ratio_interval(ttft)} (95 %); median "
          f"{statistics.median(ttft):.3f}, pairs {min(ttft):.2f}–{max(ttft):.2f}; target 0.90–1.10")
    for tool, rs in runs.items():
        per_k = [1e6 * r.level_cpu_s / (a.prompts * a.output_len) if r.level_cpu_s is not None
                 else 1000 * cpu_per_1000_tokens(r.cpu_s, fixed[tool], a.prompts, a.output_len)
                 for r in rs]
        how = ("as recorded over the requests" if rs[0].level_cpu_s is not None else
               f"less {fixed[tool]:.1f} s CPU of start-up: rough")
        print(f"client CPU per 1,000 tokens, {tool:10s}: median {statistics.median(per_k):6.1f} ms "
              f"(runs {min(per_k):.1f}–{max(per_k):.1f}; {how})")
    if truth:
        for tool, rs in runs.items():
            print(f"{tool:10s} / truth: output tok/s {ratio_interval([r.tps / truth for r in rs])}"
                  f", TTFT p50 {statistics.median(r.ttft_ms for r in rs) / a.ttft_ms:.3f}; "
                  "target within 3 %")


if __name__ == "__main__":
    main()
