"""The build cache's lease lock: one holder at a time across processes (as across machines on
a shared filesystem, which this machine cannot show), a dead holder's lease taken over, and a
live holder's lease kept fresh however long its build takes."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from pathlib import Path

import pytest

from qexplore.lock import lease
from qexplore.results.shared import NETWORK_FS, filesystem, shared_reason

pytestmark = pytest.mark.unit


def _hold(path: str, log: str, stale_s: float) -> None:
    with lease(Path(path), stale_s=stale_s):
        with open(log, "a") as f:
            f.write(f"in {time.time()}\n")
        time.sleep(0.3)
        with open(log, "a") as f:
            f.write(f"out {time.time()}\n")


def contend(path: Path, log: Path, n: int = 4) -> list[str]:
    """``n`` processes holding the lease in turn; what they logged, in order."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(str(path), str(log), 60)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * n
    return [line.split()[0] for line in log.read_text().splitlines()]


def test_holders_take_turns(tmp_path: Path) -> None:
    assert contend(tmp_path / "k.lease", tmp_path / "log") == ["in", "out"] * 4  # one at a time
    assert not (tmp_path / "k.lease").exists()  # the last holder released it


def test_contenders_for_a_stale_lease_still_take_turns(tmp_path: Path) -> None:
    # a holder on another machine died; four processes find its stale lease at once
    path, log = tmp_path / "k.lease", tmp_path / "log"
    path.write_text("gone-host:123:abcd")
    old = time.time() - 120
    os.utime(path, (old, old))
    assert contend(path, log) == ["in", "out"] * 4


def test_a_holder_killed_on_this_machine_is_taken_over_at_once(tmp_path: Path) -> None:
    # a build killed here (SIGKILL): its process is gone, so a resumed sweep need not wait
    # out the lease's staleness
    dead = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join()
    path = tmp_path / "k.lease"
    path.write_text(f"{socket.gethostname()}:{dead.pid}:abcd")  # fresh, but its holder is dead
    started = time.monotonic()
    with lease(path, stale_s=300):
        pass
    assert time.monotonic() - started < 5


def test_a_dead_holders_lease_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "k.lease"
    path.write_text("gone-host:123:abcd")  # a holder that was killed: its lease goes stale
    old = time.time() - 120
    os.utime(path, (old, old))
    waited: list[str] = []
    started = time.monotonic()
    with lease(path, stale_s=60, on_wait=waited.append):
        assert path.read_text() != "gone-host:123:abcd"
    assert time.monotonic() - started < 10 and waited == []


def test_a_live_holder_keeps_its_lease_fresh(tmp_path: Path) -> None:
    path = tmp_path / "k.lease"
    with lease(path, stale_s=0.6):  # refreshed every 0.1 s
        mine = path.read_text()
        time.sleep(1.5)  # well past stale_s: only the heartbeat keeps it
        assert path.read_text() == mine and time.time() - path.stat().st_mtime < 0.6


def test_a_waiter_is_told_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "k.lease"
    path.write_text("other-host:42:beef")  # fresh: a live holder on another machine
    told: list[str] = []
    ctx = multiprocessing.get_context("spawn")
    releaser = ctx.Process(target=_remove_later, args=(str(path), 1.0))
    releaser.start()
    with lease(path, stale_s=60, on_wait=told.append):
        pass
    releaser.join(10)
    assert told == ["other-host:42:beef"]


def _remove_later(path: str, after_s: float) -> None:
    time.sleep(after_s)
    os.unlink(path)


MOUNTS = """/dev/sda1 / ext4 rw,relatime 0 0
server:/export /mnt/shared nfs4 rw,vers=4.2 0 0
//nas/team /mnt/shared/deeper\\040dir cifs rw 0 0
systemd-1 /mnt/auto autofs rw 0 0
server:/team /mnt/auto nfs rw 0 0
"""


@pytest.mark.parametrize(("path", "kind"), [
    ("/mnt/shared/team/qexplore.db", "nfs4"),
    ("/mnt/shared/deeper dir/q.db", "cifs"),  # the longest mount point above it, unescaped
    ("/mnt/sharedx/q.db", "ext4"),  # a prefix of the name is not a mount point above it
    ("/home/me/reports/q.db", "ext4"),
    ("/mnt/auto/q.db", "nfs"),  # an automount: the filesystem mounted over its autofs entry
])
def test_the_store_knows_the_filesystem_it_is_on(path: str, kind: str) -> None:
    assert filesystem(Path(path), MOUNTS) == kind


def test_a_store_on_a_network_filesystem_is_shared(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.delenv("QEXPLORE_STORE_SHARED", raising=False)
    if filesystem(tmp_path) not in NETWORK_FS:  # the test's own folder, on a local disk
        assert shared_reason(tmp_path / "q.db") is None
    monkeypatch.setenv("QEXPLORE_STORE_SHARED", "1")
    assert shared_reason(tmp_path / "q.db") == "QEXPLORE_STORE_SHARED=1"
