"""The sweep's writer side: what the store still needs of each variant, and every event of its
measurement recorded the moment it arrives — from this process or from a Ray node alike. The
sweep's process is the only writer of the store and of the run's folder."""

from __future__ import annotations

import functools
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from qexplore.errors import QexploreError
from qexplore.evaluate.run import Look, merge_looks
from qexplore.execute.measure import (
    Emit,
    Evaluated,
    Event,
    Files,
    LevelProgress,
    Measurement,
    Placed,
    Record,
    Stage,
    Todo,
    Trial,
    request_slo,
    unpack,
)
from qexplore.loadtest.levels import LevelPlan, Progress, level_plans
from qexplore.loadtest.metrics import LevelSummary
from qexplore.loadtest.run import pool, read_raw, write_raw
from qexplore.plan import VariantPlan
from qexplore.plan.estimate import TargetFigures
from qexplore.recipes.schema import Recipe, Variant, Workload
from qexplore.results.rounds import Standing
from qexplore.results.run import StoredVariant, load_run
from qexplore.results.store import Store


class Observer(Protocol):
    """Progress hooks the sweep calls; the core itself never prints."""

    def stage(self, variant: str, stage: str, detail: str = "") -> None: ...

    def level_progress(self, variant: str, p: Progress) -> None: ...

    def level_done(self, variant: str, s: LevelSummary) -> None: ...

    def variant_done(self, variant: str, status: str, detail: str = "") -> None: ...

    def placement(self, rows: list[tuple[str, str, int]], left_out: list[str]) -> None: ...

    def rounds(self, heading: str, states: Sequence[Standing]) -> None:
        """Measuring until decided: what happens next, and where each level stands."""


def run_here(recorders: list[VariantRecorder], run_dir: Path, obs: Observer) -> dict[str, str]:
    """The variants one after another in this process; each one's status."""
    return {r.name: r.run_here() for r in recorders}


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

    def placement(self, rows: list[tuple[str, str, int]], left_out: list[str]) -> None:
        pass

    def rounds(self, heading: str, states: Sequence[Standing]) -> None:
        pass



@dataclass(frozen=True)
class Scope:
    """What a sweep measures of each variant (its options)."""

    skip_eval: bool = False
    skip_loadtest: bool = False
    force: bool = False  # rebuild


class VariantRecorder:
    """One variant's part of a sweep, on the writer's side: what the store still needs of it
    (:meth:`todo`), where and since when it is measured (:meth:`started`), each event of its
    measurement recorded as it arrives (:meth:`apply`), and its outcome (:meth:`finish`).
    Resumes from what the store holds."""

    def __init__(self, store: Store, run_id: str, run_dir: Path, recipe: Recipe, vp: VariantPlan,
                 scope: Scope, obs: Observer, figures: TargetFigures) -> None:
        self.store, self.run_id, self.run_dir, self.recipe = store, run_id, run_dir, recipe
        self.v: Variant = vp.variant
        self.position, self.opts, self.obs = vp.index, scope, obs
        self.support, self.figures = vp.support, figures
        self._row: StoredVariant | None = None
        self._before: list[dict[str, Any]] = []
        self._node: dict[str, Any] | None = None
        # a later round's levels and the trials each is to have (None: the recipe's first)
        self.want: dict[tuple[str, int], int] | None = None
        # and the tasks it evaluates further, each one's range of the seeded order
        self.want_docs: dict[str, tuple[int, int]] | None = None
        self.retired = False  # a later round of it failed: no more rounds

    @property
    def name(self) -> str:
        return self.v.name

    def record(self, **fields: Any) -> None:
        self.store.upsert_variant(self.run_id, self.v.name, self.v.scheme, self.position, **fields)

    def run_here(self) -> str:
        """Measure the variant here, in this process."""
        todo = self.todo()
        if todo is None:
            return "ok"
        self.started({"executor": "local", "host": socket.gethostname(),
                      "started": time.time()})
        try:
            measured = self.measurement(todo, self.run_dir, self.apply).run()
        except QexploreError as e:
            return self.finish(e.lines(), False)
        return self.finish(None, measured)

    def started(self, node: dict[str, Any]) -> None:
        """The variant's measurement starts, there: recorded running (its earlier error goes
        only now), with where."""
        self._node = dict(node)
        self.record(status="running", error=None, node=self._node)

    @property
    def node(self) -> dict[str, Any] | None:
        """Where it was measured, since when, until when (this sweep's measurement)."""
        return self._node

    def measurement(self, todo: Todo, work_dir: Path, emit: Emit, remote: bool = False
                    ) -> Measurement:
        """The variant's measurement; one sent to another node carries the recipe unresolved
        (resolved there: its CPU, its paths)."""
        recipe = self.recipe.model_copy() if remote else self.recipe
        return Measurement(recipe, self.v, self.support, self.figures, todo, work_dir, emit,
                           remote)

    def todo(self) -> Todo | None:
        """What is missing (None: the variant is measured in full already)."""
        row = load_run(self.store, self.run_id).variant(self.v.name)
        if row and row.ok and self.want is None:
            self.obs.variant_done(self.v.name, "ok", "already measured")
            return None
        self._row = row
        self._before = self.store.trials(self.run_id, self.v.name)
        done = {(r["workload"], r["concurrency"], r["trial"]) for r in self._before
                if r["status"] == "ok"}
        levels = [] if self.opts.skip_loadtest else self._levels_to_measure(done)
        evaluates = bool(self.recipe.eval.tasks) and not self.opts.skip_eval
        need_eval = evaluates and (not (row and row.eval) if self.want is None
                                   else bool(self.want_docs))
        if not levels and not need_eval and row and row.status == "failed":
            # Everything is recorded, yet it failed after: measure it again in full rather
            # than turn it ok without a new measurement.
            levels = [] if self.opts.skip_loadtest else self._levels_to_measure(set())
            need_eval = evaluates
        return Todo(levels, need_eval, self.opts.force and self.want is None,  # built once
                    self._look() if need_eval else None)

    def _look(self) -> Look | None:
        """The chunked evaluation's next look: numbered after the looks on disk, over this
        round's ranges (the first look: ``precision.first_docs`` of every task)."""
        first = self.recipe.precision.first_docs
        if first is None:
            return None
        looks = self.run_dir / "eval" / self.v.name / "looks"
        done = [int(d.name) for d in looks.glob("*") if (d / "lm-eval.json").exists()] \
            if looks.is_dir() else []
        return Look(max(done, default=0) + 1, first,
                    self.want_docs if self.want is not None else None)

    def finish(self, error: list[str] | None, measured: bool) -> str:
        """Record the outcome: failed with ``error``'s lines, else ok (when measured)."""
        if self._node is not None:
            self._node["ended"] = time.time()
            self._node["status"] = "failed" if error else "ok"
            self.record(node=self._node)
        if error and self.want is not None:
            return self._round_failed(error)
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

    def _round_failed(self, error: list[str]) -> str:
        """A later round failed (its server died): what the earlier rounds measured stands and
        the variant stays ok, with the failure recorded; it takes no more rounds, and the run
        is partial (the sweep's status for it is failed)."""
        self.retired = True
        self.record(status="ok", error="\n".join([f"a later round failed: {error[0]}",
                                                  *error[1:]]))
        self.obs.variant_done(self.v.name, "failed", f"its later round failed ({error[0]}); "
                              "what the earlier rounds measured stands")
        return "failed"

    @functools.singledispatchmethod
    def apply(self, ev: Event) -> None:
        """Record one event of the measurement (the sweep's process is the only writer)."""
        raise TypeError(f"no recording for {type(ev).__name__}")

    @apply.register
    def _(self, ev: Stage) -> None:
        self.obs.stage(self.v.name, ev.stage, ev.detail)

    @apply.register
    def _(self, ev: LevelProgress) -> None:
        self.obs.level_progress(self.v.name, ev.progress)

    @apply.register
    def _(self, ev: Record) -> None:
        self.record(**ev.fields)

    @apply.register
    def _(self, ev: Evaluated) -> None:
        if ev.files is not None:
            unpack(ev.files, self.run_dir)
        if ev.look is None:
            self.record(eval={"tasks": ev.tasks, "raw_path": str(self.run_dir / ev.raw_path),
                              "samples_dir": str(self.run_dir / ev.samples_dir),
                              "seconds": ev.seconds})
            return
        self._merge_looks(ev.seconds or 0.0)

    def _merge_looks(self, seconds: float) -> None:
        """A chunked evaluation's looks joined into one result, recorded with its documents
        per task and its seconds over every look."""
        first = self.recipe.precision.first_docs
        assert first is not None
        row = load_run(self.store, self.run_id).variant(self.v.name)
        before = row.eval.seconds if row and row.eval and row.eval.docs else 0.0
        merged = merge_looks(self.run_dir / "eval" / self.v.name, first,
                             lambda s: self.obs.stage(self.v.name, "eval", s))
        self.record(eval={"tasks": merged.tasks, "raw_path": str(merged.raw_path),
                          "samples_dir": str(merged.samples_dir),
                          "docs": merged.raw.get("docs", {}),
                          "seconds": (before or 0.0) + seconds})

    @apply.register
    def _(self, ev: Files) -> None:
        unpack(ev.archive, self.run_dir)

    @apply.register
    def _(self, ev: Placed) -> None:
        """The node's own view of itself: its hardware, and its clock's start."""
        self._node = {**(self._node or {}), **ev.facts}
        self.record(node=self._node)

    @apply.register
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
        """Each workload's missing trials: of the recipe's first round, or of a later round's
        levels (``want``), interleaved by trial."""
        out = []
        for w in self.recipe.workloads:
            skip = {(u, None, t) for name, u, t in done if name == w.name}
            wanted = {u: w.trials for u in w.concurrency} if self.want is None else {
                u: n for (name, u), n in self.want.items() if name == w.name}
            plans = sorted((p for u, n in wanted.items() for p in level_plans(
                [u], w.per_trial, w.warmup, trials=range(n), skip=skip)),
                key=lambda p: (p.trial, p.concurrency))
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
        pooled = pool([read_raw(Path(r["raw_path"])) for r in rows],
                      [LevelSummary.model_validate(r["summary"]) for r in rows],
                      request_slo(self.recipe))
        self.store.add_level(self.run_id, self.v.name, w.name, pooled.as_dict(),
                             rows[-1]["raw_path"])
