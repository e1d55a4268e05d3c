"""Parent-death guard: runs a command in its own process group and kills the whole group when
qexplore goes away, however it goes (its end of our stdin pipe closes even on SIGKILL).

    python -m qexplore.guard CMD...

Used for every long-lived child: vLLM servers and build workers (see :func:`guarded_popen`).

Stops the group on stdin EOF or SIGTERM: SIGTERM to the group, a grace period, then SIGKILL;
if the guard itself is killed outright, the command gets SIGTERM from the kernel.
Exits with the command's exit code when the command ends by itself. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

GRACE_S = float(os.environ.get("QEXPLORE_STOP_GRACE_S", "15"))
LOG_TAIL_LINES = 30  # how much of a child's log an error carries


def stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the command's process group, wait up to ``grace_s``, then SIGKILL it."""
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def guarded_popen(argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start ``argv`` under the guard. Closing the returned process's stdin (or dying) stops it."""
    cmd = [sys.executable, "-m", "qexplore.guard", *argv]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, start_new_session=True, **kwargs)


def run_logged(cmd: list[str], log_path: Path, prefix: str,
               on_line: Callable[[str], None] | None = None, env: dict[str, str] | None = None,
               tail_lines: int = LOG_TAIL_LINES) -> tuple[int, list[str]]:
    """Run ``cmd`` under the guard to completion, copying its output to ``log_path``; lines
    starting with ``prefix`` go to ``on_line`` (without it). Returns (exit code, last lines).
    On Ctrl-C or any error here, closing the pipe makes the guard stop the command."""
    tail: deque[str] = deque(maxlen=tail_lines)
    with open(log_path, "w", buffering=1) as log:  # line-buffered: the log can be followed
        proc = guarded_popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env)
        assert proc.stdout is not None and proc.stdin is not None
        try:
            for line in proc.stdout:
                log.write(line)
                tail.append(line.rstrip())
                if on_line and line.startswith(prefix):
                    on_line(line.removeprefix(prefix).strip())
            code = proc.wait()
        finally:
            proc.stdin.close()
    return code, list(tail)


def _term_when_orphaned(guard: int) -> Callable[[], None]:
    """For the command's process: SIGTERM when the guard dies, however (Linux prctl
    PR_SET_PDEATHSIG). A guard killed outright — Ray kills a lost worker's children with
    SIGKILL — cannot stop the group itself."""
    def arm() -> None:
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
        if os.getppid() != guard:  # the guard died before the signal was armed
            os._exit(1)

    return arm


def main(argv: list[str]) -> int:
    proc = subprocess.Popen(argv, process_group=0, preexec_fn=_term_when_orphaned(os.getpid()))
    stopping = threading.Event()

    def stop(*_: object) -> None:
        if not stopping.is_set():
            stopping.set()
            stop_group(proc, GRACE_S)

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop, daemon=True).start())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; Ctrl-C reaches it first

    def watch_parent() -> None:
        # os.read on the raw fd: a daemon thread blocked in a buffered read aborts at shutdown.
        while os.read(0, 4096):  # returns b"" at EOF: the parent closed the pipe or died
            pass
        stop()

    threading.Thread(target=watch_parent, daemon=True).start()
    code = proc.wait()
    if stopping.is_set():
        _signal_group(proc.pid, signal.SIGKILL)  # stragglers of the group
    else:
        stop_group(proc, GRACE_S)  # the server exited: reap whatever it left behind
    return 128 - code if code < 0 else code  # shell convention for "killed by signal N"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
