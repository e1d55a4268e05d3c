"""``qexplore sweep``: plan → for each variant build → serve → load test → evaluate → stop,
recording each measurement the moment it exists, then the reports.

Resumable: a run is found again by the hash of the resolved recipe; what the store already
holds (a variant's levels, its evaluation) is not measured again. A failing variant is recorded
with its reason and the sweep goes on. Order within a variant: the load test first, so every
variant is measured on a freshly started, equally warmed server; the evaluation follows on the
same server (no second model load).
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qexplore.errors import HardwareError, QexploreError, RecipeError
from qexplore.evaluate.run import check_tasks
from qexplore.execute.cluster import (
    Job,
    Node,
    Placement,
    Ran,
    cluster_nodes,
    connect,
    forwarded_env,
    place,
    run_on_cluster,
)
from qexplore.execute.measure import (
    Emit,
    Evaluated,
    Event,
    Files,
    LevelProgress,
    Measurement,
    Record,
    Stage,
    Todo,
    Trial,
    request_slo,
    unpack,
    variant_server,
)
from qexplore.loadtest.intervals import summarize_trials
from qexplore.loadtest.levels import LevelPlan, Progress, level_plans
from qexplore.loadtest.metrics import LevelSummary
from qexplore.loadtest.run import read_raw, write_raw
from qexplore.plan import Plan, VariantPlan, make_plan
from qexplore.plan.estimate import TargetFigures
from qexplore.plan.machine import check_machine
from qexplore.quantize.build import build_variant
from qexplore.recipes.schema import Recipe, Variant, Workload
from qexplore.report.write import Written, write_reports
from qexplore.results.provenance import provenance, recipe_hash
from qexplore.results.run import StoredVariant, load_run
from qexplore.results.store import Store, store_path
from qexplore.serve.base import Server
from qexplore.serve.fetch import fetch_model, served_location

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


class Observer(Protocol):
    """Progress hooks the sweep calls; the core itself never prints."""

    def stage(self, variant: str, stage: str, detail: str = "") -> None: ...

    def level_progress(self, variant: str, p: Progress) -> None: ...

    def level_done(self, variant: str, s: LevelSummary) -> None: ...

    def variant_done(self, variant: str, status: str, detail: str = "") -> None: ...

    def placement(self, rows: list[tuple[str, str, int]]) -> None: ...


class Headless:
    """An observer that ignores everything (nightly jobs, tests)."""

    def stage(self, variant: str, stage: str, detail: str = "") -> None:
        pass

    def level_progress(self, variant: str, p: Progress) -> None:
        pass

    def level_done(self, variant: str, s: LevelSummary) -> None:
        pass

    def variant_done(self, variant: str, status: str, detail: str = "") -> None:
        pass

    def placement(self, rows: list[tuple[str, str, int]]) -> None:
        pass


@dataclass
class SweepResult:
    run_id: str
    run_dir: Path
    store: Path
    resumed: bool
    statuses: dict[str, str] = field(default_factory=dict)
    report: Written | None = None  # the reports written at the end
    ran: dict[str, Ran] = field(default_factory=dict)  # on Ray: where each variant ran

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


def prepare(recipe: Recipe, opts: SweepOptions) -> Plan:
    """Everything checked before any work: the plan, this machine (the recipe's GPU, vLLM,
    the model's whereabouts; on Ray the nodes' resources are checked instead) and the
    evaluation's tasks."""
    plan = make_plan(recipe, opts.only)
    if not opts.allow_unsupported:
        plan.check()
    if opts.ray_address(recipe) is None:
        check_machine(recipe)
    if recipe.eval.tasks and not opts.skip_eval:
        check_tasks([t.name for t in recipe.eval.tasks], recipe.resolved.include_path)
    return plan


def dry_run(recipe: Recipe, opts: SweepOptions = SweepOptions()) -> DryRun:
    """The plan a sweep with ``opts`` would execute, without doing any of it."""
    placement = None
    try:
        plan, refusals = prepare(recipe, opts), []
        address = opts.ray_address(recipe)
        if address:
            placement = _placement(recipe, plan, address)[1]
    except (RecipeError, HardwareError) as e:  # a dry run reports what a real run would refuse
        plan, refusals = make_plan(recipe, opts.only), e.lines()
    return DryRun(plan, refusals, recorded(recipe), placement)


def _placement(recipe: Recipe, plan: Plan, address: str) -> tuple[Any, Placement]:
    ray = connect(address)
    names = [vp.variant.name for vp in plan.variants]
    return ray, place(names, cluster_nodes(ray, recipe))


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
    obs = observer or Headless()
    plan = prepare(recipe, opts)
    address = opts.ray_address(recipe)
    cluster = _placement(recipe, plan, address) if address else None
    with Store(store_path(recipe.output.store)) as store:
        run_id, resumed = _open_run(store, recipe, opts)
        out_root = opts.output or Path(recipe.output.dir)  # like the store: relative to the cwd
        result = SweepResult(run_id, out_root / run_id, store.path, resumed)
        runs = [_VariantRun(store, run_id, result.run_dir, recipe, vp, opts, obs, plan.figures)
                for vp in plan.variants]
        try:
            if cluster:
                result.ran = _sweep_on_ray(*cluster, runs, result, obs)
            else:
                for r in runs:
                    result.statuses[r.name] = r.run()
            store.set_run_status(run_id, "partial" if result.failed else "complete")
        except KeyboardInterrupt:
            store.set_run_status(run_id, "interrupted")
            raise
        result.report = write_reports(load_run(store, run_id), result.run_dir)
    return result


def _sweep_on_ray(ray: Any, placement: Placement, runs: list[_VariantRun], result: SweepResult,
                  obs: Observer) -> dict[str, Ran]:
    """The variants as Ray tasks, in parallel as the placement allows; this process records
    every event as it arrives, exactly as a local sweep would."""
    by_name = {r.name: r for r in runs}
    jobs: dict[str, Job] = {}
    for r in runs:
        todo = r.begin()
        if todo is None:
            result.statuses[r.name] = "ok"
            continue
        recipe = r.recipe.model_copy()  # resolved again on its node (its CPU, its paths)
        m = Measurement(recipe, r.v, r.support, r.figures, todo, Path("."), _nowhere, True)
        jobs[r.name] = Job(m, str(result.run_dir), recipe.executor.build_cache,
                           forwarded_env(recipe))
    obs.placement([row for row in placement.rows() if row[0] in jobs])

    def on_end(v: str, error: list[str] | None, measured: bool) -> None:
        result.statuses[v] = by_name[v].finish(error, measured)

    def on_start(v: str, node: Node) -> None:
        by_name[v].started({"executor": "ray", "host": node.host, "address": node.address,
                            "node_id": node.node_id})
        obs.stage(v, "placed", node.label)

    gpus = runs[0].recipe.gpus_per_variant if runs else 0
    return run_on_cluster(ray, jobs, placement, gpus,
                          lambda v, ev: by_name[v].apply(ev), on_end, on_start)


def _nowhere(ev: Event) -> None:
    """An emit for a measurement that is only being sent (its node sets the real one)."""


def _open_run(store: Store, recipe: Recipe, opts: SweepOptions) -> tuple[str, bool]:
    h = recipe_hash(recipe)
    latest = store.latest_run(h)
    if latest and not (opts.force or opts.new_run):
        return latest["run_id"], True
    run_id = f"{recipe.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    store.create_run(run_id, recipe.name, h, recipe.model_dump(mode="json"), provenance())
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


class _VariantRun:
    """One variant's part of a sweep, on the writer's side: what the store still needs of it
    (:meth:`begin`), each event of its measurement recorded as it arrives (:meth:`apply`), and
    its outcome (:meth:`finish`). Resumes from what the store holds."""

    def __init__(self, store: Store, run_id: str, run_dir: Path, recipe: Recipe, vp: VariantPlan,
                 opts: SweepOptions, obs: Observer, figures: TargetFigures) -> None:
        self.store, self.run_id, self.run_dir, self.recipe = store, run_id, run_dir, recipe
        self.v: Variant = vp.variant
        self.position, self.opts, self.obs = vp.index, opts, obs
        self.support, self.figures = vp.support, figures
        self._row: StoredVariant | None = None
        self._before: list[dict[str, Any]] = []
        self._node: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.v.name

    def record(self, **fields: Any) -> None:
        self.store.upsert_variant(self.run_id, self.v.name, self.v.scheme, self.position, **fields)

    def run(self) -> str:
        """Measure the variant here, in this process."""
        todo = self.begin()
        if todo is None:
            return "ok"
        self.started({"executor": "local", "host": socket.gethostname()})
        try:
            measured = self.measurement(todo, self.run_dir, self.apply).run()
        except QexploreError as e:
            return self.finish(e.lines(), False)
        return self.finish(None, measured)

    def started(self, node: dict[str, Any]) -> None:
        """Record where the variant is being measured, and since when."""
        self._node = {**node, "started": time.time()}
        self.record(node=self._node)

    def measurement(self, todo: Todo, work_dir: Path, emit: Emit, remote: bool = False
                    ) -> Measurement:
        return Measurement(self.recipe, self.v, self.support, self.figures, todo, work_dir,
                           emit, remote)

    def begin(self) -> Todo | None:
        """What is missing (None: the variant is measured in full already); marks it running."""
        row = load_run(self.store, self.run_id).variant(self.v.name)
        if row and row.ok:
            self.obs.variant_done(self.v.name, "ok", "already measured")
            return None
        self._row = row
        self.record(status="running", error=None)
        self._before = self.store.trials(self.run_id, self.v.name)
        done = {(r["workload"], r["concurrency"], r["trial"]) for r in self._before
                if r["status"] == "ok"}
        levels = [] if self.opts.skip_loadtest else self._levels_to_measure(done)
        need_eval = bool(self.recipe.eval.tasks) and not self.opts.skip_eval and not (
            row and row.eval)
        if not levels and not need_eval and row and row.status == "failed":
            # Everything is recorded, yet it failed after: measure it again in full rather
            # than turn it ok without a new measurement.
            levels = [] if self.opts.skip_loadtest else self._levels_to_measure(set())
            need_eval = bool(self.recipe.eval.tasks) and not self.opts.skip_eval
        return Todo(levels, need_eval, self.opts.force)

    def finish(self, error: list[str] | None, measured: bool) -> str:
        """Record the outcome: failed with ``error``'s lines, else ok (when measured)."""
        if self._node is not None:
            self.record(node={**self._node, "ended": time.time()})
        if error:
            self.record(status="failed", error="\n".join(error))
            self.obs.variant_done(self.v.name, "failed", error[0])
            return "failed"
        row = self._row
        if row and row.status == "failed" and not measured:  # never ok without a measurement
            self.record(status="failed", error=row.error)
            self.obs.variant_done(self.v.name, "failed", "nothing measured again with these "
                                  "options; it stays failed")
            return "failed"
        self._repool_stale(self._before)
        self.record(status="ok")
        self.obs.variant_done(self.v.name, "ok")
        return "ok"

    def apply(self, ev: Event) -> None:
        """Record one event of the measurement (the sweep's process is the only writer)."""
        name = self.v.name
        if isinstance(ev, Stage):
            self.obs.stage(name, ev.stage, ev.detail)
        elif isinstance(ev, LevelProgress):
            self.obs.level_progress(name, ev.progress)
        elif isinstance(ev, Record):
            self.record(**ev.fields)
        elif isinstance(ev, Trial):
            self._trial(ev)
        elif isinstance(ev, Evaluated):
            if ev.files is not None:
                unpack(ev.files, self.run_dir)
            self.record(eval={"tasks": ev.tasks, "raw_path": str(self.run_dir / ev.raw_path),
                              "samples_dir": str(self.run_dir / ev.samples_dir)})
        elif isinstance(ev, Files):
            unpack(ev.archive, self.run_dir)

    def _trial(self, ev: Trial) -> None:
        lv = ev.plan
        raw = write_raw(ev.records, self.run_dir / "raw" / self.v.name /
                        f"{ev.workload}-c{lv.concurrency}-t{lv.trial}.parquet")
        self.store.add_trial(self.run_id, self.v.name, ev.workload, lv.trial,
                             ev.summary.as_dict(), str(raw),
                             "interrupted" if ev.died else "ok")
        w = next(x for x in self.recipe.workloads if x.name == ev.workload)
        self._pool(w, lv.concurrency, (ev.summary, str(raw)) if ev.died else None)
        if not ev.died:
            self.obs.level_done(self.v.name, ev.summary)

    def _repool_stale(self, before: list[dict[str, Any]]) -> None:
        """Pool again a level whose pool misses trials stored before this session (a sweep
        killed between storing a trial and pooling it); this session pooled its own."""
        pooled = {(lv.workload, lv.summary.concurrency): lv.summary.trials
                  for lv in load_run(self.store, self.run_id).levels
                  if lv.variant == self.v.name and lv.measured}
        ok = Counter((r["workload"], r["concurrency"]) for r in before if r["status"] == "ok")
        for w in self.recipe.workloads:
            for u in w.concurrency:
                if ok[(w.name, u)] > pooled.get((w.name, u), 0):
                    self._pool(w, u)

    def _levels_to_measure(self, done: set[tuple[str, int, int]]
                           ) -> list[tuple[str, list[LevelPlan]]]:
        out = []
        for w in self.recipe.workloads:
            skip = {(u, None, t) for name, u, t in done if name == w.name}
            plans = level_plans(w.concurrency, w.per_trial, w.warmup, trials=range(w.trials),
                                skip=skip)
            if plans:
                out.append((w.name, plans))
        return out

    def _pool(self, w: Workload, users: int,
              interrupted: tuple[LevelSummary, str] | None = None) -> None:
        """Store the level pooled over its measured trials (with their intervals); a level with
        none yet keeps the interrupted trial's summary as an 'interrupted' level."""
        rows = [r for r in self.store.trials(self.run_id, self.v.name)
                if (r["workload"], r["concurrency"], r["status"]) == (w.name, users, "ok")]
        if not rows:
            if interrupted:
                self.store.add_level(self.run_id, self.v.name, w.name,
                                     interrupted[0].as_dict(), interrupted[1], "interrupted")
            return
        pooled = summarize_trials([read_raw(Path(r["raw_path"])) for r in rows],
                                  request_slo(self.recipe))
        pooled.telemetry = rows[-1]["summary"].get("telemetry")
        self.store.add_level(self.run_id, self.v.name, w.name, pooled.as_dict(),
                             rows[-1]["raw_path"])
