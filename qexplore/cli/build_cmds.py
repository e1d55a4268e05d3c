"""Commands of the build stage: plan, quantize."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from qexplore.cli.options import RecipeArg, VariantOpt

if TYPE_CHECKING:
    from qexplore.plan import Plan

console = Console()
err_console = Console(stderr=True)


def plan(
    recipe: RecipeArg,
    variant: VariantOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan and its estimates as "
                                          "JSON (target figures, per-variant weights, KV cache "
                                          "and decode bounds per level).")] = False,
) -> None:
    """Show what a recipe will do on its target, before any download or GPU work: support per
    variant, what is cached, and the capacity plan — weights, KV-cache tokens, sequences that
    fit, the roofline bound on decode tok/s at each level and how long each level will take.
    Exit 2 if the target cannot serve a variant."""
    from qexplore.errors import ExitCode
    from qexplore.plan import make_plan
    from qexplore.plan.estimate import model_facts, plan_json
    from qexplore.recipes import load_recipe

    p = make_plan(load_recipe(recipe), variant)
    if as_json:
        out = plan_json(p.figures, p.estimates, model_facts(p.recipe))
        times = [d.model_dump() for d in p.durations]
        typer.echo(json.dumps({**out, "durations": times, "warnings": p.warnings()}, indent=2))
    else:
        show_plan(p)
        show_estimates(p)
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


def show_estimates(p: Plan) -> None:
    """The capacity plan: memory per variant, then each workload's bounds and level times."""
    from qexplore.plan.estimate import assumptions, model_facts

    f, m = p.figures, model_facts(p.recipe)
    about = m.get("unknown") or f"{m['parameters'] / 1e9:.3g} B parameters (config: {m['config']})"
    console.print(f"\n[bold]Model[/] {m['name']}: {about}", highlight=False)
    bw = f"{f.bandwidth_gbs:,.1f} GB/s" if f.bandwidth_gbs else "bandwidth unknown"
    console.print(f"\n[bold]Memory[/] ({bw}; {f.sources.get('bandwidth_gbs', '')})",
                  highlight=False)
    mem = Table(box=None, header_style="bold")
    sharded = any(e.gpus > 1 for e in p.estimates)
    for col in ("variant", "weights GB", *(["GPUs", "GB per GPU"] if sharded else []),
                "bits/weight", "KV B/token", "KV tokens", "seqs at max_model_len", "build RAM GB"):
        mem.add_column(col, justify="left" if col == "variant" else "right")
    for e in p.estimates:
        src = "" if e.weights_source == "estimate" else f" ({e.weights_source})"
        size = _num(e.weights_gb, ".2f" if (e.weights_gb or 0) >= 1 else ".3g")
        shards = [str(e.gpus), _num(e.weights_gb_per_gpu, ".2f")] if sharded else []
        mem.add_row(e.name, size + src, *shards, _num(e.bits_per_weight, ".2f"),
                    _num(e.kv_bytes_per_token, ",.0f"), _num(e.kv_cache_tokens, ",d"),
                    _num(e.max_seqs_at_max_len, ",d"), _num(e.build_ram_gb, ".1f"))
    console.print(mem)
    for w in p.recipe.workloads:
        console.print(_bound_table(p, w.name))
    console.print(_time_table(p))
    for e in p.estimates:
        for line in e.unknown:
            console.print(f"[yellow]not estimated:[/] {line}", highlight=False)
    for line in [*p.warnings(), *(n for d in p.durations for n in d.notes)]:
        console.print(f"[yellow]warning:[/] {line}", highlight=False)
    console.print("[dim]" + "\n".join(f"· {a}" for a in assumptions(f)) + "[/]", highlight=False)


def _bound_table(p: Plan, workload: str) -> Table:
    table = Table(title=f"decode bound, output tok/s — workload {workload}", box=None,
                  header_style="bold", title_justify="left")
    table.add_column("variant")
    levels = next(w for w in p.recipe.workloads if w.name == workload).concurrency
    for users in levels:
        table.add_column(f"{users} users", justify="right")
    table.add_column("levels' time", justify="right")
    for e in p.estimates:
        w = next((x for x in e.workloads if x.name == workload), None)
        if w is None:
            table.add_row(e.name, *["–"] * (len(levels) + 1))
            continue
        cells = [f"{_num(w.decode_bound_tps.get(u), ',.0f')} {(w.bound_kind.get(u) or '')[:3]}"
                 for u in levels]
        secs = [s for s in w.level_seconds.values() if s is not None]
        table.add_row(e.name, *cells, _duration(sum(secs)) if secs else "–")
    return table


def _time_table(p: Plan) -> Table:
    """Each variant's build, server start, levels and evaluation, estimated: a fixed budget
    (one round, every document), each later round, and all of it measured until decided
    (expected and at most); the sweep's sums, and theirs with every build cached (a nightly
    sweep's)."""
    share = p.measured_share
    how = (f"levels at the {share[0]:.0%} of the bound run {share[1]} reached" if share
           else "levels at an assumed share of the bound")
    most, first = p.recipe.precision.max_rounds, p.recipe.precision.first_docs
    chunks = f"; accuracy in chunks from {first:,} documents" if first and p.recipe.eval.tasks \
        else ""
    table = Table(title=f"time, estimated ({how}; up to {most} round{'s' * (most > 1)}{chunks})",
                  box=None, header_style="bold", title_justify="left")
    cols = ("variant", "build", "server start", "levels", "evaluation", "fixed budget",
            "later round", "expected", "at most")
    for col in cols:
        table.add_column(col, justify="left" if col == "variant" else "right")
    for d in p.durations:
        cells = (d.build_s, d.startup_s, d.levels_s, d.eval_s, d.total_s, d.round_s,
                 d.expected_s, d.worst_s)
        table.add_row(d.name, *("?" if c is None else _duration(c) for c in cells))
    fields = ("total_s", "expected_s", "worst_s")
    sums = [_sum([getattr(d, f) for d in p.durations]) for f in fields]
    builds = _sum([d.build_s for d in p.durations])
    table.add_row("[bold]sweep[/]", "", "", "", "", *(_duration(x) if x is not None else ""
                                                      for x in (sums[0], None, *sums[1:])))
    if builds:
        cached = [None if x is None or builds is None else x - builds for x in sums]
        table.add_row("[bold]builds cached[/]", "", "", "", "", *(
            _duration(x) if x is not None else "" for x in (cached[0], None, *cached[1:])))
    return table


def _sum(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else sum(v or 0 for v in values)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"~{seconds / 3600:,.1f} h"
    return f"~{seconds / 60:,.1f} min" if seconds >= 60 else f"~{seconds:.0f} s"


def _num(x: float | int | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


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
