"""Resolving a recipe once, when it is loaded: every name in it ('@demo', '@demo/…', relative
paths, hub ids, the target) turned into where it is. Stages read :class:`Resolved`
(``recipe.resolved``); none of them resolves a name itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from qexplore import paths
from qexplore.catalog.prompts import BUILTIN_PROMPTS
from qexplore.catalog.schemes import SCHEMES
from qexplore.catalog.targets import Target, detect_target
from qexplore.recipes.schema import DEMO_MODEL as DEMO
from qexplore.recipes.schema import Recipe

DEMO_FILES = Path(__file__).parents[1] / "demo"
DEMO_TASKS = DEMO_FILES / "tasks"  # what '@demo' names as an eval include_path


@dataclass
class Resolved:
    """Where everything a recipe names is."""

    model: str  # a folder, or a hub id
    demo_model: bool  # the model is '@demo': qexplore builds it on first use, into ``model``
    tokenizer: str  # the recipe's tokenizer, else the model's
    checkpoints: dict[str, str] = field(default_factory=dict)  # prequantized variant → location
    calibration_files: dict[str, Path] = field(default_factory=dict)  # calibrated variant → file
    prompts: dict[str, str] = field(default_factory=dict)  # workload → built-in name or file
    include_path: str | None = None  # the evaluation's extra task folder
    target_spec: str = "cpu"

    @cached_property
    def target(self) -> Target:
        """The recipe's target, detected on this machine (once)."""
        return detect_target(self.target_spec)


def resolve_path(base_dir: Path, text: str) -> Path:
    """A file named in a recipe: ``@demo/x`` is shipped with qexplore (``@demo`` alone: its
    eval tasks); relative paths are relative to the recipe's folder."""
    if text == DEMO:
        return DEMO_TASKS
    if text.startswith(DEMO + "/"):
        return DEMO_FILES / text.removeprefix(DEMO + "/")
    p = Path(text).expanduser()
    return p if p.is_absolute() else base_dir / p


def model_ref(base_dir: Path, text: str) -> str:
    """Where a model named in a recipe is: the demo model's folder, a local folder, or the
    text itself (a hub id)."""
    if text == DEMO:
        return str(paths.demo_model_dir())
    p = resolve_path(base_dir, text)
    return str(p) if p.is_dir() else text


def resolve(recipe: Recipe) -> Resolved:
    """Every name in ``recipe``, resolved against its folder."""
    d, m = recipe.base_dir, recipe.model
    cal = {v.name: resolve_path(d, c.path) for v in recipe.variants
           if SCHEMES.get(v.scheme).calibrated and (c := recipe.calibration_for(v)) and c.path}
    prompts = {w.name: w.prompts if w.prompts in BUILTIN_PROMPTS else str(resolve_path(d, w.prompts))
               for w in recipe.workloads}
    include = recipe.eval.include_path
    return Resolved(
        model=model_ref(d, m.path), demo_model=m.path == DEMO,
        tokenizer=model_ref(d, m.tokenizer or m.path),
        checkpoints={v.name: model_ref(d, v.checkpoint) for v in recipe.variants if v.checkpoint},
        calibration_files=cal, prompts=prompts,
        include_path=None if include is None else str(resolve_path(d, include)),
        target_spec=recipe.target)

