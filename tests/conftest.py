"""Shared test setup: every test runs offline, with its own run folder and caches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No hub access; per-test build cache and results. The serve env and the demo model stay
    machine-wide (built once per machine by `make setup` / on first use)."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("QEXPLORE_BUILD_CACHE", str(tmp_path / "builds"))
    monkeypatch.setenv("QEXPLORE_STORE", str(tmp_path / "results.db"))


@pytest.fixture
def empty_hub_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty Hugging Face cache, whatever this machine has cached (the environment for
    child processes, huggingface_hub's constant for this one)."""
    import huggingface_hub.constants

    cache = tmp_path / "hf-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real MLflow tracking server for the session (127.0.0.1, SQLite; ~12 s to start);
    each test logs into experiments named by its own recipe."""
    pytest.importorskip("mlflow", reason="the mlflow extra: make setup installs it")
    from qexplore.testing.tracking import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url
