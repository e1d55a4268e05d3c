"""Integration fixtures: the fake OpenAI server, started through the real server manager."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qexplore.serve.launcher import ServerSpec

FAKE_VLLM = Path(__file__).parents[1] / "fakes" / "vllm"


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make the server manager start the fake server; keyword arguments set its knobs."""
    monkeypatch.setenv("QEXPLORE_VLLM", str(FAKE_VLLM))
    monkeypatch.setenv("QEXPLORE_FAKE_PYTHON", sys.executable)
    monkeypatch.setenv("QEXPLORE_STOP_GRACE_S", "3")

    def knobs(**kw: object) -> None:
        for k, v in kw.items():
            monkeypatch.setenv(f"FAKE_{k.upper()}", str(v))

    return knobs


@pytest.fixture
def fake_spec(tmp_path: Path) -> ServerSpec:
    return ServerSpec(model="fake-model", served_name="fake", run_dir=tmp_path / "run",
                      startup_timeout_s=30)
