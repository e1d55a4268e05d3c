"""The demo model's training runs in a guarded child: a killed qexplore leaves no trainer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import kill_when

pytestmark = pytest.mark.e2e


def test_sigkill_during_training_leaves_no_trainer(tmp_path: Path) -> None:
    env = {**os.environ, "QEXPLORE_DEMO_MODEL": str(tmp_path / "demo-model")}
    cmd = [sys.executable, "-c", "from qexplore.cli.main import run; run()", "demo", "build"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def training() -> bool:  # the trainer is past its imports and at work
        trainers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                    if "qexplore.demo.build" in " ".join(c.cmdline())]
        return any(t.cpu_times().user > 5 for t in trainers)

    # The guard stops the trainer at once; an unguarded one ran on until its next progress
    # line hit the closed pipe (the first comes after 50 steps, ~20 s of training).
    assert not kill_when(proc, training, 300, grace=10), "the trainer outlived qexplore"
    assert not (tmp_path / "demo-model" / "qexplore-demo.json").exists()
