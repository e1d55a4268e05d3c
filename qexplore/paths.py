"""Where qexplore keeps things on disk: the one place every stage and the setup script read.

Environment variables override each default:

- ``QEXPLORE_HOME``   — root of machine-wide caches (default ``~/.cache/qexplore``).
- ``QEXPLORE_VLLM``   — the ``vllm`` executable to launch servers with, for users who already
  have vLLM installed elsewhere (default: the serve env that ``make setup`` creates).
- ``QEXPLORE_DEMO_MODEL`` — a folder holding the demo model (default: under ``QEXPLORE_HOME``).
- ``QEXPLORE_BUILD_CACHE`` — the cache of built variants (default: under ``QEXPLORE_HOME``).

``python -m qexplore.paths NAME`` prints one of them, so shell scripts share this module.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def home() -> Path:
    """Root of the machine-wide caches (serve env, demo model, built variants)."""
    return Path(os.environ.get("QEXPLORE_HOME") or Path.home() / ".cache" / "qexplore")


def serve_env() -> Path:
    """The virtual environment that holds vLLM (created by ``make setup``)."""
    return home() / "serve-env"


def vllm_executable() -> Path:
    """The ``vllm`` console script every server is launched with."""
    override = os.environ.get("QEXPLORE_VLLM")
    return Path(override) if override else serve_env() / "bin" / "vllm"


def serve_python() -> Path:
    """The Python interpreter beside the ``vllm`` executable (for version queries)."""
    return vllm_executable().parent / "python"


def demo_model_dir() -> Path:
    """Where the demo model is built once per machine."""
    override = os.environ.get("QEXPLORE_DEMO_MODEL")
    return Path(override) if override else home() / "demo-model"


def build_cache() -> Path:
    """Content-addressed cache of quantized checkpoints (``QEXPLORE_BUILD_CACHE`` overrides)."""
    override = os.environ.get("QEXPLORE_BUILD_CACHE")
    return Path(override) if override else home() / "builds"


def publish(tmp: Path, final: Path) -> None:
    """Put the finished folder ``tmp`` in place of ``final`` by a rename on the same filesystem,
    so a folder at ``final`` is always complete (an interrupted write never looks finished)."""
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


_NAMES = {
    "home": home,
    "serve-env": serve_env,
    "vllm": vllm_executable,
    "demo-model": demo_model_dir,
    "build-cache": build_cache,
}

if __name__ == "__main__":
    print(_NAMES[sys.argv[1]]())
