"""What runs on a Ray node for a sweep: one variant's measurement, its events yielded as they
come (a Ray streaming generator), and the check of what the node has."""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qexplore.errors import QexploreError
from qexplore.execute.measure import Done, Event, Failed, LevelProgress, Measurement, Placed
from qexplore.recipes.schema import Recipe

PROGRESS_EVERY_S = 0.5  # a remote load level's progress, at most this often


@dataclass(frozen=True)
class Job:
    """What a Ray task needs to measure one variant (pickled to its node)."""

    measurement: Measurement  # with work_dir and emit left for the node to set
    display_dir: str  # the run's folder on the driver, for paths in error messages
    build_cache: str | None
    env: dict[str, str] = field(default_factory=dict)  # forwarded from the driver


def forwarded_env(recipe: Recipe, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The driver's values of the variables ``executor.env`` names (tokens, offline flags),
    plus ``extra``."""
    return {**{k: os.environ[k] for k in recipe.executor.env if k in os.environ},
            **(extra or {})}


def _on_node(env: dict[str, str], build_cache: str | None) -> None:
    os.environ.update(env)
    if build_cache:
        os.environ["QEXPLORE_BUILD_CACHE"] = build_cache


def check_node(recipe: Recipe, env: dict[str, str]) -> list[str]:
    """A Ray task: what this node lacks to measure ``recipe`` (its GPU, vLLM, the model), as
    the lines of the error a local sweep would stop on; empty when it has everything."""
    from qexplore.plan.machine import check_machine

    _on_node(env, None)
    try:
        check_machine(recipe)
    except QexploreError as e:
        return e.lines()
    return []


def remote_measure(job: Job) -> Iterator[Event]:
    """The Ray task: run the measurement on this node in a thread, yielding its events as
    they come: :class:`Placed` first, :class:`Done` or :class:`Failed` last."""
    _on_node(job.env, job.build_cache)
    work = Path(tempfile.mkdtemp(prefix="qexplore-variant-"))
    events: queue.Queue[Event | None] = queue.Queue()
    last = [0.0]

    def emit(ev: Event) -> None:
        if isinstance(ev, LevelProgress):  # the driver's live line needs no more than this
            if time.monotonic() - last[0] < PROGRESS_EVERY_S and \
                    ev.progress.done < ev.progress.level.requests:
                return
            last[0] = time.monotonic()
        events.put(ev)

    def run() -> None:
        m = job.measurement
        try:
            m = dataclasses.replace(m, work_dir=work, emit=emit)
            events.put(Done(m.run()))
        except QexploreError as e:
            events.put(Failed([x.replace(str(work), job.display_dir) for x in e.lines()]))
        except Exception as e:  # a bug, said as such; the task itself must end with a result
            events.put(Failed([f"internal error (a bug in qexplore): {type(e).__name__}: {e}"]))
        finally:
            events.put(None)

    from qexplore.environment import hardware

    events.put(Placed({"host": socket.gethostname(), "address": _ip(),
                       "hardware": hardware().as_dict(), "started": time.time()}))
    threading.Thread(target=run, daemon=True, name="qexplore-variant").start()
    try:
        while (ev := events.get()) is not None:
            yield ev
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ip() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:
        return "?"


