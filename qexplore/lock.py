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
def lease(path: Path, stale_s: float = STALE_S, on_wait: Callable[[str], None] | None = None,
          wait_s: float | None = None) -> Iterator[None]:
    """Hold the lease at ``path`` for the ``with`` block, waiting for another holder to end
    (``on_wait`` is told who, once); after ``wait_s`` seconds (None: no limit) TimeoutError,
    with the holder."""
    me = holder_id()
    told = False
    deadline = None if wait_s is None else time.monotonic() + wait_s
    while not _try_create(path, me):
        holder = _read(path)
        if holder is not None and (_age(path) > stale_s or _dead_here(holder)):
            _break(path, holder, stale_s)
            continue
        if on_wait and not told and holder:
            on_wait(holder)
            told = True
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(holder or "unknown")
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
    except (FileNotFoundError, OSError):
        return None


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _dead_here(holder: str) -> bool:
    """Whether the holder was a process of this machine that no longer exists (a build killed
    here: its lease is taken over at once, not after ``stale_s``)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _break(path: Path, holder: str, stale_s: float) -> None:
    """Remove the lease ``holder`` left behind. One breaker at a time (itself a lease, made the
    same way); under it the lease is read again, and removed only if ``holder`` still has it —
    a holder that took it over meanwhile keeps it."""
    breaker = path.with_name(path.name + ".break")
    me = holder_id()
    if not _try_create(breaker, me):
        stuck = _read(breaker)
        if stuck is not None and _age(breaker) > stale_s:  # a breaker that died mid-break
            _remove_if(breaker, stuck)
        time.sleep(POLL_S)
        return
    try:
        _remove_if(path, holder)
    finally:
        _remove_if(breaker, me)


def _remove_if(path: Path, holder: str) -> None:
    """Remove ``path`` if ``holder`` still holds it (read, then removed: the window between is
    a breaker's, which only one process is in at a time)."""
    if _read(path) == holder:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _heartbeat(path: Path, me: str, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        with contextlib.suppress(OSError):  # a network filesystem's hiccup: try again next beat
            if _read(path) == me:
                os.utime(path)


def still_held(path: Path) -> bool:
    """Whether this process still holds the lease at ``path`` (no one took it over)."""
    holder = _read(path) or ""
    host, _, rest = holder.partition(":")
    return host == socket.gethostname() and rest.partition(":")[0] == str(os.getpid())
