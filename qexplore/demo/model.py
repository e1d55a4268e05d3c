"""The demo model on disk: built once per machine, in a child process, under a lock."""

from __future__ import annotations

import fcntl
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qexplore import paths
from qexplore.demo.build import DemoSpec
from qexplore.errors import HardwareError
from qexplore.guard import run_logged

FACTS = "qexplore-demo.json"


def demo_facts(model_dir: Path | None = None) -> dict[str, Any] | None:
    """The build facts of the demo model, or None if it is not (completely) built."""
    f = (model_dir or paths.demo_model_dir()) / FACTS
    try:
        facts: dict[str, Any] = json.loads(f.read_text())
        return facts
    except (OSError, json.JSONDecodeError):
        return None


def ensure_demo_model(
    force: bool = False, on_line: Callable[[str], None] | None = None
) -> Path:
    """Build the demo model unless it is there; returns its folder.

    The facts file is written last (inside an atomic rename), so a folder with it is complete.
    Concurrent callers wait on a lock file instead of building twice.
    """
    out = paths.demo_model_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".demo-model.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        facts = demo_facts(out)
        if force or facts is None or facts.get("key") != DemoSpec().key():
            _build_in_child(out, on_line)
    return out


def _build_in_child(out: Path, on_line: Callable[[str], None] | None) -> None:
    """Train in a guarded child process: it dies with qexplore, even on SIGKILL."""
    cmd = [sys.executable, "-u", "-m", "qexplore.demo.build", str(out)]

    def show(step: str) -> None:
        if on_line:
            on_line(f"training the demo model (first use): step {step}")

    code, tail = run_logged(cmd, out.parent / "demo-build.log", "step ", show)
    if code != 0 or demo_facts(out) is None:
        raise HardwareError("building the demo model failed:\n" + "\n".join(tail))
