"""A results store on a filesystem several machines share: how qexplore knows it is one, and
the lease that lets one machine at a time use it (see ``results/store.py``)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from pathlib import Path

from qexplore.errors import HardwareError, RecipeError
from qexplore.lock import lease

_OCTAL = re.compile(r"\\([0-7]{3})")  # /proc/mounts escapes space, tab, newline, backslash
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "sshfs", "9p", "ceph",
              "fuse.ceph", "lustre", "glusterfs", "fuse.glusterfs", "gpfs", "beegfs", "afs",
              "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "fuse.rclone"}


def filesystem(path: Path, mounts: str | None = None) -> str:
    """The type of the filesystem holding ``path`` (the longest mount point above it in
    ``/proc/mounts``, or in ``mounts``; of two at one point the later, as an automount's
    ``autofs`` entry comes before the filesystem mounted there); '' if unknown."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return ""
    target, best, kind = str(path.resolve()), -1, ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:
            best, kind = len(point), fields[2]
    return kind


def shared_reason(path: Path) -> str | None:
    """Why the store at ``path`` is used one machine at a time, or None (a local disk)."""
    forced = os.environ.get("QEXPLORE_STORE_SHARED", "").lower()
    if forced in ("1", "true", "yes"):
        return "QEXPLORE_STORE_SHARED=1"
    if forced in ("0", "false", "no"):
        return None
    kind = filesystem(path.parent)
    return f"on a network filesystem ({kind})" if kind in NETWORK_FS else None


def _wait_s() -> float:
    text = os.environ.get("QEXPLORE_STORE_WAIT", "60")
    try:
        return float(text)
    except ValueError:
        raise RecipeError(f"QEXPLORE_STORE_WAIT={text!r}: seconds expected") from None


def _waiting(holder: str) -> None:
    print(f"the shared results store is in use by {holder}; waiting up to {_wait_s():g} s "
          "(QEXPLORE_STORE_WAIT)", file=sys.stderr)


class _Leases:
    """The shared stores' leases this process holds, each once however many Store objects
    have it open (a sweep opens its store again inside itself)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: dict[Path, tuple[int, contextlib.ExitStack]] = {}

    def take(self, path: Path, why: str) -> None:
        with self.lock:
            count, stack = self.held.get(path, (0, contextlib.ExitStack()))
            if count == 0:
                wait = _wait_s()
                try:
                    stack.enter_context(lease(path, wait_s=wait, on_wait=_waiting))
                except TimeoutError as e:
                    raise HardwareError(
                        f"the results store {path.with_suffix('')} is in use by {e.args[0]} "
                        f"(it is {why}: one machine at a time); waited {wait:g} s — try again "
                        "when that run ends, or sweep into a local store and "
                        "`qexplore export`/`import` the runs") from None
            self.held[path] = (count + 1, stack)

    def give(self, path: Path) -> None:
        with self.lock:
            count, stack = self.held.pop(path)
            if count > 1:
                self.held[path] = (count - 1, stack)
            else:
                stack.close()


LEASES = _Leases()


