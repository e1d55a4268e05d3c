"""What makes a record self-describing: versions, hardware, git SHA, time."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path
from typing import Any

from qexplore import __version__
from qexplore.environment import core_versions, hardware, serve_versions
from qexplore.quantize.cache import model_digest
from qexplore.recipes.schema import Precision, Recipe


def recipe_hash(recipe: Recipe) -> str:
    """Stable hash of the fully resolved recipe (defaults included), the run's identity. Where
    it runs (``executor``) is left out, and so are the parallel sizes at 1, a model's real
    weights and a fixed budget (one round, every document at once), so that recipes hash as
    they did before those fields existed (their stored runs resume)."""
    exclude: dict[str, Any] = {"executor": True}
    if recipe.precision == Precision(max_rounds=1, first_docs=None):
        exclude["precision"] = True
    s = recipe.serve
    if s.tensor_parallel_size == s.pipeline_parallel_size == 1:
        exclude["serve"] = {"tensor_parallel_size", "pipeline_parallel_size"}
    if not recipe.model.speed_only:
        exclude["model"] = {"shape", "weights"}
    return hashlib.sha256(recipe.model_dump_json(exclude=exclude).encode()).hexdigest()[:12]


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def model_revision(location: str) -> str | None:
    """Which weights a model location holds: a local folder's content digest (memoised, so
    cheap once a build has read it), a hub model's cached snapshot commit; None if neither is
    on this machine."""
    if Path(location).is_dir():
        return model_digest(location)[:12]
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(location, "config.json")
    except (ImportError, ValueError, OSError):  # not a hub id, or no cache: nothing to tell
        return None
    return Path(found).parent.name[:12] if isinstance(found, str) else None


def provenance(recipe: Recipe | None = None) -> dict[str, Any]:
    """Versions, hardware, git SHA and time; with ``recipe``, its model's location and
    revision (what ``history`` shows as changed between runs)."""
    serve = serve_versions() or {}
    model = None
    if recipe is not None:
        location = recipe.resolved.model
        # random weights have no revision: the shape's config and tokenizer are in the hash
        revision = None if recipe.model.speed_only else model_revision(location)
        model = {"path": location, "revision": revision, "weights": recipe.model.weights}
    return {
        "qexplore": __version__,
        "versions": {**core_versions(), "vllm": serve.get("vllm"),
                     "serve_torch": serve.get("torch"), "serve_transformers": serve.get("transformers")},
        "hardware": hardware().as_dict(),
        "git_sha": git_sha(),
        "model": model,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
