"""How long a sweep will take, per variant, before it starts: the build, the server's start,
the load-test levels (from their bounds, in estimate.py) and the evaluation (from the tasks'
sizes). Every rule is a stated constant; after a run the store holds the real figures (builds
their seconds, levels their share of the bound, which the next plan's level times use)."""

from __future__ import annotations

from pydantic import BaseModel

from qexplore.catalog import capacity as cap
from qexplore.catalog.capacity import VariantEstimate
from qexplore.catalog.models import ModelShape, ShapeUnknown, model_shape
from qexplore.catalog.tasks import TASKS, TaskSize
from qexplore.evaluate.stats import ALPHA, binary_recovery_lo, chunk_schedule
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
# A chunked evaluation's expected case, assumed: a variant as accurate as the baseline that
# answers 5 % of documents differently (half of them right where the baseline was wrong),
# the baseline right on 70 %. The flip share is a stated guess until runs measure it.
ASSUMED_FLIPS, ASSUMED_ACCURACY = 0.05, 0.7


class VariantDuration(BaseModel):
    name: str
    build_s: float | None  # 0 when nothing is built (baseline, cached)
    startup_s: float
    levels_s: float | None
    eval_s: float | None
    total_s: float | None  # a fixed budget: one round, every document at once
    notes: list[str] = []
    round_s: float | None = None  # each later round: a server start and every level again
    expected_s: float | None = None  # measured until decided: expected, all rounds and looks
    worst_s: float | None = None  # every level and task undecided until the last


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
    looks, most_looks = eval_looks(recipe) if recipe.eval.tasks else (1, 1)
    out = []
    for e in estimates:
        notes: list[str] = []
        v = by_name[e.name]
        build = _build_s(recipe, v, shape, figures) if to_build[e.name] else 0.0
        evaluation, spent = (
            _eval_s(recipe, e, shape, figures, eff, notes if not expected else [],
                    prefix_caching(recipe, v), expected)
            for expected in (False, True)) if recipe.eval.tasks else (0.0, 0.0)
        levels = [s for w in e.workloads for s in w.level_seconds.values()]
        known = levels and all(s is not None for s in levels)
        levels_s = sum(s or 0.0 for s in levels) if known else None
        startup = STARTUP_CPU_S if figures.is_cpu else STARTUP_GPU_S + (e.weights_gb or 0) / LOAD_GBS
        parts = (build, levels_s, evaluation)
        total = None if any(p is None for p in parts) else startup + sum(p or 0 for p in parts)
        again = None if levels_s is None else startup + levels_s
        adaptive = None if total is None or levels_s is None or spent is None else (
            (build or 0.0) + startup * max(rounds, looks) + levels_s * rounds + spent,
            (build or 0.0) + startup * max(most, most_looks) + levels_s * most + (evaluation or 0))
        out.append(VariantDuration(
            name=e.name, build_s=build, startup_s=round(startup), levels_s=levels_s,
            eval_s=evaluation, total_s=total, notes=notes, round_s=again,
            expected_s=adaptive[0] if adaptive else None,
            worst_s=adaptive[1] if adaptive else None))
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
            figures: TargetFigures, eff: float, notes: list[str], cached: bool = False,
            expected: bool = False) -> float | None:
    """Prefill of every log-likelihood request at the compute bound, generation at the decode
    bound of ``eval.num_concurrent`` users. With prefix caching (``cached``) a document's
    requests share its prompt (one per choice, the prompt the same): it is computed once, the
    choices' few tokens neglected; where every document has the same few-shot examples, only
    its own question is computed. ``expected``: of the documents a chunked evaluation is
    expected to spend (:func:`eval_share`)."""
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
        limit = t.limit or recipe.eval.limit
        n = size.docs_at(limit) * (eval_share(recipe, size, limit)[0] if expected else 1.0)
        shots = next((k for k in (t.num_fewshot, recipe.eval.num_fewshot) if k is not None),
                     size.fewshot)
        prompt = size.prompt_at(shots)
        computed = size.prompt_at(0) if cached and size.shared_fewshot else prompt
        total += n * (1 if cached else size.requests_per_doc) * computed / prefill_tps
        if size.generated_tokens:
            users = recipe.eval.num_concurrent
            ctx = prompt + size.generated_tokens / 2
            bound = cap.decode_bound(users, users, e.weights_gb * 1e9,
                                     ctx * e.kv_bytes_per_token, figures.bandwidth_gbs, peak,
                                     shape.params_per_token).tps
            total += n * size.generated_tokens / (bound * eff) if bound else 0.0
    return round(total)


def eval_share(recipe: Recipe, size: TaskSize, limit: int | None) -> tuple[float, int]:
    """A chunked evaluation of a task: the share of its documents it is expected to spend,
    and its looks. The expected case: a variant as accurate as the baseline, with
    ``ASSUMED_FLIPS`` of its answers different (half each way; baseline accuracy
    ``ASSUMED_ACCURACY``), looked at after each chunk until ``equivalent`` by the verdicts' own
    bound. (1.0, 1): evaluated at once."""
    schedule = _schedule(recipe, size, limit)
    for look, n in enumerate(schedule, 1):
        if len(schedule) > 1 and _equivalent_at(n, len(schedule),
                                                recipe.slo.max_accuracy_drop_pct / 100):
            return n / schedule[-1], look
    return 1.0, len(schedule)


def eval_looks(recipe: Recipe) -> tuple[int, int]:
    """The most looks a task of a chunked evaluation takes: expected, and at most."""
    sized = [(TASKS[t.name], t.limit or recipe.eval.limit) for t in recipe.eval.tasks
             if t.name in TASKS]
    return (max((eval_share(recipe, z, lim)[1] for z, lim in sized), default=1),
            max((len(_schedule(recipe, z, lim)) for z, lim in sized), default=1))


def _schedule(recipe: Recipe, size: TaskSize, limit: int | None) -> list[int]:
    """A (sub)task's documents at each look (one look: at once)."""
    first, per = recipe.precision.first_docs, round(size.docs_at(limit) / size.subtasks)
    return [per] if first is None else chunk_schedule(first, per)


def _equivalent_at(n: int, looks: int, max_drop: float) -> bool:
    right, flips = round(ASSUMED_ACCURACY * n), round(ASSUMED_FLIPS * n / 2)
    base = [1.0] * right + [0.0] * (n - right)
    variant = [0.0] * flips + [1.0] * (right - flips) + [1.0] * flips + [0.0] * (
        n - right - flips)
    lo = binary_recovery_lo(base, variant, ALPHA / looks)
    return lo is not None and lo >= 1 - max_drop
