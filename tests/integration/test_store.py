"""The results store: migrations recorded, concurrent writers lose nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qexplore.results.store import MIGRATIONS, Store

pytestmark = pytest.mark.integration

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from qexplore.results.store import MIGRATIONS, Store
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
    assert store.migrations() == ["001_initial", "002_level_status", "003_level_trials",
                                  "004_variant_estimate", "005_variant_node", "006_gates"]
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_of_the_first_schema_is_migrated_in_place(tmp_path: Path) -> None:
    # A store written before levels had a status: its levels were all measurements.
    db = sqlite3.connect(tmp_path / "s.db")
    db.executescript(MIGRATIONS[0][1] + ";CREATE TABLE migrations (name TEXT PRIMARY KEY, "
                     "applied_at REAL NOT NULL); INSERT INTO migrations VALUES ('001_initial', 0);"
                     "INSERT INTO levels VALUES ('r', 'v', 'short', 4, 0, '{}', NULL, 0);")
    db.close()
    with Store(tmp_path / "s.db") as store:
        assert store.migrations() == ["001_initial", "002_level_status", "003_level_trials",
                                      "004_variant_estimate", "005_variant_node", "006_gates"]
        assert [r["status"] for r in store.levels("r")] == ["ok"]
        store.upsert_variant("r", "v", "baseline", 0, node={"host": "h", "executor": "ray"})
        assert store.variants("r")[0]["node"] == {"host": "h", "executor": "ray"}


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), tag]) for tag in "ab"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = Store(db)
    assert len(store.runs()) == 80
    assert len(store.frame("levels")) == 80
    variants = store.frame("variants")
    assert sorted(variants["build"].map(lambda b: b["size_bytes"])) == sorted(list(range(40)) * 2)
