"""One variant's measurement: build → serve → load test → evaluate, emitting each result as an
event the moment it exists. It reads nothing from the store and writes nothing to it — the
sweep decides what is missing (:class:`Todo`) and records what comes back, so the same code
runs in the sweep's process and on a Ray node."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qexplore.catalog.support import Support
from qexplore.errors import ServerError
from qexplore.evaluate.run import EvalJob, Look, TaskSpec, evaluate
from qexplore.loadtest.client import Endpoint
from qexplore.loadtest.levels import LevelPlan, Progress, RequestShape
from qexplore.loadtest.metrics import LevelSummary, RequestSlo
from qexplore.loadtest.records import RequestRecord
from qexplore.loadtest.run import run_loadtest
from qexplore.loadtest.workloads import load_prompts
from qexplore.plan.estimate import TargetFigures, estimate_variant
from qexplore.quantize.build import BuildRecord, build_variant
from qexplore.recipes.schema import Recipe, Variant, Workload
from qexplore.serve.attach import AttachedServer
from qexplore.serve.base import Server
from qexplore.serve.fetch import fetch_model, served_location
from qexplore.serve.from_recipe import served_tokenizer, server_spec
from qexplore.serve.manager import VllmServer
from qexplore.serve.telemetry import MetricsSampler

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class Todo:
    """What a variant still needs, as the store says: its unmeasured trials per workload and
    whether its evaluation is missing (in a chunked evaluation, the ``look`` to take).
    ``force`` rebuilds."""

    levels: list[tuple[str, list[LevelPlan]]]
    need_eval: bool
    force: bool = False
    look: Look | None = None

    @property
    def empty(self) -> bool:
        return not self.levels and not self.need_eval


# The events a measurement emits, in order. Plain dataclasses: they cross process and node
# boundaries pickled.
@dataclass(frozen=True)
class Stage:
    stage: str
    detail: str = ""


@dataclass(frozen=True)
class LevelProgress:
    progress: Progress


@dataclass(frozen=True)
class Record:
    """Fields of the variant's row (build, estimate, server facts)."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class Trial:
    """One trial of one level, measured: its summary and every request's record. ``died``: the
    server did not survive it (no measurement; the variant fails with that error next)."""

    workload: str
    plan: LevelPlan
    summary: LevelSummary
    records: list[RequestRecord]
    died: list[str] | None = None


@dataclass(frozen=True)
class Evaluated:
    """The evaluation (of a chunked one, this ``look``'s): scores per task, and where its
    files are under the run's folder (their bytes in ``files`` when measured elsewhere)."""

    tasks: dict[str, Any]
    raw_path: str  # relative to the run's folder
    samples_dir: str
    files: bytes | None = None
    look: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Files:
    """Files written under the run's folder elsewhere (server logs), as a tar archive."""

    archive: bytes


@dataclass(frozen=True)
class Placed:
    """The node a measurement runs on, as it sees itself: host, IP, hardware, start time."""

    facts: dict[str, Any]


@dataclass(frozen=True)
class Done:
    """A measurement elsewhere ended; whether it measured anything."""

    measured: bool


@dataclass(frozen=True)
class Failed:
    """A measurement elsewhere failed: its error's lines."""

    lines: list[str]


Event = Stage | LevelProgress | Record | Trial | Evaluated | Files | Placed | Done | Failed
Emit = Callable[[Event], None]


@dataclass
class Measurement:
    """One variant's work for a sweep. ``work_dir`` is where its files are written (the run's
    folder here; a scratch folder on another node, whose files then travel in the events)."""

    recipe: Recipe
    variant: Variant
    support: Support
    figures: TargetFigures
    todo: Todo
    work_dir: Path
    emit: Emit
    remote: bool = False
    sent: set[str] = field(default_factory=set, init=False)  # folders carried home already

    @property
    def _unsent(self) -> list[str]:
        return [d for d in ("eval",) if d not in self.sent]

    def run(self) -> bool:
        """Build, then measure what the todo lists. Whether anything was measured; raises
        QexploreError (after emitting what was measured) when the variant fails."""
        build = self._build()
        if self.todo.empty:
            return False
        self.emit(Stage("serve", "starting the server"))
        try:
            with self._server(build) as server:
                self.emit(Record({"server": server.facts.as_dict() if server.facts else None}))
                for name, plans in self.todo.levels:
                    self._loadtest(server, self._workload(name), plans, build)
                    server.check_alive()
                if self.todo.need_eval:
                    self._evaluate(server)
        finally:
            if self.remote:  # server logs, and an evaluation's files if it failed midway
                self.emit(Files(pack(self.work_dir, "servers", *self._unsent)))
        return True

    def _workload(self, name: str) -> Workload:
        return next(w for w in self.recipe.workloads if w.name == name)

    def _build(self) -> BuildRecord:
        """The checkpoint to serve — a hub one fetched first, so its size is read from disk
        and its server's start-up deadline is not spent downloading — and its estimate."""
        def on_line(line: str) -> None:
            self.emit(Stage("build", line))

        self.emit(Stage("build"))
        if not self.recipe.serve.endpoint:
            fetch_model(served_location(self.recipe, self.variant), on_line)
        build = build_variant(self.recipe, self.variant, self.todo.force, on_line=on_line)
        estimate = estimate_variant(self.recipe, self.variant, self.support, build.path,
                                    self.figures)
        self.emit(Record({"build": build.as_dict(), "estimate": estimate.model_dump(mode="json")}))
        return build

    def _server(self, build: BuildRecord) -> Server:
        return variant_server(self.recipe, self.variant, build, self.work_dir / "servers")

    def _loadtest(self, server: Server, w: Workload, plans: list[LevelPlan], build: BuildRecord
                  ) -> None:
        r = self.recipe.resolved
        prompts = load_prompts(r.prompts(w.prompts), w.api, w.input_len,
                               served_tokenizer(self.recipe, build), w.seed)
        target = Endpoint(server.base_url, self.variant.name, w.api, server.api_key)
        shape = RequestShape(prompts, w.max_tokens, w.ignore_eos, seed=w.seed)

        def on_level(lv: LevelPlan, summary: LevelSummary, recs: list[RequestRecord]) -> None:
            died = server_death(server, recs)  # a trial its server did not survive
            self.emit(Trial(w.name, lv, summary, recs, died.lines() if died else None))
            if died:
                raise died

        self.emit(Stage("loadtest", w.name))
        run_loadtest(target, shape, plans, request_slo(self.recipe),
                     on_progress=lambda p: self.emit(LevelProgress(p)),
                     sampler=MetricsSampler(server.base_url), check=server.check_alive,
                     on_level=on_level)

    def _evaluate(self, server: Server) -> None:
        e = self.recipe.eval
        tasks = [TaskSpec(t.name, t.num_fewshot if t.num_fewshot is not None else e.num_fewshot,
                          t.limit or e.limit) for t in e.tasks]
        r = self.recipe.resolved
        look = self.todo.look
        job = EvalJob(server.base_url, self.variant.name, r.tokenizer, tasks, r.include_path,
                      e.num_concurrent, e.seed, self.recipe.model.max_model_len or 2048,
                      server.api_key, look)
        self.emit(Stage("eval", ", ".join(t.name for t in tasks) + (
            f" (look {look.number}: {_chunk_text(look)})" if look else "")))
        sub, started = Path("eval") / self.variant.name, time.monotonic()
        result = evaluate(job, self.work_dir / sub,
                          on_line=lambda s: self.emit(Stage("eval", s)))
        self.emit(Evaluated(
            result.tasks, str(result.raw_path.relative_to(self.work_dir)),
            str(result.samples_dir.relative_to(self.work_dir)),
            pack(self.work_dir, str(sub)) if self.remote else None,
            look.number if look else None, time.monotonic() - started))
        self.sent.add("eval")


def _chunk_text(look: Look) -> str:
    """"the first 250 documents of each task" or "gsm8k 250–500, hellaswag 250–500"."""
    if look.ranges is None:
        return f"the first {look.first:,} documents of each task"
    return ", ".join(f"{t} {a:,}–{b:,}" for t, (a, b) in look.ranges.items())


def variant_server(recipe: Recipe, v: Variant, build: BuildRecord, log_dir: Path) -> Server:
    """The server a variant is measured on: the recipe's endpoint when it names one (attach
    mode), else a vLLM server this process starts; ``with`` it to start or attach."""
    s = recipe.serve
    if s.endpoint:
        return AttachedServer(s.endpoint, v.name, s.api_key_env)
    return VllmServer(server_spec(recipe, v, build, log_dir))


def request_slo(recipe: Recipe) -> RequestSlo:
    return RequestSlo(recipe.slo.min_user_tps, recipe.slo.max_ttft_ms)


def server_death(server: Server, recs: list[RequestRecord], grace_s: float = 2.0
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


def pack(root: Path, *subs: str) -> bytes:
    """``root/sub`` folders as a gzip'd tar archive of paths relative to ``root`` (those that
    exist)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for sub in subs:
            if (root / sub).exists():
                tar.add(root / sub, arcname=sub)
    return buf.getvalue()


def unpack(archive: bytes, root: Path) -> None:
    """An archive from :func:`pack`, extracted under ``root`` (paths stay inside it)."""
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(root, filter="data")
