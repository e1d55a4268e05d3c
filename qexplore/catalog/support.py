"""Which scheme runs where: scheme × target → native / weight-only / unsupported.

GPU rows follow vLLM's documented compute-capability requirements; CPU rows are what vLLM's CPU
backend did on this project's machines (see DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from qexplore.catalog.targets import Target


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


@dataclass(frozen=True)
class CpuRule:
    """How vLLM's CPU backend serves a scheme: ``support`` when the kernel ``op`` it needs is
    there (or none is needed); ``missing`` says why it cannot run without it."""

    support: Support
    op: str | None = None
    missing: str = ""
    instead: str = ""


_CPU: dict[str, CpuRule] = {
    "baseline": CpuRule(Support(Level.NATIVE, "bf16 recommended on the CPU")),
    "W8A8": CpuRule(Support(Level.NATIVE, "served with bf16 activations on the CPU"),
                    "_C.onednn_scaled_mm", "vLLM's CPU INT8 GEMM (oneDNN) is missing"),
    "W4A16": CpuRule(Support(Level.NATIVE), "_C.cpu_gemm_wna16",
                     "vLLM's CPU INT4 kernel needs AVX-512", "W4A8 is the INT4 form that runs here"),
    "W4A8": CpuRule(Support(Level.NATIVE, "INT4 weights, dynamic INT8 activations (torch's "
                            "dynamic-quant kernel; any x86-64 CPU with AVX2)"),
                    "aten._dyn_quant_matmul_4bit", "this torch has no dynamic INT4 matmul"),
    "W8A16": CpuRule(Support(Level.UNSUPPORTED, "vLLM's CPU backend rejects W8A16 at start-up")),
    "FP8_DYNAMIC": CpuRule(Support(Level.NATIVE, "very slow on the CPU (~2.5 s per decode step)")),
    "FP8_BLOCK": CpuRule(Support(Level.NATIVE)),
    "NVFP4": CpuRule(Support(Level.UNSUPPORTED, "NVFP4 has no CPU kernels")),
    "prequantized": CpuRule(Support(Level.NATIVE, "depends on the checkpoint's scheme")),
}

# scheme: (minimum capability for native or None for never, its note; minimum for weight-only
# or None, its note). From vLLM 0.32's compressed-tensors schemes (get_min_capability) and its
# fallbacks: FP8 W8A8 below 8.9 becomes W8A16-FP8 through FP8 Marlin (from 7.5); NVFP4 below 10.0
# runs its weights through FP4 Marlin (from 7.5) with 16-bit activations.
_FP8_MARLIN = "FP8 weights through FP8 Marlin, 16-bit activations"
_GPU: dict[str, tuple[float | None, str, float | None, str]] = {
    "baseline": (7.5, "", None, ""),
    "W8A8": (7.5, "INT8 tensor cores", None, ""),
    "W4A16": (7.5, "Marlin fast path from 8.0", None, ""),
    "W4A8": (None, "int4 × int8 (W4A8) is a CPU scheme in qexplore; use W4A16 on GPUs", None, ""),
    "W8A16": (7.5, "Marlin fast path from 8.0", None, ""),
    "FP8_DYNAMIC": (8.9, "FP8 tensor cores", 7.5, _FP8_MARLIN),
    "FP8_BLOCK": (8.9, "FP8 tensor cores, block-wise scales", 7.5, _FP8_MARLIN),
    "NVFP4": (10.0, "FP4 tensor cores", 7.5, "FP4 weights through FP4 Marlin, 16-bit activations"),
    "prequantized": (7.5, "depends on the checkpoint's scheme", None, ""),
}

BF16_MIN_CAPABILITY = 8.0


def dtype_support(dtype: str, target: Target) -> Support | None:
    """Whether the target computes in the recipe's dtype: bf16 needs compute capability ≥ 8.0
    (vLLM serves ``auto`` in fp16 below that). None: nothing to say."""
    cap = target.capability
    if cap is None or cap >= BF16_MIN_CAPABILITY:
        return None
    if dtype == "bfloat16":
        return Support(Level.UNSUPPORTED, f"bfloat16 needs compute capability ≥ "
                       f"{BF16_MIN_CAPABILITY:.1f}, {target.name} has {cap:.1f}: set "
                       "model.dtype: float16")
    return Support(Level.NATIVE, "served in float16 (no bfloat16 below compute capability "
                   f"{BF16_MIN_CAPABILITY:.1f})")


def support(scheme: str, target: Target) -> Support:
    """How ``target`` can serve ``scheme`` (a canonical scheme name)."""
    if target.capability is None:
        return _cpu_support(_CPU[scheme], target)
    native, note, weight_only, fallback = _GPU[scheme]
    cap = target.capability
    if native is None:
        return Support(Level.UNSUPPORTED, note)
    if cap >= native:
        return Support(Level.NATIVE, note)
    if weight_only is not None and cap >= weight_only:
        return Support(Level.WEIGHT_ONLY, f"compute capability {cap:.1f} < {native:.1f}: "
                       f"{fallback}")
    needed = weight_only if weight_only is not None else native
    return Support(Level.UNSUPPORTED, f"needs compute capability ≥ {needed:.1f}, "
                   f"{target.name} has {cap:.1f}")


def variant_support(scheme: str, dtype: str, target: Target) -> Support:
    """:func:`support` of the scheme, refused where the target cannot compute in ``dtype``."""
    sup, about_dtype = support(scheme, target), dtype_support(dtype, target)
    if about_dtype is None or not sup.runnable:
        return sup
    if not about_dtype.runnable:
        return about_dtype
    return Support(sup.level, "; ".join(n for n in (sup.note, about_dtype.note) if n))


def _cpu_support(rule: CpuRule, target: Target) -> Support:
    """The rule's support, unless the detected vLLM kernels lack the op it needs."""
    kernels = target.kernels
    if rule.op is None or kernels is None or kernels.has(rule.op):
        return rule.support
    lib = f"vLLM loads {kernels.library} here" if kernels.library else "the installed vLLM has"
    how = "" if kernels.source == "vllm" else " (inferred from the CPU flags: no vLLM to ask)"
    instead = f"; {rule.instead}" if rule.instead else ""
    return Support(Level.UNSUPPORTED,
                   f"{rule.missing} ({lib}, without {rule.op}{how}){instead}")
