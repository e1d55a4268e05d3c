"""``qexplore sweep``: plan → for each variant build → serve → load test → evaluate → stop,
recording each measurement the moment it exists, then the reports.

Resumable: a run is found again by the hash of the resolved recipe; what the store already
holds (a variant's levels, its evaluation) is not measured again. A failing variant is recorded
with its reason and the sweep goes on. Order within a variant: the load test first, so every
variant is measured on a freshly started, equally warmed server; the evaluation follows on the
same server (no second model load).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qexplore.errors import HardwareError, RecipeError
from qexplore.evaluate.run import check_tasks
from qexplore.execute.cluster import Placement, RayExecutor
from qexplore.execute.measure import variant_server
from qexplore.execute.record import Headless, Observer, Scope, VariantRecorder, run_here
from qexplore.plan import Plan, make_plan
from qexplore.plan.machine import check_machine
from qexplore.quantize.build import build_variant
from qexplore.recipes.schema import Recipe, Variant
from qexplore.report.write import Written, write_reports
from qexplore.results.provenance import provenance, recipe_hash
from qexplore.results.rounds import (
    LevelState,
    RoundPlan,
    Standing,
    TaskState,
    level_states,
    most_looks,
    next_looks,
    next_round,
    round_number,
    round_seconds,
    task_states,
)
from qexplore.results.run import StoredRun, load_run
from qexplore.results.store import Store, store_path
from qexplore.serve.base import Server
from qexplore.serve.fetch import fetch_model, served_location

__all__ = ["Headless", "Observer", "SweepOptions", "SweepResult", "dry_run", "sweep"]

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class SweepOptions:
    only: list[str] | None = None
    skip_eval: bool = False
    skip_loadtest: bool = False
    force: bool = False  # rebuild and re-measure everything, into a new run
    new_run: bool = False  # measure again into a new run; builds stay cached (nightly jobs)
    output: Path | None = None
    allow_unsupported: bool = False  # run variants the plan refuses (to see how they fail)
    ray: str | None = None  # a Ray cluster's address: run there (else as the recipe's executor)

    def ray_address(self, recipe: Recipe) -> str | None:
        """The Ray cluster to run on, None to run here."""
        if self.ray:
            return self.ray
        return recipe.executor.address if recipe.executor.kind == "ray" else None


@dataclass
class SweepResult:
    run_id: str
    run_dir: Path
    store: Path
    resumed: bool
    statuses: dict[str, str] = field(default_factory=dict)
    report: Written | None = None  # the reports written at the end
    where: dict[str, dict[str, Any]] = field(default_factory=dict)  # where each was measured

    @property
    def failed(self) -> list[str]:
        return [v for v, s in self.statuses.items() if s == "failed"]


@dataclass(frozen=True)
class Recorded:
    """What the store already holds of a recipe's latest run."""

    run_id: str
    status: str
    minutes: float | None  # how long it took, once ended
    levels: int
    complete: list[str]  # variants measured in full


@dataclass(frozen=True)
class DryRun:
    """What ``sweep`` would do: the plan it would execute, what it would stop on, and what is
    recorded already."""

    plan: Plan
    refusals: list[str]  # empty when a real run would start
    recorded: Recorded | None
    placement: Placement | None = None  # on Ray: where each variant would run
    left_out: list[str] = field(default_factory=list)  # on Ray: nodes that cannot, and why


class Executor(Protocol):
    """Runs a sweep's variants; returns each one's status."""

    def run(self, recorders: list[VariantRecorder], run_dir: Path, obs: Observer
            ) -> dict[str, str]: ...


class Here:
    """The variants one after another, in this process."""

    def run(self, recorders: list[VariantRecorder], run_dir: Path, obs: Observer
            ) -> dict[str, str]:
        return run_here(recorders, run_dir, obs)


def prepare(recipe: Recipe, opts: SweepOptions) -> Plan:
    """Everything checked before any work: the plan, this machine (the recipe's GPU, vLLM,
    the model's whereabouts; on Ray each node is checked instead) and the evaluation's
    tasks."""
    plan = make_plan(recipe, opts.only)
    if not opts.allow_unsupported:
        plan.check()
    if opts.ray_address(recipe) is None:
        check_machine(recipe)
    if recipe.eval.tasks and not opts.skip_eval:
        check_tasks([t.name for t in recipe.eval.tasks], recipe.resolved.include_path)
    return plan


def executor(recipe: Recipe, opts: SweepOptions) -> Executor:
    """Where the variants run: here, or on the Ray cluster (connected and its nodes checked)."""
    address = opts.ray_address(recipe)
    return RayExecutor.connect(recipe, address) if address else Here()


def dry_run(recipe: Recipe, opts: SweepOptions = SweepOptions()) -> DryRun:
    """The plan a sweep with ``opts`` would execute, without doing any of it."""
    placement, left_out, last = None, [], recorded(recipe)
    try:
        plan, refusals = prepare(recipe, opts), []
        ex = executor(recipe, opts)
        if isinstance(ex, RayExecutor):
            done = set(last.complete if last and not (opts.force or opts.new_run) else [])
            placement = ex.placement([vp.variant.name for vp in plan.variants
                                      if vp.variant.name not in done])
            left_out = ex.left_out
    except (RecipeError, HardwareError) as e:  # a dry run reports what a real run would refuse
        plan, refusals = make_plan(recipe, opts.only), e.lines()
    return DryRun(plan, refusals, last, placement, left_out)


def recorded(recipe: Recipe) -> Recorded | None:
    """The latest stored run of exactly this recipe, if any."""
    path = store_path(recipe.output.store)
    if not path.exists():
        return None
    with Store(path) as store:
        last = store.latest_run(recipe_hash(recipe))
        if last is None:
            return None
        run = load_run(store, last["run_id"])
    took = (run.ended_at - run.started_at) / 60 if run.ended_at else None
    return Recorded(run.run_id, run.status, took, len(run.levels),
                    [v.name for v in run.variants if v.ok])


def sweep(recipe: Recipe, opts: SweepOptions = SweepOptions(),
          observer: Observer | None = None) -> SweepResult:
    """Run (or resume) the recipe's sweep, then write its reports; returns where everything
    was recorded."""
    obs, started = observer or Headless(), time.monotonic()
    plan = prepare(recipe, opts)
    ex = executor(recipe, opts)
    with Store(store_path(recipe.output.store)) as store:
        run_id, resumed = _open_run(store, recipe, opts)
        out_root = opts.output or Path(recipe.output.dir)  # like the store: relative to the cwd
        result = SweepResult(run_id, out_root / run_id, store.path, resumed)
        scope = Scope(opts.skip_eval, opts.skip_loadtest, opts.force)
        recorders = [VariantRecorder(store, run_id, result.run_dir, recipe, vp, scope, obs,
                                     plan.figures) for vp in plan.variants]
        try:
            result.statuses = ex.run(recorders, result.run_dir, obs)
            if _adaptive(recipe, scope):
                result.statuses |= _until_decided(store, run_id, recorders, ex, result.run_dir,
                                                  obs, started, scope)
            store.set_run_status(run_id, "partial" if result.failed else "complete")
        except KeyboardInterrupt:
            store.set_run_status(run_id, "interrupted")
            raise
        result.where = {r.name: r.node for r in recorders if r.node}
        result.report = write_reports(load_run(store, run_id), result.run_dir)
    return result


def _until_decided(store: Store, run_id: str, recorders: list[VariantRecorder], ex: Executor,
                   run_dir: Path, obs: Observer, started: float, scope: Scope
                   ) -> dict[str, str]:
    """Later rounds: the levels whose speed is undecided measured again, and the tasks whose
    accuracy is undecided evaluated further, on fresh servers, the baseline's and the
    undecided variants', until decided, out of rounds or documents, or out of this
    invocation's time budget, counted from ``started`` (see ``results/rounds.py``); each
    variant's status in them. Only this sweep's variants take part, and only with the
    baseline among them."""
    statuses: dict[str, str] = {}
    run = load_run(store, run_id)
    ref = run.reference
    if ref is None or ref.name not in {r.name for r in recorders}:
        return statuses  # no baseline here to measure again beside them
    budget, most = run.recipe.precision.time_budget_min, max(run.recipe.precision.max_rounds,
                                                              most_looks(run))
    for _ in range(most):
        names = {r.name for r in recorders if not r.retired}
        states = _states(run, names, scope)
        plan = _round_plan(run, states, names, scope)
        if ref.name not in plan.variants:
            obs.rounds("speed and accuracy decided or stopped", states)
            break
        expected = round_seconds(run, plan)
        if budget is not None and time.monotonic() - started + expected > 60 * budget:
            obs.rounds(f"time budget of {budget:g} min: no new round (the next would take "
                       f"about {expected / 60:.1f} min)", states)
            break
        obs.rounds(f"round {round_number(run, plan)} of at most {most}, about "
                   f"{expected / 60:.1f} min: measuring again on freshly started servers",
                   states)
        statuses |= _one_round(recorders, plan, ex, run_dir, obs)
        run = load_run(store, run_id)
    else:  # passes ran out (a resumed sweep completing a round cut short takes one more)
        obs.rounds("after the last round", _states(run, names, scope))
    return statuses


def _states(run: StoredRun, names: set[str], scope: Scope) -> list[Standing]:
    """Where each variant of ``names`` stands: its levels' speed and its tasks' accuracy."""
    speed = [] if scope.skip_loadtest else level_states(run, names)
    accuracy = [] if scope.skip_eval else task_states(run, names)
    return [*speed, *accuracy]


def _round_plan(run: StoredRun, states: list[Standing], names: set[str],
                scope: Scope) -> RoundPlan:
    """The next round: the levels and the task ranges each variant of ``names`` measures."""
    levels = next_round(run, [s for s in states if isinstance(s, LevelState)])
    docs = next_looks(run, [s for s in states if isinstance(s, TaskState)])
    return RoundPlan({v: ls for v, ls in levels.items() if v in names},
                     {v: ds for v, ds in docs.items() if v in names})


def _one_round(recorders: list[VariantRecorder], plan: RoundPlan, ex: Executor, run_dir: Path,
               obs: Observer) -> dict[str, str]:
    chosen = [r for r in recorders if r.name in plan.variants]
    for r in chosen:
        r.want, r.want_docs = plan.levels.get(r.name, {}), plan.docs.get(r.name)
    try:
        return ex.run(chosen, run_dir, obs)
    finally:
        for r in chosen:
            r.want = r.want_docs = None


def _adaptive(recipe: Recipe, scope: Scope) -> bool:
    """Whether a sweep measures until decided: speed with more than one round, accuracy in
    chunks."""
    speed = not scope.skip_loadtest and recipe.precision.max_rounds > 1
    accuracy = not scope.skip_eval and bool(recipe.eval.tasks) and \
        recipe.precision.first_docs is not None
    return speed or accuracy


def _open_run(store: Store, recipe: Recipe, opts: SweepOptions) -> tuple[str, bool]:
    h = recipe_hash(recipe)
    latest = store.latest_run(h)
    if latest and not (opts.force or opts.new_run):
        return latest["run_id"], True
    run_id = f"{recipe.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    store.create_run(run_id, recipe.name, h, recipe.model_dump(mode="json"), provenance(recipe))
    return run_id, False


def serve_variant(recipe: Recipe, name: str, run_dir: Path, on_line: OnLine | None = None
                  ) -> tuple[Variant, Server]:
    """One variant, planned and built (if needed) exactly as a sweep would, and its server
    (not yet started) — what ``qexplore serve`` runs."""
    v = make_plan(recipe, [name]).check().variants[0].variant
    if not recipe.serve.endpoint:
        fetch_model(served_location(recipe, v), on_line)
    build = build_variant(recipe, v, on_line=on_line)
    return v, variant_server(recipe, v, build, run_dir)
