"""Deployment targets a recipe can name: ``cpu``, a GPU name, or a compute capability."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from qexplore.cpu import CpuFeatures, VllmCpuKernels, cpu_features, vllm_cpu_kernels
from qexplore.registry import Registry


@dataclass(frozen=True)
class Peaks:
    """Dense (no sparsity) tensor-core peaks, in TFLOPS (TOPS for INT8), by the math a scheme
    runs in. 16-bit figures are with FP32 accumulation (what vLLM's kernels use): GeForce cards
    run it at half their FP16-accumulate rate. None: the card has no such math (or no published
    figure)."""

    fp16: float | None
    int8: float | None
    fp8: float | None = None
    fp4: float | None = None


@dataclass(frozen=True)
class Target:
    """Where the variants will be served. ``capability`` is None for the CPU; a detected CPU
    target (:func:`detect_target`) also carries this CPU's features and vLLM's kernels for it.
    ``memory_gb`` is the card's nominal memory, as its datasheet gives it and counted as GiB
    (cards that reserve some for ECC report a few % less; on the card itself the plan uses what
    its driver reports), ``bandwidth_gbs`` its memory bandwidth (GB/s)."""

    name: str
    capability: float | None
    memory_gb: float | None = None
    bandwidth_gbs: float | None = None
    peaks: Peaks | None = None
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
        bw = f", {self.bandwidth_gbs:,.0f} GB/s" if self.bandwidth_gbs else ""
        return f"{self.name} (compute capability {self.capability:.1f}{mem}{bw})"


GPUS: Registry[Target] = Registry("target")
# name, compute capability, memory GB, bandwidth GB/s, dense peaks (FP16/BF16 with FP32
# accumulate, INT8, FP8, FP4). Sources (vendor datasheets and architecture whitepapers):
for _t in (
    Target("cpu", None),
    # NVIDIA T4 Tensor Core GPU datasheet: 16 GB, 320 GB/s, mixed-precision 65 TFLOPS, INT8 130.
    Target("T4", 7.5, 16, 320, Peaks(65, 130)),
    # NVIDIA Turing architecture whitepaper, Table 1 (reference RTX 2080 Ti): 11 GB, 616 GB/s,
    # FP16 tensor with FP32 accumulate 53.8 TFLOPS, INT8 215.2 TOPS.
    Target("RTX2080Ti", 7.5, 11, 616, Peaks(53.8, 215.2)),
    # NVIDIA A100 datasheet (80GB SXM): 2,039 GB/s, BF16/FP16 312 TFLOPS, INT8 624 TOPS (dense).
    Target("A100", 8.0, 80, 2039, Peaks(312, 624)),
    # NVIDIA A10 datasheet: 24 GB, 600 GB/s, BF16/FP16 125 TFLOPS, INT8 250 TOPS (dense).
    Target("A10", 8.6, 24, 600, Peaks(125, 250)),
    # AWS EC2 G5 documentation: 24 GB; 600 GB/s as given by baseten.co ("NVIDIA A10 vs A10G
    # for ML model inference"). NVIDIA publishes no A10G datasheet and its tensor peaks are
    # below the A10's: declare them in the recipe (hardware:) for a compute bound.
    Target("A10G", 8.6, 24, 600),
    # NVIDIA Ampere GA102 GPU architecture whitepaper, Table (GeForce RTX 3090): 24 GB,
    # 936 GB/s, FP16/BF16 tensor with FP32 accumulate 71 TFLOPS, INT8 284 TOPS (dense).
    Target("RTX3090", 8.6, 24, 936, Peaks(71, 284)),
    # NVIDIA RTX A6000 datasheet: 48 GB, 768 GB/s, tensor 309.7 TFLOPS with sparsity (154.8
    # dense); GA102 whitepaper: INT8 309.7 TOPS dense.
    Target("RTXA6000", 8.6, 48, 768, Peaks(154.8, 309.7)),
    # NVIDIA L4 datasheet: 24 GB, 300 GB/s, FP16 121, FP8 242.5, INT8 242.5 (dense: half the
    # datasheet's with-sparsity figures).
    Target("L4", 8.9, 24, 300, Peaks(121, 242.5, 242.5)),
    # NVIDIA L40S datasheet: 48 GB, 864 GB/s, BF16/FP16 362.05, FP8 733, INT8 733 (dense).
    Target("L40S", 8.9, 48, 864, Peaks(362.05, 733, 733)),
    # NVIDIA Ada Lovelace architecture whitepaper, Appendix (GeForce RTX 4090): 24 GB,
    # 1,008 GB/s, FP16 with FP32 accumulate 165.2, FP8 with FP32 accumulate 330.3, INT8 660.6.
    Target("RTX4090", 8.9, 24, 1008, Peaks(165.2, 660.6, 330.3)),
    # NVIDIA H100 datasheet (SXM5): 80 GB, 3.35 TB/s, BF16 1,979 / FP8 3,958 / INT8 3,958 with
    # sparsity: dense 989.5 / 1,979 / 1,979.
    Target("H100", 9.0, 80, 3350, Peaks(989.5, 1979, 1979)),
    # NVIDIA H200 datasheet (SXM): 141 GB, 4.8 TB/s, the H100 SXM's tensor peaks.
    Target("H200", 9.0, 141, 4800, Peaks(989.5, 1979, 1979)),
    # NVIDIA HGX B200 specifications, per GPU: 180 GB, 7.7 TB/s; with sparsity FP16/BF16 4.5 PF,
    # FP8/INT8 9 PF, FP4 18 PF: dense 2,250 / 4,500 / 4,500 / 9,000 TFLOPS.
    Target("B200", 10.0, 180, 7700, Peaks(2250, 4500, 4500, 9000)),
    # NVIDIA GeForce RTX 5090 specifications: 32 GB, 1,792 GB/s, 3,352 AI TOPS (FP4 with
    # sparsity); dense peaks derived from the RTX Blackwell whitepaper's pattern (dense = ½
    # sparse, GeForce FP32 accumulate at half rate): FP16 209.5, INT8 838, FP8 419, FP4 1,676.
    Target("RTX5090", 12.0, 32, 1792, Peaks(209.5, 838, 419, 1676)),
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
    key = re.sub(r"^(nvidia)?(geforce)?", "", key, flags=re.IGNORECASE)
    return GPUS.get(key)


def card_target(card: str) -> Target | None:
    """The table's entry for a card as the driver names it ("NVIDIA GeForce RTX 3090",
    "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB", "Tesla T4"): its leading words joined
    must be a table name; a "Ti"/"SUPER" after them is another card (None)."""
    words = [w for w in re.split(r"[\s_-]+", card.lower()) if w not in _VENDOR_WORDS]
    names = {t.name.lower(): t for t in GPUS if t.capability is not None}
    for n in range(len(words), 0, -1):
        found = names.get("".join(words[:n]))
        if found is not None:
            return None if words[n:n + 1] in (["ti"], ["super"]) else found
    return None


_VENDOR_WORDS = {"nvidia", "geforce", "tesla", ""}


def detect_target(spec: str) -> Target:
    """:func:`resolve_target`, plus, for ``cpu``, what this CPU and the installed vLLM can do
    (a few seconds the first time on a machine, cached after)."""
    target = resolve_target(spec)
    if not target.is_cpu:
        return target
    features = cpu_features()
    return dataclasses.replace(target, cpu=features, kernels=vllm_cpu_kernels(features))
