"""The demo model on disk: built once per machine, in a child process, under a lock."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qexplore import paths
from qexplore.demo.build import DemoSpec
from qexplore.errors import HardwareError

FACTS = "qexplore-demo.json"
TASKS_DIR = Path(__file__).parent / "tasks"


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
    cmd = [sys.executable, "-u", "-m", "qexplore.demo.build", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = [*tail[-29:], line.rstrip()]
        if on_line and line.startswith("step "):
            on_line(f"training the demo model (first use): {line.rstrip()}")
    if proc.wait() != 0 or demo_facts(out) is None:
        raise HardwareError("building the demo model failed:\n" + "\n".join(tail))
