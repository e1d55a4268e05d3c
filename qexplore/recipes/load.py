"""Reading a recipe file into a validated :class:`Recipe`, or a :class:`RecipeError`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from qexplore.errors import RecipeError
from qexplore.recipes.schema import Recipe
from qexplore.registry import suggest


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate ``path``. Raises :class:`RecipeError` with one line per problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError("no such recipe file", str(p)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise RecipeError(f"cannot read the recipe ({e.__class__.__name__})", str(p)) from None
    return parse_recipe(text, source=str(p)).with_base_dir(p.resolve().parent)


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    """Validate recipe YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise RecipeError(f"invalid YAML{where}: {problem}", source) from None
    if data is None:
        raise RecipeError("the recipe is empty", source)
    if not isinstance(data, dict):
        raise RecipeError(f"a recipe is a mapping of sections, not a {type(data).__name__}", source)
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(_problems(e), source) from None


def _problems(err: ValidationError) -> list[str]:
    out: list[str] = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if e["type"] == "extra_forbidden":
            known = _fields_at(Recipe, loc[:-1])
            msg = f"unknown field '{loc[-1]}'" + (suggest(str(loc[-1]), known) if known else "")
        elif e["type"] == "missing":
            msg = "required field is missing"
        if not loc:
            out.extend(msg.splitlines())  # cross-field checks already carry their paths
        else:
            out.append(f"{format_path(loc) or '(recipe)'}: {msg}")
    return out


def format_path(loc: tuple[Any, ...]) -> str:
    """``('variants', 1, 'scheme')`` → ``variants[1].scheme``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found by walking ``loc`` from ``model`` (empty if lost)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return []
        current = _inner_model(field.annotation)
    return list(current.model_fields) if _is_model(current) else []


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``list[X]``, ``X | None``."""
    if _is_model(annotation):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
