"""Fidelity: qexplore's load tester vs `vllm bench serve` on the same vLLM-CPU server and the
same workload (random prompts, fixed input/output lengths, ignore_eos).

    .venv/bin/python bench/loadtest_fidelity.py [--users 8] [--prompts 256] [--pairs 5]

vLLM-CPU speeds up over its first runs (kernels for new batch shapes), so each tool first does
one discarded warm-up run. Then come ``--pairs`` back-to-back pairs in alternating order; each
pair gives a ratio qexplore / vllm-bench, and the median ratio is reported with its range and
each tool's run-to-run spread (a 2-core machine shared by server and client is noisy).
Targets: output tok/s within 5 %, median TTFT within 10 %.

``--server fake`` runs the same comparison against the fake server with injected latencies
(TTFT 50 ms, 10 ms per token), where the true values are known and nothing else is noisy:
expected TTFT 50 ms and output tok/s = users × output_len / (0.05 + (output_len − 1) × 0.01).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import OFFLINE, qexplore_random, read, vllm_bench

from qexplore import paths
from qexplore.demo.model import ensure_demo_model
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer

FAKE = Path(__file__).parents[1] / "tests" / "fakes" / "vllm"
REAL_VLLM = paths.vllm_executable()


def run_tool(tool: str, base_url: str, args: tuple[object, ...]) -> tuple[float, float, float]:
    """(output tok/s, median TTFT ms, mean prompt tokens as the server counted them) of one run
    of ``tool`` ("qexplore" or "vllm-bench")."""
    make = qexplore_random if tool == "qexplore" else vllm_bench
    cmd, out = make(base_url, *args)  # type: ignore[arg-type]
    subprocess.run(cmd, check=True, env=OFFLINE, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    data = read(out)
    if tool == "qexplore":
        import pandas as pd

        lv = data["levels"][0]
        prompt = float(pd.read_parquet(out.with_suffix(".parquet"))["prompt_tokens"].mean())
        return lv["output_tps"], lv["ttft_ms"]["p50"], prompt
    return (data["output_throughput"], data["median_ttft_ms"],
            data["total_input_tokens"] / data["completed"])


def spread(values: list[float]) -> str:
    return f"{min(values):.0f}–{max(values):.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--input-len", type=int, default=64)
    ap.add_argument("--output-len", type=int, default=64)
    ap.add_argument("--server", choices=["vllm", "fake"], default="vllm")
    a = ap.parse_args()
    model = str(ensure_demo_model())
    name = "demo"
    spec = ServerSpec(model=model, served_name=name, run_dir=Path(tempfile.mkdtemp()),
                      dtype="bfloat16", max_model_len=256, kv_cache_gb=1, max_num_seqs=64)
    if a.server == "fake":
        os.environ.update({"QEXPLORE_VLLM": str(FAKE), "QEXPLORE_FAKE_PYTHON": sys.executable,
                           "FAKE_TTFT_S": "0.05", "FAKE_ITL_S": "0.01"})
        truth = a.users * a.output_len / (0.05 + (a.output_len - 1) * 0.01)
        print(f"fake server: true TTFT 50 ms, true output {truth:.1f} tok/s")
    args = (name, model, a.users, a.prompts, a.input_len, a.output_len)
    runs: dict[str, list[tuple[float, float, float]]] = {"qexplore": [], "vllm-bench": []}
    with VllmServer(spec) as server:
        os.environ["QEXPLORE_VLLM"] = str(REAL_VLLM)  # `vllm bench` always from the serve env
        for tool in runs:
            tps, ttft, prompt = run_tool(tool, server.base_url, args)
            print(f"{tool:10s}: {tps:7.1f} tok/s  TTFT p50 {ttft:6.1f} ms  prompt {prompt:5.1f} "
                  "tokens  (warm-up, discarded)")
        for i in range(a.pairs):
            order = ["qexplore", "vllm-bench"] if i % 2 == 0 else ["vllm-bench", "qexplore"]
            for tool in order:
                runs[tool].append(run_tool(tool, server.base_url, args))
                tps, ttft, prompt = runs[tool][-1]
                print(f"{tool:10s}: {tps:7.1f} tok/s  TTFT p50 {ttft:6.1f} ms  prompt "
                      f"{prompt:5.1f} tokens", flush=True)
    q, v = runs["qexplore"], runs["vllm-bench"]
    tps_ratios = [qq[0] / vv[0] for qq, vv in zip(q, v, strict=True)]
    ttft_ratios = [qq[1] / vv[1] for qq, vv in zip(q, v, strict=True)]
    print(f"users {a.users}, {a.prompts} prompts, {a.input_len} in / {a.output_len} out tokens, "
          f"{a.pairs} pairs")
    print(f"run-to-run output tok/s: qexplore {spread([x[0] for x in q])}, "
          f"vllm bench {spread([x[0] for x in v])}")
    print(f"output tok/s ratio qexplore/vllm-bench: median {statistics.median(tps_ratios):.3f} "
          f"(pairs {min(tps_ratios):.2f}–{max(tps_ratios):.2f}; target 0.95–1.05)")
    print(f"median TTFT ratio  qexplore/vllm-bench: median {statistics.median(ttft_ratios):.3f} "
          f"(pairs {min(ttft_ratios):.2f}–{max(ttft_ratios):.2f}; target 0.90–1.10)")


if __name__ == "__main__":
    main()
