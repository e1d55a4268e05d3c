"""Recipes: YAML validated into pydantic models before any expensive work."""

from qexplore.recipes.load import load_recipe, parse_recipe
from qexplore.recipes.schema import Recipe

__all__ = ["Recipe", "load_recipe", "parse_recipe"]
