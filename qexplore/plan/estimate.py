"""The capacity plan: per variant, before any download or GPU work, what its weights take, how
much KV cache is left, the roofline bound on decode output tok/s at each level, and how long the
levels will take. A sweep stores each variant's estimate, so every measured level can be read as
a % of its bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qexplore.catalog import capacity as cap
from qexplore.catalog.capacity import VariantEstimate, WorkloadEstimate
from qexplore.catalog.models import ModelShape, ShapeUnknown, local_folder, model_shape
from qexplore.catalog.prompts import PROMPT_SETS
from qexplore.catalog.schemes import SCHEMES, Scheme
from qexplore.catalog.support import Level, Support
from qexplore.catalog.targets import Peaks, card_target
from qexplore.cpu import cpu_speed
from qexplore.environment import Gpu, nvidia_gpus
from qexplore.quantize.checkpoint import served_bytes
from qexplore.recipes.schema import Recipe, Variant, Workload

PROMPTS_DIR = Path(__file__).parents[1] / "loadtest" / "prompts"
CHARS_PER_TOKEN = 4  # English text; the plan's prompt lengths are estimates, stated as such
CHAT_TEMPLATE_TOKENS = 30  # what a chat template adds around a short prompt
# Share of the bound a level is assumed to reach when no earlier run says better (the time
# estimate only; "% of bound" is always measured ÷ bound).
ASSUMED_EFFICIENCY = {"gpu": 0.8, "cpu": 0.5}
BUILD_LIBRARIES_GB = 2.0  # torch, transformers and llm-compressor in a build's process
# Prompt logprobs (lm-eval's log-likelihood requests) make vLLM compute float32 logits over the
# whole vocabulary for every prompt token, request by request, beside their log-softmax and a
# gathered copy: ~12 bytes per token per vocabulary entry, outside the memory vLLM profiles,
# so from what gpu_memory_utilization leaves (less the CUDA context's share).
LOGPROB_BYTES = 12
CUDA_CONTEXT_GIB = 0.5
MIN_UTILIZATION = 0.3  # below this, suggesting a lower utilization is no advice


class TargetFigures(BaseModel):
    """The target's figures the plan used, and where each came from."""

    name: str
    capability: float | None
    memory_gb: float | None
    bandwidth_gbs: float | None
    peaks: dict[str, float | None]
    sources: dict[str, str]

    @property
    def is_cpu(self) -> bool:
        return self.capability is None

    def peak(self, math_name: str) -> float | None:
        return self.peaks.get(math_name)


def target_figures(recipe: Recipe, gpus: list[Gpu] | None = None) -> TargetFigures:
    """The target's memory, bandwidth and peaks: the recipe's ``hardware`` where declared, else
    qexplore's GPU table (the memory this machine's card reports, when it is the target), else
    (the CPU) qexplore's own measurement. ``gpus``: this machine's (default: nvidia-smi's)."""
    t, hw = recipe.resolved.target, recipe.hardware
    gpus = nvidia_gpus() if gpus is None and not t.is_cpu else gpus or []
    if t.is_cpu:
        speed = cpu_speed(t.cpu)
        how = f"measured by qexplore ({speed.threads} threads)"
        peaks: dict[str, float | None] = dict.fromkeys(("fp16", "int8", "fp8", "fp4"),
                                                       speed.matmul_tflops)
        figures: dict[str, Any] = {"memory_gb": None, "bandwidth_gbs": speed.bandwidth_gbs}
        sources = {"bandwidth_gbs": how, "peaks": how + ", float32 matmul for every scheme"}
    else:
        p = t.peaks or Peaks(None, None)
        peaks = {"fp16": p.fp16, "int8": p.int8, "fp8": p.fp8, "fp4": p.fp4}
        figures = {"memory_gb": t.memory_gb, "bandwidth_gbs": t.bandwidth_gbs}
        sources = dict.fromkeys(("memory_gb", "bandwidth_gbs", "peaks"),
                                "qexplore's GPU table (vendor datasheets, cited in "
                                "catalog/targets.py)")
        here = next((g for g in gpus if (c := card_target(g.name)) and c.name == t.name), None)
        if here is not None:  # the card itself: what its driver reports, not the nominal
            figures["memory_gb"], sources["memory_gb"] = here.memory_gb, "detected (nvidia-smi)"
    declared = {"memory_gb": hw.memory_gb, "bandwidth_gbs": hw.memory_bandwidth_gbs}
    for k, v in declared.items():
        if v is not None:
            figures[k], sources[k] = v, "declared in the recipe"
    for k, v in {"fp16": hw.fp16_tflops, "int8": hw.int8_tops, "fp8": hw.fp8_tflops,
                 "fp4": hw.fp4_tflops}.items():
        if v is not None:
            peaks[k], sources[f"peaks.{k}"] = v, "declared in the recipe"
    return TargetFigures(name=t.name, capability=t.capability, peaks=peaks, sources=sources,
                         **figures)


def prompt_tokens(recipe: Recipe, w: Workload) -> int:
    """A workload's typical prompt length in tokens (exact for 'random')."""
    if w.prompts == "random":
        return w.input_len or 1
    where = recipe.resolved.prompts(w.prompts)
    path = PROMPTS_DIR / f"{where}.jsonl" if where in PROMPT_SETS else Path(where)
    try:
        lengths = [len(json.loads(line).get("prompt", "")) for line in
                   path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError, AttributeError):
        lengths = []
    chars = sum(lengths) / len(lengths) if lengths else 0
    extra = CHAT_TEMPLATE_TOKENS if w.api == "chat" else 0
    return max(1, round(chars / CHARS_PER_TOKEN) + extra)


def estimate_variant(recipe: Recipe, v: Variant, support: Support, served: str | None,
                     figures: TargetFigures, efficiency: float | None = None
                     ) -> VariantEstimate:
    """One variant's estimate; ``served`` is the checkpoint it is (or will be) served from,
    when it is on disk (its real size replaces the estimate)."""
    scheme = SCHEMES.get(v.scheme)
    unknown: list[str] = []
    try:
        shape: ModelShape | None = model_shape(recipe.resolved.model)
    except ShapeUnknown as e:
        shape, unknown = None, [str(e)]
    est = _estimated_weights(recipe, v, scheme, shape)
    real = _real_weights(served)
    weights = real if real is not None else est
    base = dict(name=v.name, scheme=v.scheme, support=support.level.value,
                weights_gb=_gb(weights), weights_gb_estimate=_gb(est),
                build_ram_gb=_build_ram_gb(recipe, v, shape),
                weights_source="estimate" if real is None else
                ("checkpoint" if v.scheme in ("baseline", "prequantized") else "build"))
    if shape is None or weights is None:
        if weights is None and shape is not None:
            unknown.append(f"{v.name}: the weights of a {v.scheme} checkpoint are known once it "
                           "is on disk")
        return VariantEstimate(**base, bits_per_weight=None, kv_bytes_per_token=None,
                               kv_cache_tokens=None, max_seqs_at_max_len=None, unknown=unknown)
    return _with_capacity(recipe, v, base, shape, weights, support, figures, efficiency,
                          unknown)


def _with_capacity(recipe: Recipe, v: Variant, base: dict[str, Any], shape: ModelShape,
                   weights: float, support: Support, figures: TargetFigures,
                   efficiency: float | None, unknown: list[str]) -> VariantEstimate:
    kv_bpt = shape.kv_bytes_per_token(_kv_dtype_bytes(recipe, v))
    max_len = recipe.model.max_model_len or shape.max_position or 4096
    gpus = max(1, recipe.gpus_per_variant)
    kv = cap.KvCache(kv_bpt, _kv_cache_bytes(recipe, figures, weights, unknown),
                     cap.BLOCK_TOKENS["cpu" if figures.is_cpu else "gpu"], max_len)
    math_name = cap.scheme_math(SCHEMES.get(v.scheme), support.level is Level.WEIGHT_ONLY)
    eff = efficiency or ASSUMED_EFFICIENCY["cpu" if figures.is_cpu else "gpu"]
    # a decode step reads every weight but the embedding table (it looks up a few rows)
    read = weights - (0 if shape.tied else shape.embedding_params * _dtype_bytes(recipe))
    # tensor parallel: each GPU reads and multiplies its shard of every layer at once; pipeline
    # stages run one after another within a step, so they add memory, not speed
    tp = recipe.serve.tensor_parallel_size if not figures.is_cpu else 1
    bandwidth = figures.bandwidth_gbs * tp if figures.bandwidth_gbs else None
    peak = figures.peak(math_name)
    workloads = [_workload(recipe, w, kv, read, bandwidth, peak * tp if peak else None,
                           shape.params_per_token, eff)
                 for w in recipe.workloads]
    if figures.bandwidth_gbs is None:
        unknown.append(f"{figures.name}: no memory bandwidth known (declare "
                       "hardware.memory_bandwidth_gbs): no memory bound")
    return VariantEstimate(**base, math=math_name, gpus=gpus,
                           weights_gb_per_gpu=_gb(weights / gpus),
                           bits_per_weight=round(8 * weights / shape.parameters, 3),
                           kv_bytes_per_token=kv_bpt, kv_cache_tokens=kv.tokens,
                           max_seqs_at_max_len=kv.max_seqs(max_len), workloads=workloads,
                           unknown=unknown, problems=_misfits(v.name, kv, weights, figures))


def _misfits(name: str, kv: cap.KvCache, weights: float, figures: TargetFigures) -> list[str]:
    """What will not fit: the weights beside any KV cache, one max_model_len sequence."""
    where = f"{figures.name}" + ("" if figures.is_cpu else " at this gpu_memory_utilization")
    if kv.blocks == 0:
        return [f"{name}: its weights ({weights / 1e9:.1f} GB) leave no room for a KV cache on "
                f"{where}: vLLM will not start"]
    if kv.max_seqs(kv.max_model_len) == 0:
        room = kv.blocks * kv.block_tokens
        return [f"{name}: the KV cache ({room:,} tokens) cannot hold one sequence of "
                f"max_model_len {kv.max_model_len:,} on {where}: vLLM will not start; set "
                f"model.max_model_len ≤ {room:,}"]
    return []


def _workload(recipe: Recipe, w: Workload, kv: cap.KvCache, weights_read: float,
              bandwidth: float | None, peak: float | None, params_per_token: int,
              efficiency: float) -> WorkloadEstimate:
    prompt = prompt_tokens(recipe, w)
    fits = kv.max_seqs(prompt + w.max_tokens)
    context = prompt + w.max_tokens / 2  # KV read per sequence, averaged over its decode
    bounds = {}
    for users in w.concurrency:
        batch = min(users, fits, recipe.serve.max_num_seqs or users)
        bounds[users] = cap.decode_bound(users, batch, weights_read,
                                         context * kv.bytes_per_token, bandwidth, peak,
                                         params_per_token) if batch else cap.Bound(users, 0,
                                                                                   None, None)

    def tokens(users: int) -> int:  # measured and warm-up requests (default one per user)
        return (w.requests_at(users) + (w.warmup if w.warmup is not None else users)) * w.max_tokens

    return WorkloadEstimate(
        name=w.name, prompt_tokens=prompt, output_tokens=w.max_tokens, max_seqs=fits,
        decode_bound_tps={u: _round(b.tps) for u, b in bounds.items()},
        bound_kind={u: b.kind for u, b in bounds.items()},
        level_seconds={u: _round(tokens(u) / (b.tps * efficiency)) if b.tps else None
                       for u, b in bounds.items()})


def _build_ram_gb(recipe: Recipe, v: Variant, shape: ModelShape | None) -> float | None:
    """Host RAM a build needs: llm-compressor loads the base model whole, in 16 bit, beside
    the libraries (a stated allowance; each build records its real peak)."""
    if shape is None or v.scheme in ("baseline", "prequantized"):
        return None
    return round(shape.parameters * _dtype_bytes(recipe) / 1e9 + BUILD_LIBRARIES_GB, 1)


def _estimated_weights(recipe: Recipe, v: Variant, scheme: Scheme, shape: ModelShape | None
                       ) -> float | None:
    if shape is None:
        return None
    return cap.weights_bytes(shape, scheme, v.group_size, _dtype_bytes(recipe),
                             head_quantized="lm_head" not in v.ignore)


def _dtype_bytes(recipe: Recipe) -> int:
    """Bytes of a 16-bit (or float32) weight or activation as the recipe serves them."""
    return 4 if recipe.model.dtype == "float32" else 2


def _real_weights(served: str | None) -> float | None:
    """Bytes of the weights as served, from a checkpoint on disk (None when not on disk)."""
    folder = local_folder(served) if served else None
    return None if folder is None else float(served_bytes(folder)) or None


def _kv_cache_bytes(recipe: Recipe, figures: TargetFigures, weights: float,
                    unknown: list[str]) -> float:
    if figures.is_cpu:
        return int(recipe.serve.kv_cache_gb * cap.GIB)  # what the launcher passes to vLLM
    if figures.memory_gb is None:
        unknown.append(f"{figures.name}: memory unknown (declare hardware.memory_gb)")
        return 0.0
    gpus = max(1, recipe.gpus_per_variant)  # each holds 1/gpus of the weights and its own KV
    return gpus * cap.gpu_kv_bytes(figures.memory_gb, recipe.serve.gpu_memory_utilization,
                                   weights / gpus)


def _kv_dtype_bytes(recipe: Recipe, v: Variant) -> float:
    """The KV cache's dtype: fp8 where the serve args (the variant's last) ask for it, else
    the served dtype's."""
    args, value = [*recipe.serve.args, *v.serve_args], None
    for i, a in enumerate(args):
        if a.startswith("--kv-cache-dtype="):
            value = a.split("=", 1)[1]
        elif a == "--kv-cache-dtype" and i + 1 < len(args):
            value = args[i + 1]
    return 1 if value and value.startswith("fp8") else _dtype_bytes(recipe)


def _gb(x: float | None) -> float | None:
    return None if x is None else round(x / 1e9, 3)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def model_facts(recipe: Recipe) -> dict[str, Any]:
    """The model the estimates count: its parameters and where its config was read."""
    model = recipe.resolved.model
    try:
        shape = model_shape(model)
    except ShapeUnknown as e:
        return {"name": model, "unknown": str(e)}
    return {"name": model, "parameters": shape.parameters, "config": shape.source}


def plan_warnings(recipe: Recipe, figures: TargetFigures, estimates: list[VariantEstimate],
                  host_ram_gb: float) -> list[str]:
    """What the plan expects to go wrong on this machine or the target, with what fixes it."""
    out = [p for e in estimates for p in e.problems]
    out += [f"{e.name}: its build needs ~{e.build_ram_gb:g} GB of host RAM (the 16-bit base model "
           f"and the libraries); this machine has {host_ram_gb:g} GiB"
           for e in estimates if e.build_ram_gb and e.build_ram_gb > host_ram_gb * cap.GIB / 1e9]
    if recipe.eval.tasks and not figures.is_cpu and figures.memory_gb:
        out += _eval_memory(recipe, figures.memory_gb)
    return out


def _eval_memory(recipe: Recipe, memory_gib: float) -> list[str]:
    try:
        shape = model_shape(recipe.resolved.model)
    except ShapeUnknown:
        return []
    longest = recipe.model.max_model_len or shape.max_position or 4096
    per_token = shape.vocab * LOGPROB_BYTES
    util = recipe.serve.gpu_memory_utilization
    free = (memory_gib * (1 - util) - CUDA_CONTEXT_GIB) * cap.GIB
    need = longest * per_token
    if need <= free:
        return []
    max_util = 1 - (need / cap.GIB + CUDA_CONTEXT_GIB) / memory_gib
    fixes = [f"serve.gpu_memory_utilization ≤ {max_util:.2f}"] if max_util >= MIN_UTILIZATION \
        else []
    fixes.append(f"model.max_model_len ≤ {int(max(free, 0) // per_token):,}")
    return [f"evaluation: a log-likelihood request of up to {longest:,} tokens needs "
            f"~{need / 1e9:.1f} GB for its prompt logprobs outside gpu_memory_utilization, "
            f"{max(free, 0) / 1e9:.1f} GB are left: set {' or '.join(fixes)}"]


def plan_json(figures: TargetFigures, estimates: list[VariantEstimate],
              model: dict[str, Any]) -> dict[str, Any]:
    """The plan's estimates as ``qexplore plan --json`` prints them: decode bounds keyed by
    users, nested per workload only where the workloads' bounds differ."""
    variants = []
    for e in estimates:
        out = e.model_dump(exclude={"workloads"})
        bounds = {w.name: {str(u): x for u, x in w.decode_bound_tps.items()} for w in e.workloads}
        kinds = {w.name: {str(u): k for u, k in w.bound_kind.items()} for w in e.workloads}
        same = len({json.dumps(b, sort_keys=True) for b in bounds.values()}) <= 1
        out["decode_bound_tps"] = next(iter(bounds.values()), {}) if same else bounds
        out["bound_kind"] = next(iter(kinds.values()), {}) if same else kinds
        out["workloads"] = [w.model_dump() for w in e.workloads]
        variants.append(out)
    return {"target": figures.model_dump(), "model": model,
            "assumptions": assumptions(figures), "variants": variants}


def assumptions(figures: TargetFigures) -> list[str]:
    """Every constant the estimates rest on, in words."""
    where = "cpu" if figures.is_cpu else "gpu"
    out = [
        "weights: linear modules at the scheme's bits plus a 16-bit scale per group (per output "
        "channel when ungrouped); embeddings, norms and lm_head (unless quantized) at 16 bit",
        f"KV cache: vLLM's block size {cap.BLOCK_TOKENS[where]} tokens, whole blocks",
        "decode bound: memory = batch × bandwidth ÷ (weights + batch × KV of prompt + half the "
        "output); compute = peak of the scheme's math ÷ (2 × parameters per token); batch = "
        "users, capped by max_num_seqs and by the sequences the KV cache holds",
        f"prompt tokens ≈ characters ÷ {CHARS_PER_TOKEN} (+{CHAT_TEMPLATE_TOKENS} for a chat "
        "template)",
        "level time: measured and warm-up requests × max_tokens ÷ (bound × the share of it "
        "this recipe's last stored run reached, its median; before any run "
        f"{ASSUMED_EFFICIENCY[where]:.0%}), prefill not counted",
    ]
    if figures.is_cpu:
        out.insert(2, "KV cache: serve.kv_cache_gb, as qexplore passes it to vLLM")
    else:
        out.insert(2, f"KV cache: memory × gpu_memory_utilization − weights − "
                   f"{cap.GPU_ALLOWANCE_GIB:g} GiB for the CUDA context, activations and "
                   "CUDA graphs")
    return out
