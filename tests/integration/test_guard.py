"""The guard kills its whole process group when its parent dies, even by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

# A "server" that forks a grandchild, as vLLM forks its engine core.
SERVER = textwrap.dedent("""
    import subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    time.sleep(600)
""")

PARENT = textwrap.dedent("""
    import subprocess, sys, time
    g = subprocess.Popen([sys.executable, "-m", "qexplore.guard", sys.executable, "-c",
                          sys.argv[1]], stdin=subprocess.PIPE, start_new_session=True)
    print(g.pid, flush=True)
    time.sleep(600)
""")


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def wait_for(pred: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_sigkill_of_the_parent_takes_the_server_and_its_children_down(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, SERVER], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "QEXPLORE_STOP_GRACE_S": "2"})
    assert parent.stdout is not None
    guard_pid = int(parent.stdout.readline())
    assert wait_for(lambda: len(descendants(guard_pid)) >= 2)
    victims = [guard_pid, *(p.pid for p in descendants(guard_pid))]
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert wait_for(lambda: not any(psutil.pid_exists(p) and
                                    psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                    for p in victims)), "processes survived their parent"


def test_guard_returns_the_commands_exit_code() -> None:
    g = subprocess.Popen([sys.executable, "-m", "qexplore.guard", sys.executable, "-c",
                          "import sys; sys.exit(7)"], stdin=subprocess.PIPE)
    assert g.wait(timeout=60) == 7  # stdin stays open: the command ended by itself


def test_closing_the_pipe_stops_the_command_with_sigterm() -> None:
    g = subprocess.Popen([sys.executable, "-m", "qexplore.guard", "sleep", "600"],
                         stdin=subprocess.PIPE)
    assert wait_for(lambda: descendants(g.pid))
    assert g.stdin is not None
    g.stdin.close()
    assert g.wait(timeout=30) == 128 + signal.SIGTERM


def test_a_guard_killed_outright_still_takes_its_command_down() -> None:
    # As Ray does to a lost worker's children: SIGKILL to the guard, which cannot clean up.
    g = subprocess.Popen([sys.executable, "-m", "qexplore.guard", "sleep", "600"],
                         stdin=subprocess.PIPE)
    assert wait_for(lambda: descendants(g.pid))
    (command,) = descendants(g.pid)
    g.send_signal(signal.SIGKILL)
    g.wait()
    assert wait_for(lambda: not psutil.pid_exists(command.pid) or
                    command.status() == psutil.STATUS_ZOMBIE), "the command outlived its guard"
