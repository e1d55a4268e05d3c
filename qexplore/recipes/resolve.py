"""Resolving a recipe's names: every name in it ('@demo', '@demo/…', relative paths, hub ids,
the target) turned into where it is, relative to the recipe's folder. Stages read
:class:`Resolved` (``recipe.resolved``); none of them resolves a name itself.

What the whole recipe names (the model, its tokenizer, the evaluation's tasks, the target) is
resolved once; what one variant or workload names (a checkpoint, a calibration file, a prompt
file) is resolved when asked, from the variant or workload itself — so a variant the recipe
does not list (a test's, an API caller's) resolves the same way as one it does.

This module knows nothing of the recipe schema: the schema hands it the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from qexplore import paths
from qexplore.catalog.models import shipped_name
from qexplore.catalog.prompts import BUILTIN_PROMPTS
from qexplore.catalog.targets import Target, detect_target
from qexplore.errors import RecipeError

DEMO_MODEL = "@demo"
DEMO_FILES = Path(__file__).parents[1] / "demo"
DEMO_TASKS = DEMO_FILES / "tasks"  # what '@demo' names as an eval include_path


@dataclass(frozen=True)
class Resolved:
    """Where everything a recipe names is."""

    base_dir: Path  # the recipe's folder: relative paths start here
    model: str  # a folder, or a hub id; with speed_only also a config.json file
    demo_model: bool  # the model is '@demo': qexplore builds it on first use, into ``model``
    tokenizer: str  # the recipe's tokenizer, else the model's
    include_path: str | None = None  # the evaluation's extra task folder
    target_spec: str = "cpu"
    speed_only: bool = False  # random weights of ``model``'s shape (its config is all it reads)

    @cached_property
    def target(self) -> Target:
        """The recipe's target, detected on this machine (once)."""
        return detect_target(self.target_spec)

    def file(self, text: str) -> Path:
        """A file the recipe names (a calibration file, a prompt file)."""
        return resolve_path(self.base_dir, text)

    def checkpoint(self, text: str | None) -> str:
        """Where a prequantized variant's checkpoint is: a folder, or a hub id."""
        if text is None:
            raise RecipeError("a prequantized variant needs 'checkpoint' (a folder or hub id)")
        return model_ref(self.base_dir, text)

    def prompts(self, spec: str) -> str:
        """A workload's prompts: a built-in set's name as it is, else the file's path."""
        return spec if spec in BUILTIN_PROMPTS else str(self.file(spec))


def resolve_path(base_dir: Path, text: str) -> Path:
    """A file named in a recipe: ``@demo/x`` is shipped with qexplore (``@demo`` alone: its
    eval tasks); relative paths are relative to the recipe's folder."""
    if text == DEMO_MODEL:
        return DEMO_TASKS
    if text.startswith(DEMO_MODEL + "/"):
        return DEMO_FILES / text.removeprefix(DEMO_MODEL + "/")
    p = Path(text).expanduser()
    return p if p.is_absolute() else base_dir / p


def model_ref(base_dir: Path, text: str) -> str:
    """Where a model named in a recipe is: the demo model's folder, a local folder, or the
    text itself (a hub id)."""
    if text == DEMO_MODEL:
        return str(paths.demo_model_dir())
    p = resolve_path(base_dir, text)
    return str(p) if p.is_dir() else text


def shape_ref(base_dir: Path, text: str) -> str:
    """Where a shape named in a recipe is read from: a model's folder or a config.json file,
    else a config qexplore ships (by its hub id or that id's last part), else the text."""
    if text == DEMO_MODEL:
        return str(paths.demo_model_dir())
    p = resolve_path(base_dir, text)
    return str(p) if p.exists() else shipped_name(text) or text


def resolve(base_dir: Path, model: str, tokenizer: str | None, include_path: str | None,
            target: str, speed_only: bool = False) -> Resolved:
    """The names a whole recipe gives, resolved against its folder ``base_dir``; with
    ``speed_only``, ``model`` may name a shape alone (see :func:`shape_ref`)."""
    return Resolved(
        base_dir=base_dir,
        model=shape_ref(base_dir, model) if speed_only else model_ref(base_dir, model),
        demo_model=model == DEMO_MODEL, tokenizer=model_ref(base_dir, tokenizer or model),
        include_path=None if include_path is None else str(resolve_path(base_dir, include_path)),
        target_spec=target, speed_only=speed_only)
