"""``qexplore sweep`` (the main job), ``report`` and ``recommend``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from qexplore.cli.options import RecipeArg
from qexplore.errors import ExitCode, RecipeError

if TYPE_CHECKING:
    import pandas as pd

    from qexplore.loadtest.metrics import LevelSummary
    from qexplore.loadtest.runner import Progress
    from qexplore.report.data import RunData
    from qexplore.results.pareto import Recommendation
    from qexplore.results.store import Store

console = Console(width=None if sys.stdout.isatty() else 160)
StoreOpt = Annotated[Path | None, typer.Option(help="Results database [default: QEXPLORE_STORE, "
                                               "the recipe's output.store, reports/qexplore.db].")]


class ConsoleObserver:
    """Sweep progress: one line per stage change, a live line per load level."""

    def __init__(self) -> None:
        from qexplore.cli.progress import LoadProgress

        self.started = time.monotonic()
        self.load = LoadProgress(console)
        self.last: tuple[str, str] | None = None

    def _t(self) -> str:
        s = int(time.monotonic() - self.started)
        return f"[dim]{s // 60:02d}:{s % 60:02d}[/]"

    def stage(self, variant: str, stage: str, detail: str = "") -> None:
        if (variant, stage + detail) != self.last:
            self.last = (variant, stage + detail)
            console.print(f"{self._t()} [bold]{variant}[/] {stage}{': ' + detail if detail else ''}",
                          highlight=False)
        self.load.label = f"    {variant} "

    def level_progress(self, variant: str, p: Progress) -> None:
        self.load.update(p)

    def level_done(self, variant: str, s: LevelSummary) -> None:
        self.load.level_done(s)

    def variant_done(self, variant: str, status: str, detail: str = "") -> None:
        color = "green" if status == "ok" else "red"
        console.print(f"{self._t()} [bold]{variant}[/] [{color}]{status}[/]"
                      f"{' — ' + detail if detail else ''}", highlight=False)


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
    dry_run: Annotated[bool, typer.Option(help="Show the plan and what is already recorded.")
                       ] = False,
    output: Annotated[Path | None, typer.Option(help="Reports folder [default: the recipe's "
                                                "output.dir].")] = None,
    allow_unsupported: Annotated[bool, typer.Option(
        help="Run variants the target is not known to support (to see how they fail).")] = False,
) -> None:
    """Build, serve, load-test and evaluate every variant; then the Pareto table and reports.

    Re-running the same recipe resumes an interrupted run; a completed run re-measures nothing.
    """
    from qexplore.recipes import load_recipe
    from qexplore.sweep import SweepOptions, prepare
    from qexplore.sweep import sweep as run_sweep

    r = load_recipe(recipe)
    opts = SweepOptions(only, skip_eval, skip_loadtest, force, new_run, output, allow_unsupported)
    if dry_run:
        from qexplore.cli.build_cmds import plan as show_plan

        show_plan(recipe, only)
        _describe_work(r)
        _describe_recorded(r)
        try:
            prepare(r, opts)
        except RecipeError as e:  # a dry run reports what a real run would refuse
            for line in e.lines():
                console.print(f"[yellow]a real run would stop here:[/] {line}", highlight=False)
        return
    try:
        result = run_sweep(r, opts, ConsoleObserver())
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: everything measured so far is stored; run the same "
                      "command again to resume.")
        raise typer.Exit(int(ExitCode.PARTIAL)) from None
    verb = "resumed" if result.resumed else "recorded"
    console.print(f"run {result.run_id} {verb} in {result.store}")
    _report(_load(result.store, result.run_id)[0], result.run_dir)
    if result.failed:
        console.print(f"[red]failed variants: {', '.join(result.failed)}[/] (the rest are recorded)")
        raise typer.Exit(int(ExitCode.PARTIAL))


def _describe_work(r: object) -> None:
    from qexplore.recipes.schema import Recipe

    assert isinstance(r, Recipe)
    for w in r.workloads:
        total = len(w.concurrency) * w.requests
        console.print(f"workload {w.name}: {len(w.concurrency)} levels × {w.requests} requests "
                      f"= {total} requests per variant, max_tokens {w.max_tokens}")
    if r.eval.tasks:
        console.print(f"eval: {', '.join(t.name for t in r.eval.tasks)}"
                      + (f", limit {r.eval.limit}" if r.eval.limit else ""))


def _describe_recorded(r: object) -> None:
    """What the store already holds for this recipe, and how long its last run took."""
    from qexplore.recipes.schema import Recipe
    from qexplore.results.provenance import recipe_hash
    from qexplore.results.store import Store, store_path

    assert isinstance(r, Recipe)
    path = store_path(r.output.store)
    if not path.exists():
        console.print("nothing recorded yet for this recipe; no time estimate")
        return
    store = Store(path)
    try:
        last = store.latest_run(recipe_hash(r))
        if last is None:
            console.print("nothing recorded yet for this recipe; no time estimate")
            return
        done = [v["variant"] for v in store.variants(last["run_id"]) if v["status"] == "ok"]
        levels = len(store.levels(last["run_id"]))
    finally:
        store.close()
    took = (f", took {(last['ended_at'] - last['started_at']) / 60:.1f} min"
            if last.get("ended_at") else "")
    console.print(f"last run {last['run_id']} ({last['status']}{took}): {levels} levels recorded, "
                  f"complete variants: {', '.join(done) or 'none'} — a sweep now resumes it "
                  "(--new-run measures again)", highlight=False)


def _report(data: RunData, out_dir: Path) -> None:
    """Write a run's reports and show its table and recommendation."""
    from qexplore.report.write import write_reports

    written = write_reports(data, out_dir)
    console.print(pareto_table(written.table))
    if not written.table.empty:
        print_recommendation(written.recommendation)
    console.print(f"report: {written.paths['html']}")


def pareto_table(df: pd.DataFrame) -> Table:
    t = Table(box=None, header_style="bold")
    cols = ["variant", "scheme", "status", "weights_gb", "recovery_pct", "accuracy_verdict",
            "user_tps_p1", "output_tps", "ttft_ms_p99", "capacity_users", "pareto"]
    for c in cols:
        t.add_column(c.replace("_", " "), justify="left" if c in cols[:3] else "right")
    from qexplore.report.write import format_value

    for _, row in df.iterrows():
        t.add_row(*[format_value(row.get(c)) for c in cols])
    return t


def print_recommendation(rec: Recommendation) -> None:
    console.print(f"[bold]{rec.summary}[/]", highlight=False)
    for line in rec.lines()[1:]:
        console.print(f"  {line}", highlight=False)


def _store(path: Path | None) -> Store:
    """The results store named by ``--store`` (or the default); it must exist."""
    from qexplore.results.store import Store, store_path

    path = path or store_path()
    if not path.exists():
        raise RecipeError(f"--store: no results store at {path}")
    return Store(path)


def _load(path: Path | None, *run_ids: str) -> list[RunData]:
    """Stored runs, read in full (the store is closed again)."""
    from qexplore.report.data import load_run

    store = _store(path)
    try:
        return [load_run(store, run_id) for run_id in run_ids]
    finally:
        store.close()


def report(
    run: Annotated[str, typer.Argument(help="Run id (see the sweep's output).")],
    store: StoreOpt = None,
    output: Annotated[Path | None, typer.Option(help="Folder [default: reports/RUN].")] = None,
) -> None:
    """Rebuild every report of a stored run from the store alone."""
    _report(_load(store, run)[0], output or Path("reports") / run)


def recommend(
    run: Annotated[str, typer.Argument(help="Run id.")],
    users: Annotated[int | None, typer.Option(min=1, help="Concurrent users to serve.")] = None,
    min_user_tps: Annotated[float | None, typer.Option(help="Slowest-1% user tok/s floor.")] = None,
    max_accuracy_drop: Annotated[float | None, typer.Option(help="Accuracy loss budget, %.")] = None,
    store: StoreOpt = None,
) -> None:
    """Name the variant to deploy for these constraints, and why each other one lost."""
    from qexplore.report.data import recommendation

    rec = recommendation(_load(store, run)[0], users, min_user_tps, max_accuracy_drop)
    print_recommendation(rec)
    if rec.winner is None:
        raise typer.Exit(int(ExitCode.PARTIAL))




def compare(
    run_a: Annotated[str, typer.Argument(help="The reference run (e.g. last good night).")],
    run_b: Annotated[str, typer.Argument(help="The run to check.")],
    max_throughput_drop: Annotated[float, typer.Option(help="Regression if output or slowest-1% "
                                                       "user tok/s drops more than this, %.")] = 10.0,
    max_latency_rise: Annotated[float, typer.Option(help="Regression if TTFT p99 rises more than "
                                                    "this, %.")] = 25.0,
    store: StoreOpt = None,
) -> None:
    """Compare two runs per variant; exit 1 on a regression (significant accuracy drop, or a
    speed/latency change beyond the thresholds), so a nightly job can gate on it."""
    from qexplore.results.compare import Thresholds, compare_runs

    a, b = _load(store, run_a, run_b)
    deltas = compare_runs(a, b, Thresholds(max_throughput_drop, max_latency_rise))
    t = Table(box=None, header_style="bold")
    for c in ("variant", "what", run_a, run_b, "change %", "", "note"):
        t.add_column(c)
    from qexplore.report.write import format_value as f

    for d in deltas:
        mark = "[red]REGRESSION[/]" if d.regression else ""
        t.add_row(d.variant, d.what, f(d.a), f(d.b), f(d.change_pct), mark, d.note)
    console.print(t)
    bad = [d for d in deltas if d.regression]
    if bad:
        names = sorted({f"{d.variant} ({d.what})" for d in bad})
        console.print(f"[red]{len(bad)} regression(s):[/] {', '.join(names)}", highlight=False)
        raise typer.Exit(int(ExitCode.PARTIAL))
    console.print("no regression")


def history(
    recipe: Annotated[str | None, typer.Option(help="Only runs of this recipe name.")] = None,
    variant: Annotated[str | None, typer.Option(help="Only this variant.")] = None,
    store: StoreOpt = None,
    html: Annotated[Path, typer.Option(help="Where to write the trend chart.")] = Path(
        "reports/history.html"),
) -> None:
    """A table of stored runs (accuracy and speed at the target users) and a trend chart."""
    from html import escape

    from qexplore.report import svg
    from qexplore.report.data import load_run, variant_table
    from qexplore.report.write import format_value as f

    s = _store(store)
    t = Table(box=None, header_style="bold")
    for c in ("run", "status", "variant", "recovery %", "user tok/s p1", "output tok/s"):
        t.add_column(c)
    series: dict[str, list[tuple[float, float]]] = {}
    try:
        runs = [r for r in s.runs() if not recipe or r["recipe_name"] == recipe]
        for i, r in enumerate(runs, start=1):
            df = variant_table(load_run(s, r["run_id"]))
            for _, row in df.iterrows():
                if variant and row["variant"] != variant:
                    continue
                t.add_row(r["run_id"], r["status"], str(row["variant"]), f(row["recovery_pct"]),
                          f(row["user_tps_p1"]), f(row["output_tps"]))
                if row["output_tps"] is not None:
                    series.setdefault(str(row["variant"]), []).append((i, row["output_tps"]))
    finally:
        s.close()
    console.print(t)
    html.parent.mkdir(parents=True, exist_ok=True)
    chart = svg.line_chart("Output tok/s at the target users, by run", series, "run #", "tok/s")
    html.write_text(f"<!doctype html><meta charset='utf-8'><title>qexplore history</title>"
                    f"<h1>qexplore history {escape(recipe or '')}</h1>{chart}")
    console.print(f"trend chart: {html}")


def register(app: typer.Typer) -> None:
    for command in (sweep, report, recommend, compare, history):
        app.command()(command)
