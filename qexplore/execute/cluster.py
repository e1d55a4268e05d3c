"""Variants on a Ray cluster (the driver's side; :mod:`remote` is what runs on a node): each
variant's build → serve → load test → evaluate runs as one
Ray task on a node that has what it needs, variants in parallel up to the cluster's capacity.

Placement is decided here, not left to Ray's scheduler, so that it can be shown before work
starts and so that measurements stay isolated: a GPU variant gets ``tensor × pipeline`` GPUs of
one node (Ray hands each task its own GPUs: no two servers share one), and a CPU-only node
measures ``executor.per_node`` variants at once (default 1: no two servers share its cores).

A task streams its events back as a Ray generator; the sweep records them as they arrive (one
writer). A task whose node is lost is not retried: its variant is recorded failed with the
reason, and a re-run measures what is missing.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qexplore.errors import HardwareError, QexploreError
from qexplore.execute.measure import Done, Event, Failed, Placed
from qexplore.execute.record import Observer, VariantRecorder
from qexplore.execute.remote import Job, check_node, forwarded_env, remote_measure
from qexplore.recipes.schema import Recipe

RAY_MISSING = "Ray is not installed: pip install 'qexplore[ray]' (`make setup` installs it)"
CONNECT_TIMEOUT_S = 5
PROBE_TIMEOUT_S = 120  # a node's check: a worker's start and, for a hub model, one request


@dataclass(frozen=True)
class Node:
    """A node of the cluster as the placement sees it."""

    node_id: str
    address: str  # the node's IP
    host: str  # its hostname
    cpus: float
    gpus: int
    slots: int  # variants measured on it at once

    @property
    def label(self) -> str:
        return f"{self.host} ({self.address}, {self.node_id[:8]})"


@dataclass(frozen=True)
class Placement:
    """Where each variant will run: its node and its place in that node's queue (1 first)."""

    nodes: list[Node]
    order: dict[str, tuple[Node, int]]

    def rows(self) -> list[tuple[str, str, int]]:
        return [(v, n.label, k) for v, (n, k) in self.order.items()]


def connect(address: str) -> Any:
    """``ray``, connected to the cluster at ``address`` (never a new local one)."""
    try:
        import ray
    except ImportError:
        raise HardwareError(RAY_MISSING) from None
    if ray.is_initialized():
        return ray
    try:
        _reachable(address)
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HardwareError(f"no Ray cluster at {address!r} ({first}): start one with `ray "
                            "start --head` (and `ray start --address HEAD:6379` on the other "
                            "machines), or name it with --ray HOST:PORT") from None
    return ray


def _reachable(address: str) -> None:
    """Fail in seconds, not minutes, when the cluster's head does not answer: its address as
    Ray will use it (``auto`` looked up, a loopback name as Ray resolves it) takes a TCP
    connection."""
    from ray._private.services import canonicalize_bootstrap_address

    where = canonicalize_bootstrap_address(address)
    if where is None:
        raise ConnectionError("no running cluster found on this machine")
    host, _, port = where.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ConnectionError(f"{where} does not answer: {e.strerror or e}") from None


def cluster_nodes(ray: Any, recipe: Recipe) -> list[Node]:
    """The alive nodes that can measure a variant of ``recipe``, with their slots."""
    need = recipe.gpus_per_variant
    out = []
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        res = n.get("Resources", {})
        gpus = int(res.get("GPU", 0))
        slots = gpus // need if need else recipe.executor.per_node  # CPU: any node's cores
        if slots and res.get("CPU", 0) >= 1:
            out.append(Node(n["NodeID"], n.get("NodeManagerAddress", "?"),
                            n.get("NodeManagerHostname", "?"), float(res.get("CPU", 0)), gpus,
                            slots))
    if not out:
        what = f"{need} GPUs" if need else "a CPU"
        raise HardwareError(f"no alive node of the Ray cluster has {what} for a variant "
                            f"(serve.tensor_parallel_size × pipeline_parallel_size = {need or 1})")
    return sorted(out, key=lambda n: (n.address, n.node_id))


def place(variants: list[str], nodes: list[Node]) -> Placement:
    """Variants dealt to the nodes' slots in turn: the first wave fills every slot once, the
    next waves queue behind them (the real order follows which slot frees first)."""
    slots = [(n, k) for k in range(max(n.slots for n in nodes)) for n in nodes if k < n.slots]
    order = {}
    per_node: dict[str, int] = {}
    for i, v in enumerate(variants):
        node = slots[i % len(slots)][0]
        per_node[node.node_id] = per_node.get(node.node_id, 0) + 1
        order[v] = (node, per_node[node.node_id])
    return Placement(nodes, order)


def probe(ray: Any, nodes: list[Node], recipe: Recipe, env: dict[str, str]
          ) -> tuple[list[Node], list[str]]:
    """The nodes that have what the recipe needs, and one line per node left out and why."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(check_node)
    refs = [task.options(num_cpus=0, max_retries=0, scheduling_strategy=
                         NodeAffinitySchedulingStrategy(n.node_id, soft=False)).remote(
                             recipe.model_copy(), env) for n in nodes]
    ok, left_out = [], []
    for node, ref in zip(nodes, refs, strict=True):
        try:
            lines = ray.get(ref, timeout=PROBE_TIMEOUT_S)
        except Exception as e:  # a node that cannot even run the check
            lines = [f"the check could not run there ({type(e).__name__})"]
        if lines:
            left_out.append(f"{node.label}: {lines[0]}")
        else:
            ok.append(node)
    if not ok:
        raise HardwareError("no node of the Ray cluster can measure this recipe", *left_out)
    return ok, left_out


OnEvent = Callable[[str, Event], None]
OnEnd = Callable[[str, list[str] | None, bool], None]


@dataclass
class _Tasks:
    """The driver's view of the cluster while a sweep runs: free slots, running tasks."""

    ray: Any
    placement: Placement
    gpus: int
    waiting: list[str] = field(default_factory=list)
    free: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    running: dict[Any, tuple[str, Node]] = field(default_factory=dict)
    begun: set[Any] = field(default_factory=set)  # tasks whose node said it started them

    def __post_init__(self) -> None:
        self.nodes = {n.node_id: n for n in self.placement.nodes}
        self.free = {n.node_id: n.slots for n in self.placement.nodes}

    def node_for(self, variant: str) -> Node | None:
        """The planned node if it has a free slot, else any node with one."""
        planned = self.placement.order[variant][0]
        if self.free.get(planned.node_id, 0) > 0:
            return planned
        return next((self.nodes[k] for k, n in self.free.items() if n > 0), None)

    def submit(self, variant: str, node: Node, job: Job) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.free[node.node_id] -= 1
        gen = self.ray.remote(remote_measure).options(
            num_cpus=1 if self.gpus else node.cpus / node.slots, num_gpus=self.gpus,
            max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(job)
        self.running[gen] = (variant, node)

    def release(self, gen: Any, lost: bool) -> None:
        """The task is over: its slot is free again — unless it was lost, when its node takes
        no more work from this sweep (Ray may not know yet that the node is gone), nor does any
        other node Ray reports dead."""
        _, node = self.running.pop(gen)
        self.begun.discard(gen)
        self.free[node.node_id] += 1
        if lost:
            alive = {n["NodeID"] for n in self.ray.nodes() if n.get("Alive")}
            for gone in (set(self.nodes) - alive) | {node.node_id}:
                self.nodes.pop(gone, None)
                self.free.pop(gone, None)


def run_on_cluster(ray: Any, jobs: dict[str, Job], placement: Placement, gpus: int,
                   on_event: OnEvent, on_end: OnEnd, on_start: Callable[[str, Node], None]
                   ) -> None:
    """Run every job on the cluster, at most each node's slots at once, in the order given;
    each event goes to ``on_event`` as it arrives, each end to ``on_end(variant, error lines
    or None, measured)``. A recording that fails (``on_event`` raising QexploreError) fails
    that variant only; a cluster that stops answering is a HardwareError."""
    t = _Tasks(ray, placement, gpus, waiting=list(jobs))
    try:
        while t.waiting or t.running:
            for v in list(t.waiting):
                node = t.node_for(v)
                if node is not None:
                    t.waiting.remove(v)
                    t.submit(v, node, jobs[v])
                    on_start(v, node)
            if not t.nodes:  # every node was lost: nothing left to run on
                for v in t.waiting:
                    on_end(v, ["no alive node left on the Ray cluster; run the sweep again "
                               "once it has one"], False)
                t.waiting.clear()
            ready, _ = ray.wait(list(t.running), num_returns=1, timeout=1.0)
            for gen in ready:
                _step(t, gen, on_event, on_end)
    except ray.exceptions.RayError as e:
        raise HardwareError(f"lost the Ray cluster ({type(e).__name__}: {_first(e)}); what "
                            "was measured is stored: run the sweep again to resume") from None
    finally:
        for gen in t.running:
            ray.cancel(gen, force=True)


def _step(t: _Tasks, gen: Any, on_event: OnEvent, on_end: OnEnd) -> None:
    """Take the task's next event: record it, or end the variant."""
    v, _ = t.running[gen]
    ev = _next(t.ray, gen)
    if isinstance(ev, Done | Failed):
        lost = isinstance(ev, Failed) and ev.lines[0].startswith(LOST)
        never_began = gen not in t.begun
        t.release(gen, lost)
        if lost and never_began:  # its node was gone before it began: it waits for another
            t.waiting.insert(0, v)
            return
        on_end(v, ev.lines if isinstance(ev, Failed) else None,
               isinstance(ev, Done) and ev.measured)
        return
    if isinstance(ev, Placed):
        t.begun.add(gen)
    try:
        on_event(v, ev)
    except QexploreError as e:  # recording it failed: this variant fails, the rest go on
        t.ray.cancel(gen, force=True)
        t.release(gen, lost=False)
        on_end(v, e.lines(), False)


LOST = "lost its Ray node or worker mid-variant"


def _next(ray: Any, gen: Any) -> Event:
    """The task's next event; :class:`Failed` once it ended without saying how (its node or
    worker was lost)."""
    try:
        ev: Event = ray.get(next(gen))
        return ev
    except StopIteration:
        return Failed([f"{LOST}: its task ended without a result"])
    except ray.exceptions.RayError as e:  # NodeDiedError, WorkerCrashedError, …
        return Failed([f"{LOST} ({type(e).__name__}: {_first(e)[:200]}); not retried — run "
                       "the sweep again to measure what is missing"])


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@dataclass
class RayExecutor:
    """A sweep's variants as Ray tasks, in parallel as the cluster's nodes allow; the sweep's
    process records every event as it arrives, exactly as for a variant measured here."""

    ray: Any
    nodes: list[Node]
    left_out: list[str]  # nodes that lack what the recipe needs, and why
    env: dict[str, str]  # forwarded to every task

    @classmethod
    def connect(cls, recipe: Recipe, address: str) -> RayExecutor:
        """Connected, with the nodes that can measure ``recipe`` (each checked there)."""
        ray = connect(address)
        extra = {}
        if recipe.resolved.demo_model:  # one demo model for every node: weights differ by ISA
            from qexplore.demo.model import ensure_demo_model

            extra["QEXPLORE_DEMO_MODEL"] = str(ensure_demo_model())
        env = forwarded_env(recipe, extra)
        nodes, left_out = probe(ray, cluster_nodes(ray, recipe), recipe, env)
        return cls(ray, nodes, left_out, env)

    def placement(self, variants: list[str]) -> Placement:
        return place(variants, self.nodes)

    def run(self, recorders: list[VariantRecorder], run_dir: Path, obs: Observer
            ) -> dict[str, str]:
        """Each variant's status once measured (or found measured already)."""
        statuses, jobs = {}, {}
        by_name = {r.name: r for r in recorders}
        for r in recorders:
            todo = r.todo()
            if todo is None:
                statuses[r.name] = "ok"
                continue
            m = r.measurement(todo, Path("."), _nowhere, remote=True)  # its node sets both
            jobs[r.name] = Job(m, str(run_dir), r.recipe.executor.build_cache, self.env)
        if not jobs:
            return statuses
        placement = self.placement(list(jobs))
        obs.placement(placement.rows(), self.left_out)

        def on_end(v: str, error: list[str] | None, measured: bool) -> None:
            statuses[v] = by_name[v].finish(error, measured)

        def on_start(v: str, node: Node) -> None:
            by_name[v].started({"executor": "ray", "host": node.host, "address": node.address,
                                "node_id": node.node_id, "started": time.time()})
            obs.stage(v, "placed", node.label)

        run_on_cluster(self.ray, jobs, placement, recorders[0].recipe.gpus_per_variant,
                       lambda v, ev: by_name[v].apply(ev), on_end, on_start)
        return statuses


def _nowhere(ev: Event) -> None:
    """An emit for a measurement that is only being sent (its node sets the real one)."""
