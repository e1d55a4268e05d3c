"""What makes a record self-describing: versions, hardware, git SHA, time."""

from __future__ import annotations

import hashlib
import subprocess
import time
from typing import Any

from qexplore import __version__
from qexplore.environment import core_versions, hardware, serve_versions
from qexplore.recipes.schema import Recipe


def recipe_hash(recipe: Recipe) -> str:
    """Stable hash of the fully resolved recipe (defaults included), the run's identity. Where
    it runs (``executor``) is left out, and so are the parallel sizes at 1, so that recipes hash
    as they did before those fields existed (their stored runs resume)."""
    exclude: dict[str, Any] = {"executor": True}
    s = recipe.serve
    if s.tensor_parallel_size == s.pipeline_parallel_size == 1:
        exclude["serve"] = {"tensor_parallel_size", "pipeline_parallel_size"}
    return hashlib.sha256(recipe.model_dump_json(exclude=exclude).encode()).hexdigest()[:12]


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict[str, Any]:
    serve = serve_versions() or {}
    return {
        "qexplore": __version__,
        "versions": {**core_versions(), "vllm": serve.get("vllm"),
                     "serve_torch": serve.get("torch"), "serve_transformers": serve.get("transformers")},
        "hardware": hardware().as_dict(),
        "git_sha": git_sha(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
