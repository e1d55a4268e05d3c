"""A stored run, typed: everything the store holds about one run, read in one place.

The store keeps JSON columns; :func:`load_run` turns them back into these models (the recipe
re-validated as a :class:`Recipe`), so everything after measurement — the Pareto table, the
recommendation, ``compare``, ``history`` and every report — reads fields, not string keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qexplore.catalog.capacity import VariantEstimate
from qexplore.environment import Hardware
from qexplore.errors import StoreError
from qexplore.evaluate.run import EvalResult, paired_comparisons
from qexplore.evaluate.stats import Comparison
from qexplore.loadtest.metrics import LevelSummary
from qexplore.quantize.build import BuildRecord
from qexplore.recipes.schema import Recipe, Workload
from qexplore.results.speed import SpeedRule
from qexplore.results.store import Store
from qexplore.serve.facts import ServerFacts

Comparisons = dict[str, dict[str, Comparison]]  # task → metric → comparison with the baseline


class Metric(BaseModel):
    """One task metric as lm-eval reported it."""

    value: float | None
    stderr: float | None = None
    n: int | None = None
    filter: str | None = None


class DocsDone(BaseModel):
    """A chunked evaluation of one (leaf) task: its recipe task, its documents in all (up to
    its limit), those done (the seeded order's first), and its planned looks."""

    task: str
    total: int
    done: int
    looks: int


class StoredEval(BaseModel):
    """A variant's evaluation: the normalised scores and where lm-eval's files are; a chunked
    one's documents per task (empty: evaluated at once) and its seconds over all looks."""

    tasks: dict[str, dict[str, Metric]]
    raw_path: Path
    samples_dir: Path
    docs: dict[str, DocsDone] = {}
    seconds: float | None = None

    def primary(self, task: str) -> tuple[str, Metric]:
        """A task's first-listed metric (the one tables and charts show)."""
        name, metric = next(iter(self.tasks[task].items()))
        return name, metric

    def result(self) -> EvalResult:
        """The evaluate stage's own result type, for the paired comparisons."""
        raw = json.loads(self.raw_path.read_text()) if self.raw_path.exists() else {}
        tasks = {t: {m: v.model_dump() for m, v in ms.items()} for t, ms in self.tasks.items()}
        return EvalResult(tasks, self.raw_path, self.samples_dir, raw)


class StoredVariant(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(alias="variant")
    scheme: str
    position: int
    status: str
    error: str | None = None
    build: BuildRecord | None = None
    server: ServerFacts | None = None
    eval: StoredEval | None = None
    estimate: VariantEstimate | None = None  # the capacity plan's, once its checkpoint was known
    node: dict[str, Any] | None = None  # where it was measured (host; on Ray its node's id)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def reason(self) -> str | None:
        """The first line of the recorded error (the one tables show)."""
        return self.error.split("\n")[0] if self.error else None

    @property
    def weights_gb(self) -> float | None:
        """Weights as served: counted from the checkpoint (as on disk where the build did not
        count them), else the capacity plan's estimate; None when neither is known."""
        if self.build and (self.build.served_bytes or self.build.size_bytes):
            return (self.build.served_bytes or self.build.size_bytes) / 1e9
        return self.estimate.weights_gb if self.estimate else None

    @property
    def weights_source(self) -> str | None:
        """Where ``weights_gb`` comes from: "checkpoint", "estimate", or why it is unknown."""
        if self.build and (self.build.served_bytes or self.build.size_bytes):
            return "checkpoint"
        if self.estimate and self.estimate.weights_gb is not None:
            return "estimate"
        return "unknown: checkpoint not on disk, no estimate" if self.build else None


class StoredLevel(BaseModel):
    variant: str
    workload: str
    summary: LevelSummary
    raw_path: str | None = None
    status: str = "ok"  # 'interrupted': its server died under it; kept, never judged
    recorded_at: float | None = None

    @property
    def measured(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> tuple[str, int, float | None]:
        """What identifies a level across runs: workload, users, open-loop rate."""
        return self.workload, self.summary.concurrency, self.summary.rate


class Provenance(BaseModel):
    qexplore: str | None = None
    versions: dict[str, str | None] = {}
    hardware: Hardware | None = None
    git_sha: str | None = None
    model: dict[str, str | None] | None = None  # location and revision (runs since 2026-11)
    created_at: str | None = None


class StoredRun(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    recipe_name: str
    recipe_hash: str
    status: str
    started_at: float
    ended_at: float | None = None
    schema_version: int
    provenance: Provenance
    recipe: Recipe
    variants: list[StoredVariant]
    levels: list[StoredLevel]

    @property
    def baseline(self) -> StoredVariant | None:
        """The evaluated baseline every other variant's accuracy is compared with."""
        return next((v for v in self.variants if v.scheme == "baseline" and v.eval), None)

    @property
    def reference(self) -> StoredVariant | None:
        """The variant speed verdicts compare against: the baseline scheme's."""
        return next((v for v in self.variants if v.scheme == "baseline"), None)

    @cached_property
    def comparisons(self) -> dict[str, Comparisons]:
        """Per measured variant: its paired comparison with the baseline (read from the
        per-sample files once, on first use)."""
        base = self.baseline
        if base is None or base.eval is None:
            return {}
        try:
            base_eval = base.eval.result()
            return {v.name: paired_comparisons(base_eval, v.eval.result(),
                                               self.max_accuracy_drop)
                    for v in self.variants if v is not base and v.eval and v.ok}
        except FileNotFoundError as e:
            raise StoreError(f"run {self.run_id}: its evaluation's per-sample files are not at "
                             f"{e.filename} (a relative path is read from the folder the sweep "
                             "ran in: run this there)") from None

    @property
    def speed_only(self) -> bool:
        """Random weights: a run of speed alone; its accuracy is never measured or shown."""
        return self.recipe.model.speed_only

    @property
    def notice(self) -> str | None:
        """What a reader must know before any figure: a speed-only run's limits."""
        if not self.speed_only:
            return None
        return (f"Speed only: random weights of {self.recipe.model.named}'s shape. Speed and "
                "memory are what real weights of that shape give; accuracy is not measured (the "
                "answers are noise), and the recommendation ranks on speed and memory.")

    @property
    def max_accuracy_drop(self) -> float:
        """The recipe's accuracy budget, as a fraction (within it a variant is equivalent)."""
        return self.recipe.slo.max_accuracy_drop_pct / 100

    def speed_rule(self, workload: str | None = None) -> SpeedRule:
        """How the run judges speed in ``workload`` (default: the primary one)."""
        return SpeedRule.of(self.recipe, workload)

    def workload(self, name: str | None = None) -> Workload:
        """A workload of the recipe (default: the primary one)."""
        return next(w for w in self.recipe.workloads if w.name == (name or
                                                                    self.primary_workload()))

    def target_users(self) -> int:
        return self.recipe.slo.target_users or max(self.recipe.workloads[0].concurrency)

    def primary_workload(self) -> str:
        return self.recipe.workloads[0].name

    def variant(self, name: str) -> StoredVariant | None:
        return next((v for v in self.variants if v.name == name), None)

    def closed_loop(self, variant: str, workload: str | None = None) -> list[LevelSummary]:
        """A variant's closed-loop levels (primary workload by default), by users."""
        w = workload or self.primary_workload()
        rows = [lv.summary for lv in self.levels if lv.variant == variant and lv.workload == w
                and lv.measured and lv.summary.rate is None]
        return sorted(rows, key=lambda s: s.concurrency)


@dataclass(frozen=True)
class LevelBound:
    """A level's roofline bound on decode output tok/s, and how close the measurement came."""

    bound_tps: float | None
    bound_kind: str | None
    pct_of_bound: float | None  # measured output tok/s ÷ bound × 100


def level_bound(v: StoredVariant | None, s: LevelSummary, workload: str) -> LevelBound:
    """``s`` (a level of ``v`` in ``workload``) against its variant's estimated bound."""
    if v is None or v.estimate is None or s.rate is not None:
        return LevelBound(None, None, None)
    bound, kind = v.estimate.bound(workload, s.concurrency)
    pct = 100 * s.output_tps / bound if bound and s.output_tps is not None else None
    return LevelBound(bound, kind, None if pct is None else round(pct, 1))


def load_run(store: Store, run_id: str) -> StoredRun:
    """Run ``run_id`` from the store, validated; a record that no longer fits is a StoreError."""
    row = store.run(run_id)
    for w in row["recipe"].get("workloads", []):
        w.setdefault("trials", 1)  # stored before trials existed: each level was one trial
    row["recipe"].setdefault("precision", {"max_rounds": 1})  # before rounds: a fixed budget
    try:
        return StoredRun.model_validate({**row, "variants": store.variants(run_id),
                                         "levels": store.levels(run_id)},
                                        context={"stored": True})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise StoreError(f"run {run_id} in {store.path} does not read as a run of this qexplore "
                         f"version ({where}: {first['msg']})") from None


def load_runs(path: Path, *run_ids: str) -> list[StoredRun]:
    """Runs from the store at ``path``, which must exist (the store is closed again)."""
    with Store.existing(path) as store:
        return [load_run(store, r) for r in run_ids]
