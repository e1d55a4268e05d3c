"""The CPU as a serving target: its ISA features, and what the installed vLLM CPU build can run
on it.

vLLM's CPU build ships one kernel library per ISA level (``_C`` / ``_C_AVX512`` / ``_C_AVX2``)
and loads the one this CPU can run; the libraries differ in the ops they export (only the
AVX-512 ones have ``cpu_gemm_wna16``, vLLM's INT4 weight-only GEMM). So what a scheme needs is
checked against the installed vLLM itself: a short child process in the serve env lets vLLM
load its kernels and reports which library it loaded and which ops exist. The answer is cached
per vLLM install, CPU and forced ISA; without a serve env it falls back to the CPU's flags.

``QEXPLORE_CPU_ISA=avx2`` makes qexplore and every vLLM server it starts see an AVX2-only CPU
(torch's AVX-512/AMX checks answer False, ``ATEN_CPU_CAPABILITY=avx2``), so an AVX-512 machine
can run the AVX2 code path: portability checks run both ways.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from qexplore import paths

FORCE_VAR = "QEXPLORE_CPU_ISA"
FORCEABLE = ("avx2",)
# /proc/cpuinfo flags that decide what vLLM's CPU kernels can do, in the order shown.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile",
             "amx_bf16", "amx_int8", "asimd", "sve")
# Ops the scheme table asks about: vLLM's own (torch.ops._C) and torch's (torch.ops.aten).
OPS = ("_C.cpu_gemm_wna16", "_C.onednn_scaled_mm", "aten._dyn_quant_matmul_4bit")
FORCE_DIR = Path(__file__).parent / "serve" / "isa"


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU's model, architecture and ISA flags (as this process should see them)."""

    model: str
    arch: str
    flags: tuple[str, ...]
    forced: str | None = None

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def isa(self) -> str:
        """A short name: ``AVX-512 (BF16, VNNI, AMX)``, ``AVX2``, ``Arm NEON``…"""
        if self.has("avx512f"):
            extra = [n for f, n in (("avx512_bf16", "BF16"), ("avx512_vnni", "VNNI"),
                                    ("amx_tile", "AMX")) if self.has(f)]
            return "AVX-512" + (f" ({', '.join(extra)})" if extra else "")
        if self.has("avx2"):
            return "AVX2"
        return {"aarch64": "Arm NEON" + (" + SVE" if self.has("sve") else "")}.get(
            self.arch, f"{self.arch} (no AVX2)")

    def describe(self) -> str:
        forced = f", forced by {FORCE_VAR}={self.forced}" if self.forced else ""
        return f"{self.model}, {self.isa}{forced}"


def forced_isa() -> str | None:
    """The ISA level ``QEXPLORE_CPU_ISA`` forces, if any (unknown values are an error)."""
    value = os.environ.get(FORCE_VAR, "").strip().lower() or None
    if value is not None and value not in FORCEABLE:
        from qexplore.errors import HardwareError

        raise HardwareError(f"{FORCE_VAR}={value}: only {', '.join(FORCEABLE)} can be forced")
    return value


def cpu_features(cpuinfo: str | None = None) -> CpuFeatures:
    """This CPU's features, read once from ``/proc/cpuinfo`` (or the text given)."""
    text = cpuinfo if cpuinfo is not None else _read_cpuinfo()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first CPU's line of each kind
    model = fields.get("model name") or fields.get("Model") or platform.processor()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    forced = forced_isa()
    if forced == "avx2":
        flags = {f for f in flags if not f.startswith(("avx512", "amx"))}
    found = tuple(f for f in ISA_FLAGS if f in flags)
    return CpuFeatures(model or platform.machine(), platform.machine(), found, forced)


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def force_env() -> dict[str, str]:
    """Environment for a serve-env process so it sees the forced ISA ({} when none is forced)."""
    if forced_isa() != "avx2":
        return {}
    pythonpath = os.pathsep.join(p for p in (str(FORCE_DIR), os.environ.get("PYTHONPATH")) if p)
    return {FORCE_VAR: "avx2", "ATEN_CPU_CAPABILITY": "avx2", "PYTHONPATH": pythonpath}


@dataclass(frozen=True)
class VllmCpuKernels:
    """What the installed vLLM CPU build loads on this CPU: its kernel library (all of them,
    joined by ``+``, should it ever map more than one) and the ops qexplore's scheme table asks
    about. ``source`` says how it was found out."""

    library: str | None
    ops: dict[str, bool] = field(default_factory=dict)
    source: str = "vllm"  # "vllm": asked the installed vLLM; "cpu flags": inferred

    def has(self, op: str) -> bool:
        return self.ops.get(op, False)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_PROBE = """
import json, sys, torch
from vllm.platforms.cpu import CpuPlatform
CpuPlatform.import_kernels()
def has(op):
    ns, _, name = op.partition(".")
    return hasattr(getattr(torch.ops, ns), name)
libs = {l.split()[-1].rsplit("/", 1)[-1] for l in open("/proc/self/maps")
        if "/vllm/_C" in l and ".so" in l}
print(json.dumps({"library": "+".join(sorted(libs)) or None,
                  "ops": {op: has(op) for op in sys.argv[1:]}}))
"""


def vllm_cpu_kernels(features: CpuFeatures | None = None) -> VllmCpuKernels:
    """Ask the installed vLLM (cached); infer from the CPU's flags when it cannot be asked."""
    feats = features or cpu_features()
    python = paths.serve_python()
    if not python.exists():
        return _inferred(feats)
    cache = paths.home() / "cpu-kernels" / f"{_probe_key(python, feats)}.json"
    found = _cached(cache, VllmCpuKernels, lambda: _probe(python))
    return _inferred(feats) if found is None else found


T = TypeVar("T")


def _cached(path: Path, kind: Callable[..., T], make: Callable[[], T | None]) -> T | None:
    """``kind(**json)`` read from ``path``; else ``make()``, written there when it gives one."""
    try:
        return kind(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    found = make()
    if found is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(found)))  # type: ignore[call-overload]
        except OSError:  # a cache that cannot be written: measured again next time
            pass
    return found


def _probe_key(python: Path, feats: CpuFeatures) -> str:
    exe = paths.vllm_executable()
    stamp = exe.stat().st_mtime if exe.exists() else 0
    text = json.dumps([str(python.resolve()), stamp, feats.flags, feats.forced, OPS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _probe(python: Path) -> VllmCpuKernels | None:
    env = {**os.environ, **force_env(), "VLLM_LOGGING_LEVEL": "ERROR"}
    try:
        out = subprocess.run([str(python), "-c", _PROBE, *OPS], capture_output=True, text=True,
                             timeout=180, env=env, check=True).stdout
        data = json.loads(out.strip().splitlines()[-1])
        return VllmCpuKernels(data["library"], data["ops"], "vllm")
    except (subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError):
        return None


def _inferred(feats: CpuFeatures) -> VllmCpuKernels:
    """What vLLM 0.32's CPU build is known to load and export (DESIGN.md), from the flags."""
    x86 = feats.arch in ("x86_64", "AMD64")
    avx512 = feats.has("avx512f")
    name = "_C" if avx512 and feats.has("avx512_bf16") else "_C_AVX512" if avx512 else "_C_AVX2"
    library = f"{name}.abi3.so" if x86 else None
    ops = {"_C.cpu_gemm_wna16": avx512 or not x86, "_C.onednn_scaled_mm": True,
           "aten._dyn_quant_matmul_4bit": True}
    return VllmCpuKernels(library, ops, "cpu flags")


@dataclass(frozen=True)
class CpuSpeed:
    """This CPU's memory bandwidth and matmul rate as qexplore measured them (the CPU target's
    figures for the roofline: no datasheet knows a shared, virtualised CPU)."""

    bandwidth_gbs: float  # a 256 MiB tensor copy on all threads: bytes read + written ÷ time
    matmul_tflops: float  # float32 2048² matmul on all threads (vLLM-CPU's bf16 math on AVX2)
    threads: int


def cpu_speed(features: CpuFeatures | None = None) -> CpuSpeed:
    """Measured once per CPU and the cores this process may use (about two seconds; each
    figure the best of five), cached after."""
    feats = features or cpu_features()
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1
    key = hashlib.sha256(json.dumps([feats.model, feats.flags, threads]).encode()).hexdigest()
    found = _cached(paths.home() / "cpu-speed" / f"{key[:16]}.json", CpuSpeed,
                    lambda: _measure_speed(threads))
    assert found is not None  # a measurement always gives one
    return found


def _measure_speed(threads: int, repeats: int = 5) -> CpuSpeed:
    import time

    import torch

    def best(fn: Any) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    src = torch.ones(2**28 // 4, dtype=torch.float32)
    dst = torch.empty_like(src)
    copy_s = best(lambda: dst.copy_(src))
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    mm_s = best(lambda: a @ b)
    return CpuSpeed(round(2 * 2**28 / copy_s / 1e9, 2), round(2 * n**3 / mm_s / 1e12, 4),
                    threads)
