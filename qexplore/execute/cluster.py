"""Variants on a Ray cluster: each variant's build → serve → load test → evaluate runs as one
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
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qexplore.errors import HardwareError, QexploreError
from qexplore.execute.measure import Event, LevelProgress, Measurement, Stage
from qexplore.recipes.schema import Recipe

RAY_MISSING = "Ray is not installed: pip install 'qexplore[ray]' (`make setup` installs it)"
CONNECT_TIMEOUT_S = 5
PROGRESS_EVERY_S = 0.5  # a remote load level's progress, at most this often


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


@dataclass
class Ran:
    """Where a variant ran and how long it took."""

    node: str
    started: float
    ended: float | None = None
    status: str = "running"

    @property
    def seconds(self) -> float:
        return (self.ended or time.time()) - self.started


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


@dataclass(frozen=True)
class Job:
    """What a Ray task needs to measure one variant (pickled to its node)."""

    measurement: Measurement  # with work_dir and emit left for the node to set
    display_dir: str  # the run's folder on the driver, for paths in error messages
    build_cache: str | None
    env: dict[str, str] = field(default_factory=dict)  # forwarded from the driver


def forwarded_env(recipe: Recipe) -> dict[str, str]:
    """The driver's values of the variables ``executor.env`` names (tokens, offline flags)."""
    return {k: os.environ[k] for k in recipe.executor.env if k in os.environ}


def remote_measure(job: Job) -> Iterator[Event | tuple[str, Any]]:
    """The Ray task: run the measurement on this node in a thread, yielding its events as
    they come, then ``("done", measured)`` or ``("failed", lines)``."""
    os.environ.update(job.env)
    if job.build_cache:
        os.environ["QEXPLORE_BUILD_CACHE"] = job.build_cache
    work = Path(tempfile.mkdtemp(prefix="qexplore-variant-"))
    events: queue.Queue[Any] = queue.Queue()
    end = object()
    last = [0.0]

    def emit(ev: Event) -> None:
        if isinstance(ev, LevelProgress):  # the driver's live line needs no more than this
            if time.monotonic() - last[0] < PROGRESS_EVERY_S and ev.progress.done < \
                    ev.progress.level.requests:
                return
            last[0] = time.monotonic()
        events.put(ev)

    def run() -> None:
        m = job.measurement
        try:
            m = Measurement(m.recipe, m.variant, m.support, m.figures, m.todo, work, emit, True)
            events.put(("done", m.run()))
        except QexploreError as e:
            events.put(("failed", [x.replace(str(work), job.display_dir) for x in e.lines()]))
        except Exception as e:  # any other failure is the variant's, reported, not a crash
            events.put(("failed", [f"{type(e).__name__}: {e}"]))
        finally:
            events.put(end)

    events.put(Stage("node", f"{socket.gethostname()} ({_ip()})"))
    threading.Thread(target=run, daemon=True, name="qexplore-variant").start()
    try:
        while (ev := events.get()) is not end:
            yield ev
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ip() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:
        return "?"


OnEvent = Callable[[str, Event], None]
OnEnd = Callable[[str, list[str] | None, bool], None]


def run_on_cluster(ray: Any, jobs: dict[str, Job], placement: Placement, gpus: int,
                   on_event: OnEvent, on_end: OnEnd, on_start: Callable[[str, Node], None]
                   ) -> dict[str, Ran]:
    """Run every job on the cluster, at most each node's slots at once, in the order given;
    each event goes to ``on_event`` as it arrives, each end to ``on_end(variant, error lines
    or None, measured)``. Returns where each ran and for how long."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(remote_measure)
    free = {n.node_id: n.slots for n in placement.nodes}
    nodes = {n.node_id: n for n in placement.nodes}
    waiting = list(jobs)
    running: dict[Any, tuple[str, Node]] = {}
    ran: dict[str, Ran] = {}
    try:
        while waiting or running:
            for v in list(waiting):
                node = _free_node(placement.order[v][0], free, nodes)
                if node is None:
                    continue
                waiting.remove(v)
                free[node.node_id] -= 1
                share = node.cpus / node.slots
                gen = task.options(
                    num_cpus=1 if gpus else share, num_gpus=gpus, max_retries=0,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
                ).remote(jobs[v])
                running[gen] = (v, node)
                ran[v] = Ran(node.label, time.time())
                on_start(v, node)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for gen in ready:
                v, node = running[gen]
                outcome = _next(ray, gen)
                if outcome is None:
                    continue
                if isinstance(outcome, tuple) and outcome[0] in ("done", "failed", "lost"):
                    del running[gen]
                    free[node.node_id] += 1
                    error = None if outcome[0] == "done" else outcome[1]
                    ran[v].ended, ran[v].status = time.time(), "ok" if error is None else "failed"
                    on_end(v, error, outcome[0] == "done" and bool(outcome[1]))
                else:
                    on_event(v, outcome)
    finally:
        for gen in running:
            ray.cancel(gen, force=True)
    return ran


def _free_node(planned: Node, free: dict[str, int], nodes: dict[str, Node]) -> Node | None:
    """The planned node if it has a free slot, else any node with one."""
    if free.get(planned.node_id, 0) > 0:
        return planned
    return next((nodes[k] for k, n in free.items() if n > 0), None)


def _next(ray: Any, gen: Any) -> Any:
    """The generator's next event; ``("failed", …)`` once it ended without saying how (its
    node or worker was lost), None when nothing is ready yet."""
    try:
        ref = next(gen)
        return ray.get(ref)
    except StopIteration:
        return ("lost", ["its Ray task ended without a result"])
    except ray.exceptions.RayError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return ("lost", [f"lost its Ray node or worker mid-variant ({type(e).__name__}: "
                         f"{first[:200]}); not retried — run the sweep again to measure "
                         "what is missing"])
