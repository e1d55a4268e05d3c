from __future__ import annotations

import pytest

from qexplore.catalog.support import Level, support, variant_support
from qexplore.catalog.targets import resolve_target

pytestmark = pytest.mark.unit
N, W, U = Level.NATIVE, Level.WEIGHT_ONLY, Level.UNSUPPORTED

# Rows: vLLM 0.32's compressed-tensors minimum capabilities (baseline, W4A16/W8A16/W8A8 ≥ 7.5;
# FP8 native ≥ 8.9 and weight-only through FP8 Marlin from 7.5; NVFP4 native ≥ 10.0 and
# weight-only through FP4 Marlin from 7.5) and the CPU facts in DESIGN.md (a CPU whose kernels
# are not detected: what vLLM's CPU build runs where its kernels are there).
TABLE = {
    #              cpu  7.0 7.5 8.0 8.6 8.9 9.0 10.0
    "baseline":    (N,  U,  N,  N,  N,  N,  N,  N),
    "W8A8":        (N,  U,  N,  N,  N,  N,  N,  N),
    "W4A16":       (N,  U,  N,  N,  N,  N,  N,  N),
    "W4A8":        (N,  U,  U,  U,  U,  U,  U,  U),
    "W8A16":       (U,  U,  N,  N,  N,  N,  N,  N),
    "FP8_DYNAMIC": (N,  U,  W,  W,  W,  N,  N,  N),
    "NVFP4":       (U,  U,  W,  W,  W,  W,  W,  N),
}
TARGETS = ["cpu", "7.0", "7.5", "8.0", "8.6", "8.9", "9.0", "10.0"]


@pytest.mark.parametrize("scheme", TABLE)
def test_support_table(scheme: str) -> None:
    got = tuple(support(scheme, resolve_target(t)).level for t in TARGETS)
    assert got == TABLE[scheme]


def test_the_reference_gpu_serves_fp8_and_nvfp4_weight_only() -> None:
    rtx3090 = resolve_target("rtx3090")  # compute capability 8.6
    fp8, nvfp4 = support("FP8_DYNAMIC", rtx3090), support("NVFP4", rtx3090)
    assert (fp8.level, nvfp4.level) == (W, W)
    assert "FP8 Marlin" in fp8.note and "8.9" in fp8.note
    assert "FP4 Marlin" in nvfp4.note and "10.0" in nvfp4.note


def test_a_card_that_runs_fp8_natively_is_not_told_about_the_marlin_fallback() -> None:
    # Seen on an H200 (sm_90): the native row carried the weight-only fallback's note.
    fp8 = support("FP8_DYNAMIC", resolve_target("h200"))
    assert fp8.level == Level.NATIVE and "Marlin" not in fp8.note


def test_bf16_needs_ampere_and_auto_is_served_in_fp16_below() -> None:
    t4 = resolve_target("t4")  # compute capability 7.5
    refused = variant_support("baseline", "bfloat16", t4)
    assert not refused.runnable and "8.0" in refused.note and "float16" in refused.note
    assert variant_support("baseline", "float16", t4).level is N
    auto = variant_support("W4A16", "auto", t4)
    assert auto.level is N and "served in float16" in auto.note
    assert variant_support("baseline", "bfloat16", resolve_target("a100")).level is N


def test_a_refused_scheme_is_not_hidden_by_the_dtype_note() -> None:
    assert variant_support("W4A8", "auto", resolve_target("t4")).level is U
