"""Runs move between stores (`export RUN --to DIR`, `import DIR`) with their files, and a store
on a shared filesystem is used by one machine at a time without loss."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qexplore.results.run import load_run
from qexplore.results.store import Store
from qexplore.testing import stored_runs as stored

pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]


def qexplore(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QEXPLORE, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "QEXPLORE_STORE": "reports/qexplore.db",
                               "COLUMNS": "200", **env}, timeout=300)


def add_run(store: Store, run: str, correct: dict[str, int]) -> None:
    """A run as a sweep in the current folder records it: files under reports/<run>/,
    named relative to the folder."""
    stored.add_run(store, run, stored.recipe(users=(1,), target_users=1))
    for i, (variant, right) in enumerate(correct.items()):
        raw = Path("reports", run, "raw", variant, "short-c1-t1.parquet")
        raw.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"output_tokens": [16, 16]}).to_parquet(raw)
        store.upsert_variant(run, variant, "baseline" if i == 0 else "W8A8", i, status="ok",
                             eval=stored.evaluation(Path("reports", run, "eval", variant),
                                                    "demo_add_mc", right))
        store.add_level(run, variant, "short", stored.level(1, 10.0, 10.0, 40.0), str(raw))
        store.add_trial(run, variant, "short", 1, stored.level(1, 10.0, 10.0, 40.0), str(raw))
    store.set_run_status(run, "complete")


def test_a_run_moves_to_another_store_with_its_files(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    here, there, box = tmp_path / "here", tmp_path / "there", tmp_path / "box"
    here.mkdir()
    there.mkdir()
    monkeypatch.chdir(here)
    with Store(Path("reports/qexplore.db")) as s:
        add_run(s, "r1", {"bf16": 90, "int8": 80})
        add_run(s, "r2", {"bf16": 90})
        s.record_gate("r1", None, "first", 0, 0)
    elsewhere = qexplore(tmp_path, "export", "r1", "--to", str(tmp_path / "wrong"),
                         QEXPLORE_STORE=str(here / "reports" / "qexplore.db"))
    assert elsewhere.returncode == 1  # the records' relative paths mean nothing from there
    assert "not found, left out (6; a relative path is read from the folder" in elsewhere.stdout
    out = qexplore(here, "export", "r1", "--to", str(box))
    assert out.returncode == 0, out.stderr
    assert "1 run(s) exported to" in out.stdout
    shutil.rmtree(here)  # nothing may still point at the old place

    got = qexplore(there, "import", str(box))
    assert got.returncode == 0, got.stderr
    monkeypatch.chdir(there)
    with Store(Path("reports/qexplore.db")) as s:
        assert [r["run_id"] for r in s.runs()] == ["r1"]
        assert s.gate("r1") is not None and s.gate("r1")["outcome"] == "first"  # type: ignore[index]
        run = load_run(s, "r1")
        trials = s.trials("r1", "int8")
    raws = [lv.raw_path for lv in run.levels] + [t["raw_path"] for t in trials]
    assert raws and all(p and p.startswith(f"{there}/reports/r1/raw/") and Path(p).exists()
                        for p in raws)
    # the per-sample files came along: int8 lost 10 of bf16's 90 right answers, none gained
    assert run.comparisons["int8"]["demo_add_mc"]["acc"].verdict == "worse"
    rebuilt = qexplore(there, "report", "r1")
    assert rebuilt.returncode == 0, rebuilt.stderr
    again = qexplore(there, "import", str(box))
    assert again.returncode == 0 and "already there, skipped: r1" in again.stdout


def test_exporting_an_unknown_run_is_bad_input(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Store(Path("reports/qexplore.db")) as s:
        add_run(s, "r1", {"bf16": 90})
    r = qexplore(tmp_path, "export", "r9", "--to", str(tmp_path / "box"))
    assert r.returncode == 2 and "no run 'r9'" in r.stderr
    assert not (tmp_path / "box").exists()
    (tmp_path / "empty").mkdir()
    nothing = qexplore(tmp_path, "import", str(tmp_path / "empty"))
    assert nothing.returncode == 2 and "holds no exported runs" in nothing.stderr


HOLD = """
import sys, time
from pathlib import Path
from qexplore.results.store import Store
s = Store(Path(sys.argv[1]))
print("open", flush=True)
time.sleep(120)
"""


def test_a_shared_store_is_used_by_one_machine_at_a_time(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    shared = {"QEXPLORE_STORE_SHARED": "1", "QEXPLORE_STORE_WAIT": "2"}
    db = tmp_path / "reports" / "qexplore.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, **shared})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        busy = qexplore(tmp_path, "history", **shared)
        assert busy.returncode == 3, busy.stderr
        waiting, error = busy.stderr.strip().splitlines()  # told at once, then the error
        holder_id = f"{socket.gethostname()}:{holder.pid}:"
        assert waiting.startswith(f"the shared results store is in use by {holder_id}")
        assert error.startswith(f"error: the results store {db} is in use by {holder_id}")
    finally:
        holder.kill()  # a holder that died on this machine is taken over at once
        holder.wait()
    for var, value in shared.items():
        monkeypatch.setenv(var, value)
    monkeypatch.chdir(tmp_path)
    with Store(db) as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        add_run(s, "r1", {"bf16": 90})
    after = qexplore(tmp_path, "history", **shared)  # the next user finds what was written
    assert after.returncode == 0, after.stderr
    assert "r1" in after.stdout and not db.with_name("qexplore.db.lease").exists()
