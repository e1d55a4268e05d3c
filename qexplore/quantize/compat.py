"""Which scheme runs where: scheme × target → native / weight-only / unsupported.

GPU rows follow vLLM's documented compute-capability requirements; CPU rows are what vLLM's CPU
backend did on this project's machines (see DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from qexplore.targets import Target


class Level(str, Enum):
    NATIVE = "native"
    WEIGHT_ONLY = "weight-only"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Support:
    level: Level
    note: str = ""

    @property
    def runnable(self) -> bool:
        return self.level is not Level.UNSUPPORTED


_CPU: dict[str, Support] = {
    "baseline": Support(Level.NATIVE, "bf16 recommended on the CPU"),
    "W8A8": Support(Level.NATIVE, "served with bf16 activations on the CPU"),
    "W4A16": Support(Level.NATIVE),
    "W8A16": Support(Level.UNSUPPORTED, "vLLM's CPU backend rejects W8A16 at start-up"),
    "FP8_DYNAMIC": Support(Level.NATIVE, "very slow on the CPU (~2.5 s per decode step)"),
    "FP8_BLOCK": Support(Level.NATIVE),
    "NVFP4": Support(Level.UNSUPPORTED, "NVFP4 has no CPU kernels"),
    "prequantized": Support(Level.NATIVE, "depends on the checkpoint's scheme"),
}

# (scheme, minimum capability for native, minimum for weight-only or None)
_GPU: dict[str, tuple[float, float | None, str]] = {
    "baseline": (7.0, None, ""),
    "W8A8": (7.5, None, "INT8 tensor cores"),
    "W4A16": (7.5, None, "Marlin fast path from 8.0"),
    "W8A16": (7.5, None, "Marlin fast path from 8.0"),
    "FP8_DYNAMIC": (8.9, 8.0, "FP8 weights through Marlin, 16-bit activations"),
    "FP8_BLOCK": (8.9, 8.0, "FP8 weights through Marlin, 16-bit activations"),
    "NVFP4": (10.0, None, "FP4 tensor cores"),
    "prequantized": (7.0, None, "depends on the checkpoint's scheme"),
}


def support(scheme: str, target: Target) -> Support:
    """How ``target`` can serve ``scheme`` (a canonical scheme name)."""
    if target.capability is None:
        return _CPU[scheme]
    native, weight_only, note = _GPU[scheme]
    cap = target.capability
    if cap >= native:
        return Support(Level.NATIVE, note)
    if weight_only is not None and cap >= weight_only:
        return Support(Level.WEIGHT_ONLY, f"compute capability {cap:.1f} < {native:.1f}: {note}")
    needed = weight_only if weight_only is not None else native
    return Support(Level.UNSUPPORTED, f"needs compute capability ≥ {needed:.1f}, "
                   f"{target.name} has {cap:.1f}")

