"""``qexplore sweep`` (the main job), ``report`` and ``recommend``:
each parses its flags, calls one core function and renders what it returns."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qexplore.cli.options import MlflowOpt, RecipeArg, StoreOpt
from qexplore.errors import ExitCode

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from qexplore.recipes.schema import Recipe
    from qexplore.report.write import Written
    from qexplore.results.pareto import Recommendation
    from qexplore.results.run import StoredRun
    from qexplore.sweep import DryRun

# Not on a terminal: 160 columns unless COLUMNS says otherwise (scripts and CI logs).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
WideOpt = Annotated[bool, typer.Option(
    "--wide", help="The table with each speed figure's 95% interval and more columns (it may "
    "wrap); by default one line per variant, point values only (every column and interval is "
    "in pareto.csv, pareto.md and report.html).")]


def sweep(
    recipe: RecipeArg,
    only: Annotated[list[str] | None, typer.Option("--only", help="Only this variant (repeatable).")
                    ] = None,
    skip_eval: Annotated[bool, typer.Option(help="Do not evaluate accuracy.")] = False,
    skip_loadtest: Annotated[bool, typer.Option(help="Do not load-test.")] = False,
    force: Annotated[bool, typer.Option(help="Rebuild and re-measure everything in a new run.")
                     ] = False,
    new_run: Annotated[bool, typer.Option(help="Measure again in a new run, reusing cached builds "
                                          "(nightly jobs).")] = False,
    dry_run: Annotated[bool, typer.Option(help="Show the plan the run would execute and what is "
                                          "already recorded; do nothing.")] = False,
    output: Annotated[Path | None, typer.Option(help="Reports folder (default: the recipe's "
                                                "output.dir).")] = None,
    allow_unsupported: Annotated[bool, typer.Option(
        help="Run variants the target is not known to support (to see how they fail).")] = False,
    ray: Annotated[str | None, typer.Option(
        "--ray", is_flag=False, flag_value="auto", metavar="[ADDRESS]",
        help="Run the variants as tasks on a Ray cluster, in parallel as its nodes allow "
        "(ADDRESS: its head's host:port; alone: the cluster this machine belongs to). "
        "Overrides the recipe's executor section.")] = None,
    mlflow: MlflowOpt = None,
    wide: WideOpt = False,
) -> None:
    """Build, serve, load-test and evaluate every variant; then the Pareto table and reports.

    Re-running the same recipe resumes an interrupted run; a completed run re-measures nothing.
    """
    from qexplore.cli.progress import ConsoleObserver
    from qexplore.recipes import load_recipe
    from qexplore.sweep import SweepOptions
    from qexplore.sweep import dry_run as plan_run
    from qexplore.sweep import sweep as run_sweep

    r = load_recipe(recipe)
    opts = SweepOptions(only, skip_eval, skip_loadtest, force, new_run, output, allow_unsupported,
                        ray)
    if dry_run:
        _show_dry_run(plan_run(r, opts), r)
        return
    client = _tracker(mlflow)  # checked before any work
    try:
        result = run_sweep(r, opts, ConsoleObserver(console))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: everything measured so far is stored; run the same "
                      "command again to resume.")
        raise typer.Exit(int(ExitCode.PARTIAL)) from None
    console.print(f"run {result.run_id} {'resumed' if result.resumed else 'recorded'} in "
                  f"{result.store}", soft_wrap=True, highlight=False)  # one line: scripts read it
    if any(w.get("executor") == "ray" for w in result.where.values()):
        console.print(_where_table(result.where))
    if result.report:
        _show_report(result.report, wide)
    if result.failed:
        console.print(f"[red]failed variants: {', '.join(result.failed)}[/] (the rest are recorded)")
    if client is not None and result.report:
        _log(client, _load(result.store, result.run_id)[0], result.report)
    if result.failed:
        raise typer.Exit(int(ExitCode.PARTIAL))


def _where_table(where: dict[str, dict[str, Any]]) -> Table:
    """Where each variant ran on the cluster and how long it took (this sweep's part)."""
    t = Table(title="where each variant ran", box=None, header_style="bold", title_justify="left")
    for col in ("variant", "node", "status", "took"):
        t.add_column(col, justify="right" if col == "took" else "left")
    for v, w in sorted(where.items(), key=lambda kv: kv[1].get("started", 0)):
        took = (w.get("ended") or w["started"]) - w["started"]
        t.add_row(v, f"{w.get('host', '?')} ({w.get('address', '?')})", w.get("status", "?"),
                  f"{took / 60:.1f} min" if took >= 60 else f"{took:.0f} s")
    return t


def _show_dry_run(d: DryRun, r: Recipe) -> None:
    from qexplore.cli.build_cmds import show_estimates, show_plan

    show_plan(d.plan)
    show_estimates(d.plan)
    for line in d.plan.refusals():
        if not d.refusals:  # --allow-unsupported: the run goes ahead with it
            console.print(f"[yellow]runs although unsupported:[/] {line}", highlight=False)
    for w in r.workloads:
        per_trial = "/".join(str(w.per_trial(u)) for u in w.concurrency)
        total = sum(w.trials * w.per_trial(u) for u in w.concurrency)
        console.print(f"workload {w.name}: {len(w.concurrency)} levels × {w.trials} trials × "
                      f"{per_trial} requests = {total} requests per variant, max_tokens "
                      f"{w.max_tokens}")
    if r.eval.tasks:
        console.print(f"eval: {', '.join(t.name for t in r.eval.tasks)}"
                      + (f", limit {r.eval.limit}" if r.eval.limit else ""))
    if d.placement:
        from qexplore.cli.progress import placement_table

        console.print(placement_table(d.placement.rows(), d.left_out))
    _show_recorded(d)
    for line in d.refusals:
        console.print(f"[yellow]a real run would stop here:[/] {line}", highlight=False)


def _show_recorded(d: DryRun) -> None:
    last = d.recorded
    if last is None:
        console.print("nothing recorded yet for this recipe")
        return
    took = f", took {last.minutes:.1f} min" if last.minutes is not None else ""
    console.print(f"last run {last.run_id} ({last.status}{took}): {last.levels} levels recorded, "
                  f"complete variants: {', '.join(last.complete) or 'none'} — a sweep now resumes "
                  "it (--new-run measures again)", highlight=False)


# What a narrow terminal keeps first (the rest is left out, never cut or wrapped).
PRIORITY = ["variant", "speed_verdict", "user_tps_p1", "output_tps", "recovery_pct",
            "accuracy_verdict", "ttft_ms_p99", "capacity_users", "pareto", "weights_gb",
            "scheme", "at_users", "status"]


def _show_report(written: Written, wide: bool = False) -> None:
    """A run's table and recommendation, and where its reports are: one line per variant with
    the columns the terminal has room for, or ``wide`` with intervals and more columns."""
    from qexplore.report.write import HEADINGS, HEADLINE, WIDE, cells, shown
    from qexplore.results.table import frame

    if written.notice:
        console.print(f"[bold yellow]{written.notice}[/]", highlight=False)
    df = frame(written.rows)
    text = (shown(df) if wide else cells(df))[WIDE if wide else HEADLINE]
    heading = {c: HEADINGS.get(c, c.replace("_", " ")) for c in text.columns}
    columns = list(text.columns) if wide else _fitting(text, heading, console.width)
    t = Table(box=None, header_style="bold")
    for c in columns:
        t.add_column(heading[c], no_wrap=not wide, overflow="fold",
                     justify="left" if c in HEADLINE[:3] else "right")
    for row in text[columns].itertuples(index=False):
        t.add_row(*row)
    console.print(t)
    if len(columns) < len(text.columns):
        left = [heading[c] for c in text.columns if c not in columns]
        console.print(f"[dim]left out for the terminal's width: {', '.join(left)} (see "
                      f"{written.paths['md'].name} or --wide)[/]", highlight=False)
    if written.rows:
        _show_recommendation(written.recommendation)
    console.print(f"report: {written.paths['html']}")


def _fitting(text: pd.DataFrame, heading: dict[str, str], width: int) -> list[str]:
    """The columns that fit ``width`` whole, taken in :data:`PRIORITY` order, in table order."""
    need = {c: 2 + max(len(heading[c]), *(len(v) for v in text[c])) for c in text.columns}
    kept: set[str] = set()
    for c in PRIORITY:
        if sum(need[k] for k in kept) + need[c] <= width:
            kept.add(c)
    return [c for c in text.columns if c in kept]


def _show_recommendation(rec: Recommendation) -> None:
    console.print(f"[bold]{rec.summary}[/]", highlight=False)
    for line in rec.lines()[1:]:
        console.print(f"  {line}", highlight=False)


def _load(path: Path | None, *run_ids: str) -> list[StoredRun]:
    from qexplore.results.run import load_runs
    from qexplore.results.store import store_path

    return load_runs(path or store_path(), *run_ids)


def _tracker(uri: str | None) -> MlflowClient | None:
    from qexplore.report.tracker import connect

    return connect(uri) if uri else None


def _log(client: MlflowClient, run: StoredRun, written: Written) -> None:
    from qexplore.report.tracker import log_run

    logged = log_run(client, run, written)
    console.print(f"MLflow: experiment {logged.experiment}, run {logged.parent} with "
                  f"{len(logged.children)} variant run(s) "
                  f"({'created' if logged.created else 'updated'})", highlight=False)


def report(
    run: Annotated[str, typer.Argument(help="Run id (see the sweep's output).")],
    store: StoreOpt = None,
    output: Annotated[Path | None, typer.Option(help="Folder (default: reports/RUN).")] = None,
    mlflow: MlflowOpt = None,
    wide: WideOpt = False,
) -> None:
    """Rebuild every report of a stored run from the store alone (and log it to MLflow)."""
    from qexplore.report.write import write_reports

    client = _tracker(mlflow)
    stored = _load(store, run)[0]
    written = write_reports(stored, output or Path("reports") / run)
    _show_report(written, wide)
    if client is not None:
        _log(client, stored, written)


def recommend(
    run: Annotated[str, typer.Argument(help="Run id.")],
    users: Annotated[int | None, typer.Option(min=1, help="Concurrent users to serve.")] = None,
    min_user_tps: Annotated[float | None, typer.Option(help="Slowest-1% user tok/s floor.")] = None,
    max_accuracy_drop: Annotated[float | None, typer.Option(help="Accuracy loss budget, %.")] = None,
    store: StoreOpt = None,
) -> None:
    """Name the variant to deploy for these constraints, and why each other one lost."""
    from qexplore.results.table import recommendation

    rec = recommendation(_load(store, run)[0], users, min_user_tps, max_accuracy_drop)
    _show_recommendation(rec)
    if rec.winner is None:
        raise typer.Exit(int(ExitCode.PARTIAL))


def register(app: typer.Typer) -> None:
    for command in (sweep, report, recommend):
        app.command()(command)
