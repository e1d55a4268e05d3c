"""Capacity and roofline arithmetic: what a variant's weights take, how many tokens of KV cache
are left, and the fastest decode the target's memory and math allow at each concurrency.

Pure functions of the model's shape, the scheme and the target's figures; every assumption is a
named constant here and is printed with the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel

from qexplore.catalog.models import ModelShape
from qexplore.catalog.schemes import Scheme

GIB = 2**30
SCALE_BITS = 16  # one fp16/bf16 scale per group (or per output channel)
# Memory vLLM needs on a GPU besides weights and KV cache within gpu_memory_utilization: the
# CUDA context's share, the activation peak of its profiling forward pass and CUDA graphs. A
# stated allowance; each run records vLLM's own KV-cache size next to the estimate.
GPU_ALLOWANCE_GIB = 2.0
# vLLM 0.32's default KV-cache block size: 16 tokens on CUDA, 128 on the CPU backend
# (vllm/platforms/cpu.py); capacity is counted in whole blocks, as vLLM does.
BLOCK_TOKENS = {"gpu": 16, "cpu": 128}


def weight_bits(scheme: Scheme, group_size: int | None) -> float | None:
    """Bits a quantized linear weight takes with its scales (None: the checkpoint decides)."""
    if scheme.weight_bits is None:
        return None
    if scheme.weight_bits >= 16:
        return 16.0
    if scheme.scale_group:
        return scheme.weight_bits + scheme.scale_bits / scheme.scale_group
    if scheme.grouped and group_size:
        return scheme.weight_bits + SCALE_BITS / group_size
    return float(scheme.weight_bits)  # per-channel scales are counted per output channel


def weights_bytes(shape: ModelShape, scheme: Scheme, group_size: int | None,
                  dtype_bytes: float, head_quantized: bool) -> float | None:
    """Bytes of the weights as served: linear modules at the scheme's bits, embeddings and
    norms at 16 bit, ``lm_head`` at 16 bit unless the scheme quantizes it."""
    bits = weight_bits(scheme, group_size)
    if bits is None:
        return None
    if bits >= 16:
        return shape.parameters * dtype_bytes
    linear = shape.linear_params * bits / 8
    if not (scheme.grouped or scheme.scale_group):
        linear += shape.layers * _layer_outputs(shape) * SCALE_BITS / 8
    head = shape.head_params * (bits / 8 if head_quantized else dtype_bytes)
    return linear + head + (shape.embedding_params + shape.norm_params) * dtype_bytes


def _layer_outputs(shape: ModelShape) -> int:
    """Output channels of one layer's linear modules (one per-channel scale each)."""
    attn = (shape.heads + 2 * shape.kv_heads) * shape.head_dim + shape.hidden
    return attn + 2 * shape.intermediate + shape.hidden


@dataclass(frozen=True)
class KvCache:
    """The KV cache vLLM will have: bytes, whole blocks, and tokens as vLLM reports them."""

    bytes_per_token: float
    cache_bytes: float
    block_tokens: int
    max_model_len: int

    @property
    def blocks(self) -> int:
        return max(0, int(self.cache_bytes // (self.block_tokens * self.bytes_per_token)))

    @property
    def tokens(self) -> int:
        """vLLM's "KV cache size: N tokens": max concurrency at max_model_len × max_model_len."""
        return int(self.blocks / self._blocks_for(self.max_model_len) * self.max_model_len)

    def max_seqs(self, tokens_per_seq: int) -> int:
        """Sequences of ``tokens_per_seq`` tokens that fit at once."""
        return self.blocks // self._blocks_for(tokens_per_seq)

    def _blocks_for(self, tokens: int) -> int:
        return max(1, math.ceil(tokens / self.block_tokens))


def gpu_kv_bytes(memory_gib: float, utilization: float, weights: float) -> float:
    """KV-cache bytes on a GPU: memory × utilization − weights − the stated allowance."""
    return memory_gib * GIB * utilization - weights - GPU_ALLOWANCE_GIB * GIB


@dataclass(frozen=True)
class Bound:
    """The roofline bound on decode output tok/s at one concurrency."""

    users: int
    batch: int  # sequences decoded together (users, capped by max_num_seqs and the KV cache)
    memory_tps: float | None
    compute_tps: float | None

    @property
    def tps(self) -> float | None:
        known = [x for x in (self.memory_tps, self.compute_tps) if x is not None]
        return min(known) if known else None

    @property
    def kind(self) -> str | None:
        if self.tps is None:
            return None
        return "memory" if self.tps == self.memory_tps else "compute"


def decode_bound(users: int, batch: int, weights: float, kv_per_seq_bytes: float,
                 bandwidth_gbs: float | None, peak_tflops: float | None,
                 params_per_token: int) -> Bound:
    """Memory-bound: each decode step reads the weights once and the batch's KV cache, so
    tok/s = batch × bandwidth ÷ (weights + batch × KV per sequence); compute-bound: peak ÷
    (2 × parameters per token)."""
    memory = None
    if bandwidth_gbs:
        memory = batch * bandwidth_gbs * 1e9 / (weights + batch * kv_per_seq_bytes)
    compute = peak_tflops * 1e12 / (2 * params_per_token) if peak_tflops else None
    return Bound(users, batch, memory, compute)


def scheme_math(scheme: Scheme, weight_only: bool) -> str:
    """Which tensor-core math a scheme's matmuls run in (a :class:`Peaks` field): weight-only
    serving computes in 16 bit."""
    return "fp16" if weight_only else scheme.math


class WorkloadEstimate(BaseModel):
    name: str
    prompt_tokens: int  # per request, estimated (see CHARS_PER_TOKEN)
    output_tokens: int
    max_seqs: int | None  # sequences of prompt + output tokens the KV cache holds at once
    decode_bound_tps: dict[int, float | None]
    bound_kind: dict[int, str | None]
    level_seconds: dict[int, float | None]


class VariantEstimate(BaseModel):
    """A variant's capacity plan, as ``qexplore plan`` makes it and a sweep stores it."""

    name: str
    scheme: str
    support: str
    weights_gb: float | None  # the figure used: measured where known, else estimated
    weights_source: str  # "estimate" | "build" | "checkpoint"
    weights_gb_estimate: float | None
    bits_per_weight: float | None
    kv_bytes_per_token: float | None
    kv_cache_tokens: int | None
    max_seqs_at_max_len: int | None
    build_ram_gb: float | None = None  # host RAM its build needs (variants that are built)
    math: str = "fp16"  # the peak its matmuls run at (a Peaks field)
    gpus: int = 1  # tensor × pipeline parallel size (1 on the CPU)
    weights_gb_per_gpu: float | None = None  # each GPU's share of the weights
    workloads: list[WorkloadEstimate] = []
    unknown: list[str] = []  # what could not be estimated, and why
    problems: list[str] = []  # what will not fit (weights, a max_model_len sequence)

    def bound(self, workload: str, users: int) -> tuple[float | None, str | None]:
        """The decode bound and its kind at one level (None where not estimated)."""
        for w in self.workloads:
            if w.name == workload:
                return w.decode_bound_tps.get(users), w.bound_kind.get(users)
        return None, None
