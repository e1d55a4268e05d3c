"""Commands of the build stage: plan, quantize."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from qexplore.cli.options import RecipeArg, VariantOpt

if TYPE_CHECKING:
    from qexplore.plan import Plan

console = Console()
err_console = Console(stderr=True)


def plan(recipe: RecipeArg, variant: VariantOpt = None) -> None:
    """Show what a recipe will do on its target: support per variant and what is cached.
    Exit 2 if the target cannot serve a variant."""
    from qexplore.errors import ExitCode
    from qexplore.plan import make_plan
    from qexplore.recipes import load_recipe

    p = make_plan(load_recipe(recipe), variant)
    show_plan(p)
    for line in p.refusals():
        err_console.print(f"refused: {line}", highlight=False)
    if p.refusals():
        raise typer.Exit(int(ExitCode.BAD_INPUT))


def show_plan(p: Plan) -> None:
    """The plan as a table: each variant's support on the target and the state of its build."""
    console.print(f"[bold]{p.recipe.name}[/] on {p.target.describe()}")
    table = Table(box=None, header_style="bold")
    for col in ("variant", "scheme", "on target", "build", "note"):
        table.add_column(col, overflow="fold")
    for vp in p.variants:
        level = vp.support.level.value
        style = {"native": "green", "weight-only": "yellow"}.get(level, "red")
        build = vp.build + (f" [dim]{vp.key}[/]" if vp.key else "")
        table.add_row(vp.variant.name, vp.variant.scheme, f"[{style}]{level}[/]", build,
                      vp.support.note)
    console.print(table)


def quantize(
    recipe: RecipeArg,
    variant: VariantOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when cached.")] = False,
) -> None:
    """Build the recipe's quantized variants (cached by content; the baseline needs no build)."""
    from qexplore.plan import make_plan
    from qexplore.quantize.build import build_variant
    from qexplore.recipes import load_recipe

    p = make_plan(load_recipe(recipe), variant).check()
    table = Table(box=None, header_style="bold")
    for col in ("variant", "scheme", "size MB", "bits/weight", "build s", "state"):
        table.add_column(col, overflow="fold")
    for vp in p.variants:
        name = vp.variant.name
        with console.status(f"{name}: preparing") as status:
            def show(line: str, n: str = name) -> None:
                status.update(f"{n}: {line}")

            rec = build_variant(p.recipe, vp.variant, force, on_line=show)
        state = "original" if rec.key is None else ("cached" if rec.cached else "built")
        secs = f"{rec.build_seconds:.1f}" if rec.build_seconds and not rec.cached else "–"
        table.add_row(name, rec.scheme, f"{rec.size_bytes / 1e6:.2f}", f"{rec.bits_per_weight:.2f}",
                      secs, state)
        console.print(f"{name}: {state} ({rec.path})", highlight=False)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(quantize)
