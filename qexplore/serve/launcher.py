"""What a vLLM server is started with: the argv (a list, never a shell string) and its env."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from qexplore import paths
from qexplore.cpu import force_env


@dataclass(frozen=True)
class ServerSpec:
    """One server to start. ``model`` is a local folder or a hub id."""

    model: str
    served_name: str
    run_dir: Path
    cpu: bool = True
    dtype: str = "auto"
    max_model_len: int | None = None
    kv_cache_gb: float = 2.0
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    tokenizer: str | None = None
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 300.0

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"server-{self.served_name}.log"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_argv(spec: ServerSpec, port: int) -> list[str]:
    """``vllm serve`` arguments for ``spec`` on 127.0.0.1:``port``."""
    argv = [
        str(paths.vllm_executable()), "serve", spec.model,
        "--host", "127.0.0.1", "--port", str(port),
        "--served-model-name", spec.served_name,
        "--dtype", spec.dtype,
        "--disable-uvicorn-access-log",
    ]
    if spec.tokenizer:
        argv += ["--tokenizer", spec.tokenizer]
    if spec.max_model_len:
        argv += ["--max-model-len", str(spec.max_model_len)]
    if spec.max_num_seqs:
        argv += ["--max-num-seqs", str(spec.max_num_seqs)]
    if spec.tensor_parallel_size > 1:
        argv += ["--tensor-parallel-size", str(spec.tensor_parallel_size)]
    if spec.pipeline_parallel_size > 1:
        argv += ["--pipeline-parallel-size", str(spec.pipeline_parallel_size)]
    if spec.cpu:
        # Eager mode: start-up ~40 s instead of ~90 s, and no 20 s first logprobs request.
        argv += ["--enforce-eager", "--kv-cache-memory-bytes", str(int(spec.kv_cache_gb * 2**30))]
    else:
        argv += ["--gpu-memory-utilization", str(spec.gpu_memory_utilization)]
    return argv + list(spec.extra_args)


def build_env(spec: ServerSpec, tmp: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: loopback only, its cache inside the run folder.

    ``tmp`` must be a short path: vLLM puts its ZMQ IPC sockets there, and a Unix socket path
    may not exceed 107 characters (a temp dir inside a deep run folder broke start-up).
    """
    env = dict(os.environ if base is None else base)
    env.update({
        "VLLM_HOST_IP": "127.0.0.1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "TMPDIR": str(tmp),
        "VLLM_CACHE_ROOT": str(spec.run_dir / "vllm-cache"),
        "PYTHONUNBUFFERED": "1",
    })
    if spec.cpu:
        env["TORCHDYNAMO_DISABLE"] = "1"
        env.update(force_env())  # QEXPLORE_CPU_ISA: the server sees the CPU qexplore sees
    if Path(spec.model).is_dir():
        env["HF_HUB_OFFLINE"] = "1"  # a local model needs nothing from a hub
    env.update(spec.env)
    return env
