"""The vLLM that is there: where ``QEXPLORE_VLLM`` names an executable whose environment has no
vLLM package metadata (a wrapper script, another install), its version comes from
``vllm --version``, and provenance and ``doctor`` carry it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qexplore import paths
from qexplore.doctor import diagnose
from qexplore.environment import serve_versions, vllm_cli_version
from qexplore.results.provenance import provenance
from qexplore.testing.fake_server import VERSION

pytestmark = pytest.mark.integration


def test_a_wrappers_version_is_what_it_says(fake_vllm: Callable[..., None]) -> None:
    exe = paths.vllm_executable()
    assert not paths.serve_python().exists()  # no environment beside it to ask
    assert vllm_cli_version(exe) == VERSION == "0.0.0-fake"
    assert (serve_versions() or {}).get("vllm") == VERSION
    assert provenance()["versions"]["vllm"] == VERSION
    check = next(c for c in diagnose().checks if c.what == "serve: vllm")
    assert check.ok and check.detail.startswith(VERSION), check


def test_an_executable_that_is_not_there_has_no_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QEXPLORE_VLLM", "/nonexistent/vllm")
    assert vllm_cli_version(paths.vllm_executable()) is None and serve_versions() is None
