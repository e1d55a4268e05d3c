"""Nightly tracking: ``compare`` (the gate), ``history`` (the trend report), ``export`` and
``import`` (runs between stores). Each parses its flags, calls one core function and renders."""

from __future__ import annotations

import sys
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from qexplore.cli.options import StoreOpt
from qexplore.errors import ExitCode

if TYPE_CHECKING:
    from qexplore.results.compare import Delta, Gate
    from qexplore.results.transfer import Moved

console = Console(width=None if sys.stdout.isatty() else 160)


def compare(
    run_a: Annotated[str, typer.Argument(help="The reference run (e.g. last good night), or "
                                         "LAST_GOOD: the latest earlier run of RUN_B's recipe "
                                         "whose gate passed.")],
    run_b: Annotated[str, typer.Argument(help="The run to check.")],
    max_throughput_drop: Annotated[float, typer.Option(help="Regression if output or slowest-1% "
                                                       "user tok/s drops more than this, %.")] = 10.0,
    max_latency_rise: Annotated[float, typer.Option(help="Regression if TTFT p99 rises more than "
                                                    "this, %.")] = 25.0,
    allow_missing: Annotated[bool, typer.Option(help="Pass levels and evaluations of RUN_A that "
                                                "RUN_B lacks (reported either way).")] = False,
    junit: Annotated[Path | None, typer.Option(help="Also write the gate as JUnit XML here: one "
                                               "test case per variant × figure.")] = None,
    store: StoreOpt = None,
) -> None:
    """Compare two runs per variant; exit 1 on a regression (significant accuracy drop, a
    significant speed/latency change beyond the thresholds, more failed requests, or a level or
    evaluation missing from RUN_B), 5 when the noise hides whether there is one — so a nightly
    job can gate on it; 1 also when RUN_B is not complete (a variant failed). With LAST_GOOD
    the outcome is recorded in the store (what the next LAST_GOOD reads), and with no earlier
    good run a complete RUN_B becomes the first reference."""
    from qexplore.report.junit import write_junit
    from qexplore.results.compare import Thresholds, gate
    from qexplore.results.store import Store, store_path

    with Store.existing(store or store_path()) as s:
        g = gate(s, run_a, run_b, Thresholds(max_throughput_drop, max_latency_rise, allow_missing))
    if junit:
        console.print(f"JUnit XML: {write_junit(g, junit)}", highlight=False)
    _show_gate(g)
    if g.exit_code != ExitCode.OK:
        raise typer.Exit(int(g.exit_code))


def _show_gate(g: Gate) -> None:
    run = g.run.run_id
    if g.reference is None:
        console.print(f"no earlier run of recipe '{g.run.recipe_name}' passed a gate: " + (
            f"{run} is now the reference" if g.outcome == "first" else
            f"[red]{run} is {g.run.status}[/], so it is not a reference"), highlight=False)
        return
    _show_deltas(g.deltas, g.reference.run_id, run)
    if g.outcome == "failed":
        console.print(f"[red]{run} is {g.run.status}[/] (failed: "
                      f"{', '.join(v.name for v in g.run.variants if not v.ok) or 'none'})",
                      highlight=False)
    if g.regressions:
        names = sorted({f"{d.variant} ({d.what})" for d in g.regressions})
        console.print(f"[red]{len(g.regressions)} regression(s):[/] {', '.join(names)}",
                      highlight=False)
    elif g.inconclusive:
        names = sorted({f"{d.variant} ({d.what})" for d in g.inconclusive})
        console.print(f"[yellow]inconclusive:[/] the noise is larger than the limit for "
                      f"{', '.join(names)} (the levels' intervals plus the recipe's spread between "
                      "server sessions); more trials narrow the first, a quieter machine the "
                      "second", highlight=False)
    else:
        console.print(f"no regression ({run} against {g.reference.run_id})", highlight=False)


def _show_deltas(deltas: list[Delta], run_a: str, run_b: str) -> None:
    from qexplore.results.formats import cell

    t = Table(box=None, header_style="bold")
    for c in ("variant", "what", run_a, run_b, "change %", "", "note"):
        t.add_column(c)
    for d in deltas:
        mark = ("[red]REGRESSION[/]" if d.regression else
                "[yellow]inconclusive[/]" if d.inconclusive else "")
        t.add_row(d.variant, d.what, cell(d.a, d.figure), cell(d.b, d.figure),
                  cell(d.change_pct, "change_pct"), mark, d.note)
    console.print(t)


def history(
    recipe: Annotated[str | None, typer.Option(help="Only runs of this recipe name.")] = None,
    variant: Annotated[str | None, typer.Option(help="Only this variant.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Only runs started on or after this "
                                                   "date (YYYY-MM-DD[THH:MM:SS]).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Only runs started on or before this "
                                                   "(a date alone: its end of day).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML trend "
                                         "report.")] = Path("reports/history.html"),
    store: StoreOpt = None,
) -> None:
    """The runs of a recipe over time: a table (accuracy and speed at the target users, what
    regressed against the run before) and a self-contained HTML trend report with each figure's
    95 % interval, regressions marked and what changed between runs (versions, model, recipe,
    hardware)."""
    from qexplore.report.history import history_frame, write_history
    from qexplore.results.formats import cell
    from qexplore.results.history import history as history_of
    from qexplore.results.store import Store, store_path

    if until is not None and until.time() == dtime():
        until = datetime.combine(until.date(), dtime.max)
    with Store.existing(store or store_path()) as s:
        h = history_of(s, recipe, variant, since, until)
    df = history_frame(h)
    t = Table(box=None, header_style="bold")
    for c in df.columns:
        t.add_column(c)
    for row in df.itertuples(index=False):
        t.add_row(*[cell(v, str(c)) for c, v in zip(df.columns, row, strict=True)])
    console.print(t)
    console.print(f"trend report: {write_history(h, output, recipe or '')}", highlight=False)


def export(
    runs: Annotated[list[str], typer.Argument(help="Run ids to export.", show_default=False)],
    to: Annotated[Path, typer.Option("--to", help="Folder to write (created; a store of its own "
                                     "and each run's files).", show_default=False)],
    store: StoreOpt = None,
) -> None:
    """Copy runs, with their raw records, evaluation files and reports, into a folder that
    `qexplore import` adds to another store (build checkpoints stay: they are rebuilt). Run it
    in the folder the sweep ran in (its records name files relative to it); exit 1 if a file
    they name is not found (the rest is exported)."""
    from qexplore.results.store import Store, store_path
    from qexplore.results.transfer import export_runs

    with Store.existing(store or store_path()) as s:
        moved = export_runs(s, runs, to)
    _show_moved(moved, f"exported to {to}")
    if moved.missing:
        raise typer.Exit(int(ExitCode.PARTIAL))


def import_(
    folder: Annotated[Path, typer.Argument(help="A folder written by `qexplore export`.",
                                           show_default=False)],
    store: StoreOpt = None,
    reports: Annotated[Path, typer.Option(help="Where the runs' files go (a folder per run).")
                       ] = Path("reports"),
) -> None:
    """Add the runs exported to FOLDER to this store (runs it already has are skipped), their
    files under --reports."""
    from qexplore.results.store import Store, store_path
    from qexplore.results.transfer import import_runs

    with Store(store or store_path()) as s:
        moved = import_runs(s, folder, reports)
    _show_moved(moved, f"imported into {store or store_path()}")


def _show_moved(moved: Moved, where: str) -> None:
    console.print(f"{len(moved.runs)} run(s) {where}: {', '.join(moved.runs) or 'none'} "
                  f"({moved.files} file path(s) moved)", highlight=False)
    if moved.skipped:
        console.print(f"already there, skipped: {', '.join(moved.skipped)}", highlight=False)
    if moved.missing:
        console.print(f"[yellow]not found, left out[/] ({len(moved.missing)}; a relative path is "
                      f"read from the folder the sweep ran in): {', '.join(moved.missing[:5])}"
                      + (" …" if len(moved.missing) > 5 else ""), highlight=False)


def register(app: typer.Typer) -> None:
    for command in (compare, history, export):
        app.command()(command)
    app.command("import")(import_)
