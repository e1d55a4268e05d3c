"""Client cost: CPU seconds per 1,000 streamed tokens, qexplore's client vs `vllm bench serve`,
against the fake server answering instantly (so the client is all there is to measure).

    .venv/bin/python bench/client_cost.py [--prompts 400] [--output-len 256] [--users 16] [--runs 2]

Each tool's fixed start-up cost (imports, tokenizer) is measured with a 1-request run at 1 user
and subtracted, leaving the marginal cost of streaming; each figure is the least of ``--runs``
runs. Target: ratio ≤ 1.0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import OFFLINE, child_cpu_seconds, cpu_per_1000_tokens, qexplore_random, vllm_bench

from qexplore.demo.model import ensure_demo_model
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer

FAKE = Path(__file__).parents[1] / "tests" / "fakes" / "vllm"


def marginal(make: object, base_url: str, tokenizer: str, a: argparse.Namespace) -> float:
    """CPU seconds per 1,000 tokens beyond the tool's 1-request cost (the least of the runs)."""
    def cpu(users: int, prompts: int) -> float:
        runs = []
        for _ in range(a.runs):
            cmd, _out = make(base_url, "fake", tokenizer, users, prompts, 32, a.output_len)  # type: ignore[operator]
            runs.append(child_cpu_seconds(cmd, OFFLINE))
        return min(runs)

    return cpu_per_1000_tokens(cpu(a.users, a.prompts), cpu(1, 1), a.prompts, a.output_len)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=400)
    ap.add_argument("--output-len", type=int, default=256)
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    tokenizer = str(ensure_demo_model())
    os.environ.update({"QEXPLORE_VLLM": str(FAKE), "QEXPLORE_FAKE_PYTHON": sys.executable})
    spec = ServerSpec(model="fake", served_name="fake", run_dir=Path(tempfile.mkdtemp()))
    from qexplore import paths

    real_vllm = paths.serve_env() / "bin" / "vllm"
    with VllmServer(spec) as server:
        os.environ["QEXPLORE_VLLM"] = str(real_vllm)  # `vllm bench` runs from the real serve env
        started = time.time()
        q = marginal(qexplore_random, server.base_url, tokenizer, a)
        v = marginal(vllm_bench, server.base_url, tokenizer, a)
    print(f"{a.prompts} requests × {a.output_len} tokens at {a.users} users, fake server")
    print(f"qexplore   : {q * 1000:.1f} ms CPU per 1,000 streamed tokens")
    print(f"vllm bench : {v * 1000:.1f} ms CPU per 1,000 streamed tokens")
    print(f"ratio qexplore/vllm-bench: {q / v:.3f}  (target ≤ 1.0)  [{time.time() - started:.0f} s]")


if __name__ == "__main__":
    main()
