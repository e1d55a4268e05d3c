"""A lock that holds across machines sharing a filesystem (the build cache on NFS, say).

``flock`` does not: many network and FUSE filesystems ignore it or keep it per machine. This
lock is a lease file created with O_CREAT | O_EXCL, which is atomic on local filesystems and
on NFS (v3 and later). Its holder refreshes the file's modification time every
``stale_s / 6`` seconds; a lease not refreshed for ``stale_s`` belongs to a holder that died
(a killed process, a lost node) and is taken over. Clocks of the machines may differ by less
than ``stale_s`` (the default is minutes; NFS sets the time from its server's clock).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

STALE_S = 300.0  # a lease not refreshed this long is taken over
POLL_S = 0.5


def holder_id() -> str:
    """Who holds a lease: host, process, and a random part (pids repeat across machines)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def lease(path: Path, stale_s: float = STALE_S, on_wait: Callable[[str], None] | None = None
          ) -> Iterator[None]:
    """Hold the lease at ``path`` for the ``with`` block, waiting for another holder to end
    (``on_wait`` is told who, once)."""
    me = holder_id()
    told = False
    while not _try_create(path, me):
        holder = _read(path)
        if holder is not None and _age(path) > stale_s:
            _break(path, stale_s)
            continue
        if on_wait and not told and holder:
            on_wait(holder)
            told = True
        time.sleep(POLL_S)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, me, stale_s / 6, stop), daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        if _read(path) == me:  # never remove a lease another holder took over
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _try_create(path: Path, me: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(me)
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _break(path: Path, stale_s: float) -> None:
    """Remove a stale lease. One breaker at a time (itself a lease, created the same way), and
    the lease is checked again under it: a holder that just took it over is left alone."""
    breaker = path.with_name(path.name + ".break")
    if not _try_create(breaker, holder_id()):
        if _age(breaker) > stale_s:  # a breaker that died mid-break
            with contextlib.suppress(FileNotFoundError):
                breaker.unlink()
        time.sleep(POLL_S)
        return
    try:
        if _age(path) > stale_s:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    finally:
        breaker.unlink()


def _heartbeat(path: Path, me: str, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        if _read(path) == me:
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)
