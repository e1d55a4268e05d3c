"""The results store: migrations recorded, concurrent writers lose nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qexplore.results.store import Store

pytestmark = pytest.mark.integration

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from qexplore.results.store import Store
    store = Store(Path(sys.argv[1]))
    tag = sys.argv[2]
    for i in range(40):
        run = f"{tag}-{i}"
        store.create_run(run, "r", "h" + tag, {"name": "r"}, {"qexplore": "test"})
        store.upsert_variant(run, "v", "baseline", 0, status="ok", build={"size_bytes": i})
        store.add_level(run, "v", "short", {"concurrency": 1, "rate": None, "output_tps": i}, None)
""")


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()
    store = Store(tmp_path / "s.db")  # opening again applies nothing new
    assert store.migrations() == ["001_initial"]
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), tag]) for tag in "ab"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = Store(db)
    assert len(store.runs()) == 80
    assert len(store.frame("levels")) == 80
    variants = store.frame("variants")
    assert sorted(variants["build"].map(lambda b: b["size_bytes"])) == sorted(list(range(40)) * 2)
