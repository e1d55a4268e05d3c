"""The code stays readable in one screen: no function body over 40 lines (typer signatures
do not count: the body starts at the first statement), no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
PACKAGE = Path(__file__).parents[2] / "qexplore"
MAX_FUNCTION, MAX_MODULE = 40, 400


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_is_found() -> None:
    assert len(modules()) > 50


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE}
    assert long == {}


def function_lengths(source: str) -> dict[str, int]:
    """Body lines of every function (nested ones too), by name."""
    return {node.name: (node.end_lineno or node.lineno) - node.body[0].lineno + 1
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_no_function_over_40_lines() -> None:
    long = {f"{p.relative_to(PACKAGE)}:{name}": n for p in modules()
            for name, n in function_lengths(p.read_text()).items() if n > MAX_FUNCTION}
    assert long == {}


def test_the_measure_skips_the_signature_and_counts_the_body() -> None:
    src = ("def f(\n    a: int,\n    b: int,\n) -> None:\n    \"\"\"Doc.\"\"\"\n"
           + "    x = 1\n" * 40 + "\n\nasync def g() -> None:\n    pass\n")
    assert function_lengths(src) == {"f": 41, "g": 1}  # 40 statements + the docstring
