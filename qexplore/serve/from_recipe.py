"""The server a recipe asks for, for one variant and its build."""

from __future__ import annotations

from pathlib import Path

from qexplore.catalog.support import dtype_support
from qexplore.quantize.build import BuildRecord
from qexplore.recipes.schema import Recipe, Variant
from qexplore.serve.launcher import ServerSpec


def served_dtype(recipe: Recipe, variant: Variant) -> str:
    """Activation dtype: the recipe's, except W8A8 on the CPU, which vLLM runs only in bf16,
    and ``auto`` on a GPU without bf16, said explicitly (fp16) rather than left to vLLM."""
    target = recipe.resolved.target
    if target.is_cpu and variant.scheme == "W8A8":
        return "bfloat16"
    if recipe.model.dtype == "auto" and dtype_support("auto", target) is not None:
        return "float16"
    return recipe.model.dtype


def served_tokenizer(recipe: Recipe, build: BuildRecord) -> str:
    """The tokenizer of what is served: random weights carry theirs in their build (saved
    there when they were made: no hub needed after), other models the recipe's or their own."""
    return build.path if recipe.model.speed_only else recipe.resolved.tokenizer


def server_spec(recipe: Recipe, variant: Variant, build: BuildRecord, run_dir: Path) -> ServerSpec:
    """A :class:`ServerSpec` serving ``build`` as the recipe configures it."""
    s = recipe.serve
    # random weights carry their tokenizer in their build
    named = recipe.model.tokenizer and not recipe.model.speed_only
    tokenizer = recipe.resolved.tokenizer if named else None
    return ServerSpec(
        model=build.path,
        served_name=variant.name,
        run_dir=run_dir,
        cpu=recipe.resolved.target.is_cpu,
        dtype=served_dtype(recipe, variant),
        max_model_len=recipe.model.max_model_len,
        kv_cache_gb=s.kv_cache_gb,
        gpu_memory_utilization=s.gpu_memory_utilization,
        max_num_seqs=s.max_num_seqs,
        tensor_parallel_size=s.tensor_parallel_size,
        pipeline_parallel_size=s.pipeline_parallel_size,
        tokenizer=tokenizer,
        extra_args=[*s.args, *variant.serve_args],
        env=dict(s.env),
        startup_timeout_s=s.startup_timeout_s,
    )
