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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qexplore.errors import HardwareError, QexploreError, RecipeError, ServerError
from qexplore.evaluate.run import EvalJob, TaskSpec, check_tasks, evaluate
from qexplore.loadtest.client import Endpoint
from qexplore.loadtest.intervals import summarize_trials
from qexplore.loadtest.levels import LevelPlan, Progress, RequestShape, level_plans
from qexplore.loadtest.metrics import LevelSummary, RequestSlo
from qexplore.loadtest.records import RequestRecord
from qexplore.loadtest.run import read_raw, run_loadtest, write_raw
from qexplore.loadtest.workloads import load_prompts
from qexplore.plan import Plan, VariantPlan, make_plan
from qexplore.plan.estimate import TargetFigures, estimate_variant
from qexplore.plan.machine import check_machine
from qexplore.quantize.build import BuildRecord, build_variant
from qexplore.recipes.schema import Recipe, Variant, Workload
from qexplore.report.write import Written, write_reports
from qexplore.results.provenance import provenance, recipe_hash
from qexplore.results.run import StoredVariant, load_run
from qexplore.results.store import Store, store_path
from qexplore.serve.attach import AttachedServer
from qexplore.serve.base import Server
from qexplore.serve.fetch import fetch_model, served_location
from qexplore.serve.from_recipe import server_spec
from qexplore.serve.manager import VllmServer
from qexplore.serve.telemetry import MetricsSampler

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


class Observer(Protocol):
    """Progress hooks the sweep calls; the core itself never prints."""

    def stage(self, variant: str, stage: str, detail: str = "") -> None: ...

    def level_progress(self, variant: str, p: Progress) -> None: ...

    def level_done(self, variant: str, s: LevelSummary) -> None: ...

    def variant_done(self, variant: str, status: str, detail: str = "") -> None: ...


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


@dataclass
class SweepResult:
    run_id: str
    run_dir: Path
    store: Path
    resumed: bool
    statuses: dict[str, str] = field(default_factory=dict)
    report: Written | None = None  # the reports written at the end

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


def prepare(recipe: Recipe, opts: SweepOptions) -> Plan:
    """Everything checked before any work: the plan, this machine (the recipe's GPU, the
    model's whereabouts) and the evaluation's tasks."""
    plan = make_plan(recipe, opts.only)
    if not opts.allow_unsupported:
        plan.check()
    check_machine(recipe)
    if recipe.eval.tasks and not opts.skip_eval:
        check_tasks([t.name for t in recipe.eval.tasks], recipe.resolved.include_path)
    return plan


def dry_run(recipe: Recipe, opts: SweepOptions = SweepOptions()) -> DryRun:
    """The plan a sweep with ``opts`` would execute, without doing any of it."""
    try:
        plan, refusals = prepare(recipe, opts), []
    except (RecipeError, HardwareError) as e:  # a dry run reports what a real run would refuse
        plan, refusals = make_plan(recipe, opts.only), e.lines()
    return DryRun(plan, refusals, recorded(recipe))


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
    with Store(store_path(recipe.output.store)) as store:
        run_id, resumed = _open_run(store, recipe, opts)
        out_root = opts.output or Path(recipe.output.dir)  # like the store: relative to the cwd
        result = SweepResult(run_id, out_root / run_id, store.path, resumed)
        try:
            for vp in plan.variants:
                ctx = _VariantRun(store, run_id, result.run_dir, recipe, vp, opts, obs,
                                  plan.figures)
                result.statuses[vp.variant.name] = ctx.run()
            store.set_run_status(run_id, "partial" if result.failed else "complete")
        except KeyboardInterrupt:
            store.set_run_status(run_id, "interrupted")
            raise
        result.report = write_reports(load_run(store, run_id), result.run_dir)
    return result


def _open_run(store: Store, recipe: Recipe, opts: SweepOptions) -> tuple[str, bool]:
    h = recipe_hash(recipe)
    latest = store.latest_run(h)
    if latest and not (opts.force or opts.new_run):
        return latest["run_id"], True
    run_id = f"{recipe.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    store.create_run(run_id, recipe.name, h, recipe.model_dump(mode="json"), provenance())
    return run_id, False


def variant_server(recipe: Recipe, v: Variant, build: BuildRecord, run_dir: Path) -> Server:
    """The server a variant is measured on: the recipe's endpoint when it names one (attach
    mode), else a vLLM server this process starts; ``with`` it to start or attach."""
    s = recipe.serve
    if s.endpoint:
        return AttachedServer(s.endpoint, v.name, s.api_key_env)
    return VllmServer(server_spec(recipe, v, build, run_dir))


def serve_variant(recipe: Recipe, name: str, run_dir: Path, on_line: OnLine | None = None
                  ) -> tuple[Variant, Server]:
    """One variant, planned and built (if needed) exactly as a sweep would, and its server
    (not yet started) — what ``qexplore serve`` runs."""
    v = make_plan(recipe, [name]).check().variants[0].variant
    if not recipe.serve.endpoint:
        fetch_model(served_location(recipe, v), on_line)
    build = build_variant(recipe, v, on_line=on_line)
    return v, variant_server(recipe, v, build, run_dir)


def _death(server: Server, recs: list[RequestRecord], grace_s: float = 2.0
           ) -> ServerError | None:
    """The error of a server that is gone, None while it lives. When requests of the level
    failed, the server is given ``grace_s`` to show that it died (its guard to exit)."""
    deadline = time.monotonic() + (grace_s if any(not r.ok for r in recs) else 0.0)
    while True:
        try:
            server.check_alive("a load level")
            if time.monotonic() >= deadline:
                return None
        except ServerError as e:
            return e
        time.sleep(0.1)


class _VariantRun:
    """One variant's part of a sweep (resumes from what the store holds)."""

    def __init__(self, store: Store, run_id: str, run_dir: Path, recipe: Recipe, vp: VariantPlan,
                 opts: SweepOptions, obs: Observer, figures: TargetFigures) -> None:
        self.store, self.run_id, self.run_dir, self.recipe = store, run_id, run_dir, recipe
        self.v: Variant = vp.variant
        self.position, self.opts, self.obs = vp.index, opts, obs
        self.support, self.figures = vp.support, figures

    def record(self, **fields: Any) -> None:
        self.store.upsert_variant(self.run_id, self.v.name, self.v.scheme, self.position, **fields)

    def run(self) -> str:
        row = load_run(self.store, self.run_id).variant(self.v.name)
        if row and row.ok:
            self.obs.variant_done(self.v.name, "ok", "already measured")
            return "ok"
        self.record(status="running", error=None)
        trials = self.store.trials(self.run_id, self.v.name)
        try:
            measured = self._measure(row, {(r["workload"], r["concurrency"], r["trial"])
                                           for r in trials if r["status"] == "ok"})
        except QexploreError as e:
            self.record(status="failed", error="\n".join(e.lines()))
            self.obs.variant_done(self.v.name, "failed", e.lines()[0])
            return "failed"
        if row and row.status == "failed" and not measured:  # never ok without a measurement
            self.record(status="failed", error=row.error)
            self.obs.variant_done(self.v.name, "failed", "nothing measured again with these "
                                  "options; it stays failed")
            return "failed"
        self._repool_stale(trials)
        self.record(status="ok")
        self.obs.variant_done(self.v.name, "ok")
        return "ok"

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

    def _measure(self, row: StoredVariant | None, done: set[tuple[str, int, int]]) -> bool:
        """Build, then measure what is not recorded yet: the trials not in ``done``, the
        evaluation unless ``row`` has one. Whether anything was measured."""
        build = self._build()
        levels = [] if self.opts.skip_loadtest else self._levels_to_measure(done)
        need_eval = bool(self.recipe.eval.tasks) and not self.opts.skip_eval and not (
            row and row.eval)
        if not levels and not need_eval and row and row.status == "failed":
            # Everything is recorded, yet it failed after: measure it again in full rather
            # than turn it ok without a new measurement.
            levels = [] if self.opts.skip_loadtest else self._levels_to_measure(set())
            need_eval = bool(self.recipe.eval.tasks) and not self.opts.skip_eval
        if not levels and not need_eval:
            return False
        self.obs.stage(self.v.name, "serve", "starting the server")
        with self._server(build) as server:
            self.record(server=server.facts.as_dict() if server.facts else None)
            for workload, plans in levels:
                self._loadtest(server, workload, plans)
                server.check_alive()
            if need_eval:
                self._evaluate(server)
        return True

    def _build(self) -> BuildRecord:
        """The checkpoint to serve — a hub one fetched first, so its size is read from disk
        and its server's start-up deadline is not spent downloading — and its estimate."""
        def on_line(line: str) -> None:
            self.obs.stage(self.v.name, "build", line)

        self.obs.stage(self.v.name, "build")
        if not self.recipe.serve.endpoint:
            fetch_model(served_location(self.recipe, self.v), on_line)
        build = build_variant(self.recipe, self.v, self.opts.force, on_line=on_line)
        estimate = estimate_variant(self.recipe, self.v, self.support, build.path, self.figures)
        self.record(build=build.as_dict(), estimate=estimate.model_dump(mode="json"))
        return build

    def _server(self, build: BuildRecord) -> Server:
        return variant_server(self.recipe, self.v, build, self.run_dir / "servers")

    def _levels_to_measure(self, done: set[tuple[str, int, int]]
                           ) -> list[tuple[Workload, list[LevelPlan]]]:
        out = []
        for w in self.recipe.workloads:
            skip = {(u, None, t) for name, u, t in done if name == w.name}
            plans = level_plans(w.concurrency, w.per_trial, w.warmup, trials=range(w.trials),
                                skip=skip)
            if plans:
                out.append((w, plans))
        return out

    def _loadtest(self, server: Server, w: Workload, plans: list[LevelPlan]) -> None:
        r = self.recipe.resolved
        prompts = load_prompts(r.prompts[w.name], w.api, w.input_len, r.tokenizer, w.seed)
        target = Endpoint(server.base_url, self.v.name, w.api, server.api_key)
        shape = RequestShape(prompts, w.max_tokens, w.ignore_eos, seed=w.seed)

        def on_level(lv: LevelPlan, summary: LevelSummary, recs: list[RequestRecord]) -> None:
            raw = write_raw(recs, self.run_dir / "raw" / self.v.name /
                            f"{w.name}-c{lv.concurrency}-t{lv.trial}.parquet")
            died = _death(server, recs)  # a trial its server did not survive: no measurement
            self.store.add_trial(self.run_id, self.v.name, w.name, lv.trial, summary.as_dict(),
                                 str(raw), "interrupted" if died else "ok")
            self._pool(w, lv.concurrency, (summary, str(raw)) if died else None)
            if died:
                raise died
            self.obs.level_done(self.v.name, summary)

        self.obs.stage(self.v.name, "loadtest", w.name)
        run_loadtest(target, shape, plans, self._request_slo(),
                     on_progress=lambda p: self.obs.level_progress(self.v.name, p),
                     sampler=MetricsSampler(server.base_url), check=server.check_alive,
                     on_level=on_level)

    def _request_slo(self) -> RequestSlo:
        return RequestSlo(self.recipe.slo.min_user_tps, self.recipe.slo.max_ttft_ms)

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
                                  self._request_slo())
        pooled.telemetry = rows[-1]["summary"].get("telemetry")
        self.store.add_level(self.run_id, self.v.name, w.name, pooled.as_dict(),
                             rows[-1]["raw_path"])

    def _evaluate(self, server: Server) -> None:
        e = self.recipe.eval
        tasks = [TaskSpec(t.name, t.num_fewshot if t.num_fewshot is not None else e.num_fewshot,
                          t.limit or e.limit) for t in e.tasks]
        r = self.recipe.resolved
        job = EvalJob(server.base_url, self.v.name, r.tokenizer, tasks, r.include_path,
                      e.num_concurrent, e.seed, self.recipe.model.max_model_len or 2048,
                      server.api_key)
        self.obs.stage(self.v.name, "eval", ", ".join(t.name for t in tasks))
        out = self.run_dir / "eval" / self.v.name
        result = evaluate(job, out, on_line=lambda s: self.obs.stage(self.v.name, "eval", s))
        self.record(eval={"tasks": result.tasks, "raw_path": str(result.raw_path),
                          "samples_dir": str(result.samples_dir)})
