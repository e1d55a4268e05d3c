"""A hub model fetched before its server starts, so that a slow link is a download with
progress, not "the server did not start" when vLLM's own download outlasts the start-up
deadline."""

from __future__ import annotations

from collections.abc import Callable

from qexplore.catalog.models import local_folder
from qexplore.errors import HardwareError
from qexplore.recipes.schema import Recipe, Variant

# What vLLM reads from a repository: weights as safetensors, configs, tokenizer files (Llama
# repositories also hold original/*.pth checkpoints that no server needs).
SERVED_FILES = ["*.safetensors", "*.json", "tokenizer*", "*.model", "*.jinja", "*.tiktoken"]


def served_location(recipe: Recipe, v: Variant) -> str | None:
    """Where a variant that is not built is served from (the base model or its checkpoint);
    None for a built variant (its build folder is local)."""
    r = recipe.resolved
    if v.scheme == "baseline" and not (r.demo_model or r.speed_only):
        return r.model
    return r.checkpoint(v.checkpoint) if v.scheme == "prequantized" else None


def fetch_model(model: str | None, on_line: Callable[[str], None] | None = None) -> None:
    """Download ``model`` (a hub id) into the Hugging Face cache unless it is a folder or
    cached already; the server then loads it from there."""
    if model is None or local_folder(model) is not None:
        return
    from huggingface_hub import snapshot_download

    if on_line:
        on_line(f"downloading {model} from the hub (before the server's start-up deadline)")
    try:
        snapshot_download(model, allow_patterns=SERVED_FILES)
    except Exception as e:  # any failure to fetch means the same to the user
        raise HardwareError(f"model {model}: download failed ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})") from None
