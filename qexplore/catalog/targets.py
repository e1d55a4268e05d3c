"""Deployment targets a recipe can name: ``cpu``, a GPU name, or a compute capability."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from qexplore.cpu import CpuFeatures, VllmCpuKernels, cpu_features, vllm_cpu_kernels
from qexplore.registry import Registry


@dataclass(frozen=True)
class Target:
    """Where the variants will be served. ``capability`` is None for the CPU; a detected CPU
    target (:func:`detect_target`) also carries this CPU's features and vLLM's kernels for it."""

    name: str
    capability: float | None
    memory_gb: float | None = None
    cpu: CpuFeatures | None = None
    kernels: VllmCpuKernels | None = None

    @property
    def is_cpu(self) -> bool:
        return self.capability is None

    def describe(self) -> str:
        if self.is_cpu:
            if self.cpu is None:
                return "CPU (vLLM CPU backend)"
            lib = f", kernels {self.kernels.library}" if self.kernels and \
                self.kernels.library else ""
            return f"this CPU ({self.cpu.describe()}; vLLM CPU backend{lib})"
        mem = f", {self.memory_gb:g} GB" if self.memory_gb else ""
        return f"{self.name} (compute capability {self.capability:.1f}{mem})"


GPUS: Registry[Target] = Registry("target")
for _t in (
    Target("cpu", None),
    Target("T4", 7.5, 16),
    Target("RTX2080Ti", 7.5, 11),
    Target("A100", 8.0, 80),
    Target("A10", 8.6, 24),
    Target("A10G", 8.6, 24),
    Target("RTX3090", 8.6, 24),
    Target("RTXA6000", 8.6, 48),
    Target("L4", 8.9, 24),
    Target("L40S", 8.9, 48),
    Target("RTX4090", 8.9, 24),
    Target("H100", 9.0, 80),
    Target("H200", 9.0, 141),
    Target("B200", 10.0, 180),
    Target("RTX5090", 12.0, 32),
):
    GPUS.add(_t.name, _t)

_CAPABILITY = re.compile(r"^(sm_?)?(\d{1,2})\.?(\d)$", re.IGNORECASE)


def resolve_target(spec: str) -> Target:
    """``cpu``, a GPU name (``rtx3090``, ``RTX 3090``) or a capability (``8.6``, ``sm86``)."""
    text = spec.strip()
    m = _CAPABILITY.match(text.replace(" ", ""))
    if m:
        cap = float(f"{m.group(2)}.{m.group(3)}")
        return Target(f"sm_{m.group(2)}{m.group(3)}", cap)
    key = re.sub(r"[\s_-]", "", text)
    key = re.sub(r"^(nvidia|geforce)", "", key, flags=re.IGNORECASE)
    return GPUS.get(key)


def detect_target(spec: str) -> Target:
    """:func:`resolve_target`, plus, for ``cpu``, what this CPU and the installed vLLM can do
    (a few seconds the first time on a machine, cached after)."""
    target = resolve_target(spec)
    if not target.is_cpu:
        return target
    features = cpu_features()
    return dataclasses.replace(target, cpu=features, kernels=vllm_cpu_kernels(features))
