"""Commands about the installation and recipes: doctor, validate."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from qexplore.cli.options import RecipeArg
from qexplore.errors import ExitCode

console = Console()


def doctor() -> None:
    """Show both environments with their key versions, the hardware, and what is missing."""
    from qexplore.doctor import diagnose

    report = diagnose()
    hw = report.hardware
    forced = f", forced by QEXPLORE_CPU_ISA={hw.cpu_forced}" if hw.cpu_forced else ""
    console.print(f"[bold]hardware[/]  {hw.cpu}, {hw.cores} cores, {hw.ram_gb:g} GiB RAM")
    console.print(f"          CPU ISA {hw.cpu_isa}{forced} (flags: {' '.join(hw.cpu_flags)})")
    for gpu in hw.gpus or []:
        console.print(f"          GPU {gpu.name}, compute capability {gpu.capability}, "
                      f"{gpu.memory_gb:g} GiB")
    if not hw.gpus:
        console.print("          no NVIDIA GPU (vLLM runs on its CPU backend)")
    table = Table(show_header=True, header_style="bold", box=None)
    for col in ("", "check", "state", "fix"):
        table.add_column(col, overflow="fold")
    for c in report.checks:
        mark = "[green]✓[/]" if c.ok else ("[red]✗[/]" if c.needed else "[yellow]–[/]")
        table.add_row(mark, c.what, c.detail, "" if c.ok else (c.fix or ""))
    console.print(table)
    if report.serve:
        serve = ", ".join(f"{k} {v}" for k, v in report.serve.items() if v)
        console.print(f"[bold]serve env[/] {serve}")
    if report.cpu_target:
        console.print(f"[bold]schemes on {report.cpu_target.describe()}[/]")
        for name, sup in report.cpu_schemes():
            mark = "[green]✓[/]" if sup.runnable else "[red]✗[/]"
            console.print(f"  {mark} {name:13} {sup.note}", highlight=False)
    if not report.healthy:
        console.print("[red]something needed is missing[/]: run the fix shown above")
        raise typer.Exit(int(ExitCode.ENVIRONMENT))


def validate(recipe: RecipeArg) -> None:
    """Check a recipe without doing any work: exit 0 with a summary, or 2 with one line per problem."""
    from qexplore.recipes import load_recipe
    from qexplore.recipes.summary import summarize

    r = load_recipe(recipe)
    for line in summarize(r):
        console.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
    app.command()(validate)
