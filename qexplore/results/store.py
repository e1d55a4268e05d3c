"""The results store: SQLite, changed only through named forward-only migrations.

Rows are written in short transactions as soon as something is measured, so a killed sweep
loses at most the request in flight. Every run row carries its provenance (versions, hardware,
git SHA, the resolved recipe) so a record describes itself.

On a local disk the store runs in WAL mode (readers never wait for the sweep writing). On a
network filesystem (NFS, SMB, sshfs, Ceph, Lustre…, or wherever ``QEXPLORE_STORE_SHARED=1``)
WAL cannot work — its index is shared memory, which other machines do not see — and the locks
SQLite relies on are not dependable, so the store is used by **one machine at a time**: it runs
with a rollback journal, and each process holds the store's lease file (``<db>.lease``, made
with O_EXCL and kept fresh; see ``qexplore.lock``) while the store is open. Another machine
waits up to ``QEXPLORE_STORE_WAIT`` seconds (default 60) and then stops, naming the holder; a
holder that died is taken over after 5 minutes.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qexplore.errors import RecipeError, StoreError
from qexplore.lock import still_held
from qexplore.registry import suggest
from qexplore.results.shared import LEASES, shared_reason

SCHEMA_VERSION = 4
DEFAULT_PATH = Path("reports") / "qexplore.db"
VARIANT_JSON = ("build", "server", "eval", "estimate", "node")  # variant columns holding JSON

MIGRATIONS: list[tuple[str, str]] = [
    ("001_initial", """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, recipe_name TEXT NOT NULL, recipe_hash TEXT NOT NULL,
            status TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
            schema_version INTEGER NOT NULL, provenance TEXT NOT NULL, recipe TEXT NOT NULL);
        CREATE TABLE variants (
            run_id TEXT NOT NULL REFERENCES runs(run_id), variant TEXT NOT NULL,
            scheme TEXT NOT NULL, position INTEGER NOT NULL, status TEXT NOT NULL,
            error TEXT, build TEXT, server TEXT, eval TEXT, updated_at REAL NOT NULL,
            PRIMARY KEY (run_id, variant));
        CREATE TABLE levels (
            run_id TEXT NOT NULL, variant TEXT NOT NULL, workload TEXT NOT NULL,
            concurrency INTEGER NOT NULL, rate REAL NOT NULL DEFAULT 0,
            summary TEXT NOT NULL, raw_path TEXT, recorded_at REAL NOT NULL,
            PRIMARY KEY (run_id, variant, workload, concurrency, rate));
        CREATE INDEX runs_by_recipe ON runs(recipe_hash, started_at);
    """),
    # A level cut short by its server dying is kept (with its partial records) but is not a
    # measurement: 'interrupted' levels are measured again on resume and never judged.
    ("002_level_status", """
        ALTER TABLE levels ADD COLUMN status TEXT NOT NULL DEFAULT 'ok';
    """),
    # Each trial of a level on its own: what resume reads to know which trials are done. The
    # levels table holds each level pooled over its measured trials, with its intervals.
    ("003_level_trials", """
        CREATE TABLE level_trials (
            run_id TEXT NOT NULL, variant TEXT NOT NULL, workload TEXT NOT NULL,
            concurrency INTEGER NOT NULL, rate REAL NOT NULL DEFAULT 0, trial INTEGER NOT NULL,
            status TEXT NOT NULL, summary TEXT NOT NULL, raw_path TEXT, recorded_at REAL NOT NULL,
            PRIMARY KEY (run_id, variant, workload, concurrency, rate, trial));
    """),
    # The capacity plan's estimate for each variant (weights, KV cache, decode bound per level),
    # made once its checkpoint is known: what every level's "% of bound" is read against.
    ("004_variant_estimate", """
        ALTER TABLE variants ADD COLUMN estimate TEXT;
    """),
    # Where the variant was measured: this machine, or a Ray node (host, address, node id).
    ("005_variant_node", """
        ALTER TABLE variants ADD COLUMN node TEXT;
    """),
    # Each nightly gate's outcome (`compare`): what `compare LAST_GOOD` reads, so a nightly job
    # keeps no bookkeeping of its own. reference '' is a first run, taken as the reference.
    ("006_gates", """
        CREATE TABLE gates (
            run_id TEXT NOT NULL, reference TEXT NOT NULL, outcome TEXT NOT NULL,
            regressions INTEGER NOT NULL, inconclusive INTEGER NOT NULL, recorded_at REAL NOT NULL,
            PRIMARY KEY (run_id, reference));
    """),
]
GOOD = ("pass", "first")  # gate outcomes that make a run a reference for the next
TABLES = ("runs", "variants", "levels", "level_trials", "gates")  # every table a run has rows in


def store_path(recipe_store: str | None = None) -> Path:
    """``QEXPLORE_STORE``, else the recipe's ``output.store``, else ``reports/qexplore.db``."""
    return Path(os.environ.get("QEXPLORE_STORE") or recipe_store or DEFAULT_PATH)


class Store:
    """A connection to the results database (created and migrated on open)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.shared = shared_reason(path)
        self._lease = path.with_name(path.name + ".lease").resolve()
        try:
            if self.shared:
                LEASES.take(self._lease, self.shared)
        except OSError as e:
            raise StoreError(f"cannot take the shared results store's lease {self._lease}: {e}"
                             ) from None
        # Switching a new database to WAL does not wait for other openers (it fails at once
        # with "database is locked"), so opening and migrating are serialised by a file lock.
        try:
            with open(path.with_name(path.name + ".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self.db = sqlite3.connect(path, timeout=60, isolation_level=None)
                self.db.row_factory = sqlite3.Row
                self.db.execute("PRAGMA busy_timeout=60000")
                self.db.execute(f"PRAGMA journal_mode={'DELETE' if self.shared else 'WAL'}")
                self._migrate()
        except (sqlite3.Error, OSError) as e:
            if self.shared:
                LEASES.give(self._lease)
            raise StoreError(f"cannot open the results store {path}: {e}") from None

    @classmethod
    def existing(cls, path: Path) -> Store:
        """The store at ``path``, which must already exist (reading never creates one)."""
        if not path.exists():
            raise RecipeError(f"no results store at {path} (give --store or QEXPLORE_STORE)")
        return cls(path)

    def close(self) -> None:
        self.db.close()
        if self.shared:
            LEASES.give(self._lease)
            self.shared = None  # given back once

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, so concurrent writers queue, not fail). On a
        shared store, only while this process still holds its lease: one that went stale (a
        network outage of minutes) and was taken over by another machine writes no more."""
        if self.shared and not still_held(self._lease):
            raise StoreError(f"lost the lease of the shared results store {self.path} (not "
                             f"refreshed for 5 minutes; another machine took it over)")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        with self.tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, "
                       "applied_at REAL NOT NULL)")
            done = {r[0] for r in db.execute("SELECT name FROM migrations")}
            for name, sql in MIGRATIONS:
                if name not in done:
                    for statement in sql.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT INTO migrations VALUES (?, ?)", (name, time.time()))

    def migrations(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM migrations ORDER BY name")]

    # ------------------------------------------------------------------ runs
    def create_run(self, run_id: str, recipe_name: str, recipe_hash: str, recipe: dict[str, Any],
                   provenance: dict[str, Any]) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO runs VALUES (?, ?, ?, 'running', ?, NULL, ?, ?, ?)",
                       (run_id, recipe_name, recipe_hash, time.time(), SCHEMA_VERSION,
                        json.dumps(provenance), json.dumps(recipe)))

    def set_run_status(self, run_id: str, status: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?",
                       (status, time.time(), run_id))

    def run(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:  # a run id the user typed: bad input, with the closest one suggested
            known = [r[0] for r in self.db.execute("SELECT run_id FROM runs")]
            raise RecipeError(f"no run '{run_id}' in {self.path}{suggest(run_id, known)}"
                              if known else f"no run '{run_id}' in {self.path} (it holds none)")
        return _decode(row, ("provenance", "recipe"))

    def latest_run(self, recipe_hash: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM runs WHERE recipe_hash = ? ORDER BY started_at DESC "
                              "LIMIT 1", (recipe_hash,)).fetchone()
        return _decode(row, ("provenance", "recipe")) if row else None

    def runs(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT run_id, recipe_name, status, started_at, ended_at FROM runs "
                               "ORDER BY started_at")
        return [dict(r) for r in rows]

    # ----------------------------------------------------------------- gates
    def record_gate(self, run_id: str, reference: str | None, outcome: str, regressions: int,
                    inconclusive: int) -> None:
        """``run_id``'s gate against ``reference`` (None: a first run, no reference)."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO gates VALUES (?, ?, ?, ?, ?, ?)",
                       (run_id, reference or "", outcome, regressions, inconclusive, time.time()))

    def gate(self, run_id: str) -> dict[str, Any] | None:
        """The latest gate recorded for ``run_id``, if any."""
        row = self.db.execute("SELECT * FROM gates WHERE run_id = ? ORDER BY recorded_at DESC "
                              "LIMIT 1", (run_id,)).fetchone()
        return dict(row) if row else None

    def last_good(self, recipe_name: str, before: str) -> str | None:
        """The latest run of ``recipe_name`` started before run ``before`` whose latest gate
        passed (or made it the first reference). A recipe none of whose runs was ever gated
        (runs stored before gates were recorded) takes its latest earlier complete run."""
        since = self.run(before)["started_at"]
        rows = [dict(r) for r in self.db.execute(
            "SELECT run_id, status FROM runs WHERE recipe_name = ? AND started_at < ? "
            "AND run_id != ? ORDER BY started_at DESC", (recipe_name, since, before))]
        gates = {r["run_id"]: g for r in rows if (g := self.gate(r["run_id"]))}
        for r in rows:
            g = gates.get(r["run_id"])
            if (g["outcome"] in GOOD) if g else (not gates and r["status"] == "complete"):
                return str(r["run_id"])
        return None

    # -------------------------------------------------------------- variants
    def upsert_variant(self, run_id: str, variant: str, scheme: str, position: int, **fields: Any
                       ) -> None:
        """Create the variant row if needed, then set the given fields (JSON-encoded)."""
        with self.tx() as db:
            db.execute("INSERT OR IGNORE INTO variants (run_id, variant, scheme, position, status, "
                       "updated_at) VALUES (?, ?, ?, ?, 'pending', ?)",
                       (run_id, variant, scheme, position, time.time()))
            for key, value in fields.items():
                if key not in ("status", "error", *VARIANT_JSON):
                    raise ValueError(f"unknown variant field {key}")
                encoded = value if key in ("status", "error") else json.dumps(value)
                db.execute(f"UPDATE variants SET {key} = ?, updated_at = ? "
                           "WHERE run_id = ? AND variant = ?", (encoded, time.time(), run_id, variant))

    def variants(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM variants WHERE run_id = ? ORDER BY position",
                               (run_id,))
        return [_decode(r, VARIANT_JSON) for r in rows]

    # ---------------------------------------------------------------- levels
    def add_level(self, run_id: str, variant: str, workload: str, summary: dict[str, Any],
                  raw_path: str | None, status: str = "ok") -> None:
        """Record a level (replacing an earlier one of the same key); ``status`` is 'ok' for a
        measurement, 'interrupted' for a level whose server died under it."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO levels (run_id, variant, workload, concurrency, "
                       "rate, summary, raw_path, recorded_at, status) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, variant, workload, summary["concurrency"], summary.get("rate") or 0,
                        json.dumps(summary), raw_path, time.time(), status))

    def add_trial(self, run_id: str, variant: str, workload: str, trial: int,
                  summary: dict[str, Any], raw_path: str | None, status: str = "ok") -> None:
        """Record one trial of a level ('interrupted' when its server died under it)."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO level_trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, variant, workload, summary["concurrency"], summary.get("rate") or 0,
                        trial, status, json.dumps(summary), raw_path, time.time()))

    def trials(self, run_id: str, variant: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM level_trials WHERE run_id = ? AND variant = ? "
                               "ORDER BY workload, rate, concurrency, trial", (run_id, variant))
        return [_decode(r, ("summary",)) for r in rows]

    def levels(self, run_id: str, variant: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM levels WHERE run_id = ?" + (" AND variant = ?" if variant else "")
        args = (run_id, variant) if variant else (run_id,)
        rows = self.db.execute(sql + " ORDER BY variant, workload, rate, concurrency", args)
        return [_decode(r, ("summary",)) for r in rows]

    # ------------------------------------------------------- whole records
    def rows(self, table: str, run_id: str) -> list[dict[str, Any]]:
        """A run's rows of ``table`` as stored (JSON columns left encoded): what moves a run
        to another store."""
        if table not in TABLES:
            raise StoreError(f"no table {table}")
        return [dict(r) for r in self.db.execute(f"SELECT * FROM {table} WHERE run_id = ?",
                                                 (run_id,))]

    def insert_rows(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """Rows of several tables (as :meth:`rows` gives them) added in one transaction; a
        column this store does not have is refused."""
        try:
            with self.tx() as db:
                for table, records in rows.items():
                    if table not in TABLES:
                        raise StoreError(f"no table {table}")
                    have = {c[1] for c in db.execute(f"PRAGMA table_info({table})")}
                    for r in records:
                        unknown = set(r) - have
                        if unknown:
                            raise StoreError(f"{table} has no column {', '.join(sorted(unknown))} "
                                             "here (a store of a newer qexplore?)")
                        db.execute(f"INSERT INTO {table} ({', '.join(map(_quoted, r))}) "
                                   f"VALUES ({', '.join('?' * len(r))})", tuple(r.values()))
        except sqlite3.Error as e:
            raise StoreError(f"cannot add rows to {self.path}: {e}") from None

    def has_run(self, run_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def frame(self, table: str, run_id: str | None = None) -> Any:
        """A table as a pandas DataFrame (JSON columns decoded), optionally for one run."""
        import pandas as pd

        if table not in ("runs", "variants", "levels"):
            raise StoreError(f"no table {table}")
        sql = f"SELECT * FROM {table}" + (" WHERE run_id = ?" if run_id else "")
        rows = self.db.execute(sql, (run_id,) if run_id else ())
        return pd.DataFrame([_decode(r, ("provenance", "recipe", *VARIANT_JSON, "summary"))
                             for r in rows])


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _decode(row: sqlite3.Row, json_cols: tuple[str, ...]) -> dict[str, Any]:
    out = dict(row)
    for col in json_cols:
        if col in out and isinstance(out[col], str):
            out[col] = json.loads(out[col])
    return out
