"""Turning names in a recipe into things on disk: '@demo', '@demo/…', relative paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qexplore.recipes.schema import DEMO_MODEL, Recipe

DEMO_FILES = Path(__file__).parents[1] / "demo"
DEMO_TASKS = DEMO_FILES / "tasks"  # what '@demo' names as an eval include_path


def resolve_path(recipe: Recipe, text: str) -> Path:
    """A file named in the recipe: ``@demo/x`` is shipped with qexplore; relative paths are
    relative to the recipe's folder."""
    if text == DEMO_MODEL:
        return DEMO_TASKS
    if text.startswith(DEMO_MODEL + "/"):
        return DEMO_FILES / text.removeprefix(DEMO_MODEL + "/")
    p = Path(text).expanduser()
    return p if p.is_absolute() else recipe.base_dir / p


def is_local(recipe: Recipe, text: str) -> bool:
    """Whether a model reference is a folder on disk (else a hub id)."""
    return text == DEMO_MODEL or resolve_path(recipe, text).is_dir()


def model_location(recipe: Recipe, text: str, on_line: Callable[[str], None] | None = None) -> str:
    """The folder (or hub id) to load a model from; builds the demo model on first use."""
    if text == DEMO_MODEL:
        from qexplore.demo.model import ensure_demo_model

        return str(ensure_demo_model(on_line=on_line))
    p = resolve_path(recipe, text)
    return str(p) if p.is_dir() else text
