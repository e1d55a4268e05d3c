"""``qexplore sweep`` (the main job), ``report``, ``recommend``, ``compare`` and ``history``:
each parses its flags, calls one core function and renders what it returns."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qexplore.cli.options import RecipeArg
from qexplore.errors import ExitCode

if TYPE_CHECKING:
    from qexplore.recipes.schema import Recipe
    from qexplore.report.write import Written
    from qexplore.results.compare import Delta
    from qexplore.results.pareto import Recommendation
    from qexplore.results.run import StoredRun
    from qexplore.sweep import DryRun

console = Console(width=None if sys.stdout.isatty() else 160)
StoreOpt = Annotated[Path | None, typer.Option(help="Results database [default: QEXPLORE_STORE, "
                                               "the recipe's output.store, reports/qexplore.db].")]
PARETO_COLUMNS = ["variant", "scheme", "status", "weights_gb", "recovery_pct", "accuracy_verdict",
                  "speed_verdict", "user_tps_p1", "output_tps", "pct_of_bound", "ttft_ms_p99",
                  "capacity_users", "stalls", "pareto"]


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
    output: Annotated[Path | None, typer.Option(help="Reports folder [default: the recipe's "
                                                "output.dir].")] = None,
    allow_unsupported: Annotated[bool, typer.Option(
        help="Run variants the target is not known to support (to see how they fail).")] = False,
    ray: Annotated[str | None, typer.Option(
        "--ray", is_flag=False, flag_value="auto", metavar="[ADDRESS]",
        help="Run the variants as tasks on a Ray cluster, in parallel as its nodes allow "
        "(ADDRESS: its head's host:port; alone: the cluster this machine belongs to). "
        "Overrides the recipe's executor section.")] = None,
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
    try:
        result = run_sweep(r, opts, ConsoleObserver(console))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: everything measured so far is stored; run the same "
                      "command again to resume.")
        raise typer.Exit(int(ExitCode.PARTIAL)) from None
    console.print(f"run {result.run_id} {'resumed' if result.resumed else 'recorded'} in "
                  f"{result.store}")
    if any(w.get("executor") == "ray" for w in result.where.values()):
        console.print(_where_table(result.where))
    if result.report:
        _show_report(result.report)
    if result.failed:
        console.print(f"[red]failed variants: {', '.join(result.failed)}[/] (the rest are recorded)")
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


def _show_report(written: Written) -> None:
    """A run's table and recommendation, and where its reports are."""
    from qexplore.report.write import shown
    from qexplore.results.table import frame

    t = Table(box=None, header_style="bold")
    for c in PARETO_COLUMNS:
        t.add_column(c.replace("_", " "), justify="left" if c in PARETO_COLUMNS[:3] else "right")
    for row in shown(frame(written.rows))[PARETO_COLUMNS].itertuples(index=False):
        t.add_row(*row)
    console.print(t)
    if written.rows:
        _show_recommendation(written.recommendation)
    console.print(f"report: {written.paths['html']}")


def _show_recommendation(rec: Recommendation) -> None:
    console.print(f"[bold]{rec.summary}[/]", highlight=False)
    for line in rec.lines()[1:]:
        console.print(f"  {line}", highlight=False)


def _load(path: Path | None, *run_ids: str) -> list[StoredRun]:
    from qexplore.results.run import load_runs
    from qexplore.results.store import store_path

    return load_runs(path or store_path(), *run_ids)


def report(
    run: Annotated[str, typer.Argument(help="Run id (see the sweep's output).")],
    store: StoreOpt = None,
    output: Annotated[Path | None, typer.Option(help="Folder [default: reports/RUN].")] = None,
) -> None:
    """Rebuild every report of a stored run from the store alone."""
    from qexplore.report.write import write_reports

    _show_report(write_reports(_load(store, run)[0], output or Path("reports") / run))


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


def compare(
    run_a: Annotated[str, typer.Argument(help="The reference run (e.g. last good night).")],
    run_b: Annotated[str, typer.Argument(help="The run to check.")],
    max_throughput_drop: Annotated[float, typer.Option(help="Regression if output or slowest-1% "
                                                       "user tok/s drops more than this, %.")] = 10.0,
    max_latency_rise: Annotated[float, typer.Option(help="Regression if TTFT p99 rises more than "
                                                    "this, %.")] = 25.0,
    allow_missing: Annotated[bool, typer.Option(help="Pass levels and evaluations of RUN_A that "
                                                "RUN_B lacks (reported either way).")] = False,
    store: StoreOpt = None,
) -> None:
    """Compare two runs per variant; exit 1 on a regression (significant accuracy drop, a
    significant speed/latency change beyond the thresholds, more failed requests, or a level or
    evaluation missing from RUN_B), 5 when the noise hides whether there is one — so a nightly
    job can gate on it."""
    from qexplore.results.compare import Thresholds, compare_runs

    a, b = _load(store, run_a, run_b)
    deltas = compare_runs(a, b, Thresholds(max_throughput_drop, max_latency_rise, allow_missing))
    _show_deltas(deltas, run_a, run_b)
    bad = [d for d in deltas if d.regression]
    unsure = [d for d in deltas if d.inconclusive]
    if bad:
        names = sorted({f"{d.variant} ({d.what})" for d in bad})
        console.print(f"[red]{len(bad)} regression(s):[/] {', '.join(names)}", highlight=False)
        raise typer.Exit(int(ExitCode.PARTIAL))
    if unsure:
        names = sorted({f"{d.variant} ({d.what})" for d in unsure})
        console.print(f"[yellow]inconclusive:[/] the noise is larger than the limit for "
                      f"{', '.join(names)} (the levels' intervals plus the recipe's spread between server "
                      "sessions); more trials narrow the first, a quieter machine the second",
                      highlight=False)
        raise typer.Exit(int(ExitCode.INCONCLUSIVE))
    console.print("no regression")


def _show_deltas(deltas: list[Delta], run_a: str, run_b: str) -> None:
    from qexplore.report.write import format_value as f

    t = Table(box=None, header_style="bold")
    for c in ("variant", "what", run_a, run_b, "change %", "", "note"):
        t.add_column(c)
    for d in deltas:
        mark = ("[red]REGRESSION[/]" if d.regression else
                "[yellow]inconclusive[/]" if d.inconclusive else "")
        t.add_row(d.variant, d.what, f(d.a), f(d.b), f(d.change_pct), mark, d.note)
    console.print(t)


def history(
    recipe: Annotated[str | None, typer.Option(help="Only runs of this recipe name.")] = None,
    variant: Annotated[str | None, typer.Option(help="Only this variant.")] = None,
    store: StoreOpt = None,
    html: Annotated[Path, typer.Option(help="Where to write the trend report.")] = Path(
        "reports/history.html"),
) -> None:
    """A table of stored runs (accuracy and speed at the target users) and a trend report."""
    from qexplore.report.history import history_frame, write_history
    from qexplore.report.write import format_value
    from qexplore.results.history import history as points_of
    from qexplore.results.store import Store, store_path

    with Store.existing(store or store_path()) as s:
        points = points_of(s, recipe, variant)
    df = history_frame(points)
    t = Table(box=None, header_style="bold")
    for c in df.columns:
        t.add_column(c)
    for row in df.itertuples(index=False):
        t.add_row(*[format_value(v) for v in row])
    console.print(t)
    console.print(f"trend report: {write_history(points, html, recipe or '')}")


def register(app: typer.Typer) -> None:
    for command in (sweep, report, recommend, compare, history):
        app.command()(command)
