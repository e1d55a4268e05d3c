from __future__ import annotations

import pytest

from qexplore.catalog.support import Level, support
from qexplore.catalog.targets import resolve_target

pytestmark = pytest.mark.unit
N, W, U = Level.NATIVE, Level.WEIGHT_ONLY, Level.UNSUPPORTED

# Rows: vLLM's documented minimum capabilities (W4A16/W8A16/W8A8 ≥ 7.5; FP8 ≥ 8.9, weight-only
# via Marlin on 8.0–8.6; NVFP4 ≥ 10.0) and the CPU facts in DESIGN.md (a CPU whose kernels are not
# detected: what vLLM's CPU build runs where its kernels are there).
TABLE = {
    #              cpu  7.5 8.0 8.6 8.9 9.0 10.0
    "baseline":    (N,  N,  N,  N,  N,  N,  N),
    "W8A8":        (N,  N,  N,  N,  N,  N,  N),
    "W4A16":       (N,  N,  N,  N,  N,  N,  N),
    "W4A8":        (N,  U,  U,  U,  U,  U,  U),
    "W8A16":       (U,  N,  N,  N,  N,  N,  N),
    "FP8_DYNAMIC": (N,  U,  W,  W,  N,  N,  N),
    "NVFP4":       (U,  U,  U,  U,  U,  U,  N),
}
TARGETS = ["cpu", "7.5", "8.0", "8.6", "8.9", "9.0", "10.0"]


@pytest.mark.parametrize("scheme", TABLE)
def test_support_table(scheme: str) -> None:
    got = tuple(support(scheme, resolve_target(t)).level for t in TARGETS)
    assert got == TABLE[scheme]


def test_the_reference_gpu() -> None:
    rtx3090 = resolve_target("rtx3090")
    assert support("FP8_DYNAMIC", rtx3090).level is W
    nvfp4 = support("NVFP4", rtx3090)
    assert not nvfp4.runnable and "10.0" in nvfp4.note and "8.6" in nvfp4.note
