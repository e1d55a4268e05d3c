"""Runs moved between results stores: ``export`` writes runs with their files to a folder (a
store of their own beside the files), ``import`` adds such a folder's runs to a store.

A run's records name files: the raw per-request parquet of each level and trial, the
evaluation's results and per-sample files. Exported, every such file lies under
``DIR/<run id>/`` (the run's folder — server logs and reports included — copied whole when the
records point into it) and the records name them relative to DIR; imported, the files go to
``<reports>/<run id>/`` and the records name them there. Build checkpoints are not moved (the
build cache is content-addressed: any machine rebuilds the same one).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from qexplore.errors import RecipeError
from qexplore.results.store import TABLES, Store

EXPORT_DB = "qexplore.db"
PATH_KEYS = ("raw_path", "samples_dir")  # keys (columns, or in a variant's eval) naming files


@dataclass
class Moved:
    """What an export or import did: the runs moved, those the destination already had, how
    many files went with them, and the paths the records name that were not there to copy."""

    runs: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    files: int = 0
    missing: list[str] = field(default_factory=list)


def export_runs(store: Store, run_ids: list[str], to: Path) -> Moved:
    """``run_ids`` from ``store``, with their files, into the folder ``to``. Paths are read
    as the sweep wrote them (relative ones from the current folder); a file not found keeps
    its path in the records and is listed in ``missing``."""
    for run_id in run_ids:
        store.run(run_id)  # an unknown id is bad input, before anything is written
    moved = Moved()
    to.mkdir(parents=True, exist_ok=True)
    with Store(to / EXPORT_DB) as out:
        for run_id in run_ids:
            if out.has_run(run_id):
                moved.skipped.append(run_id)
                continue
            rows = {t: store.rows(t, run_id) for t in TABLES}
            mapping, missing = _export_files(run_id, _paths(rows), to)
            out.insert_rows({t: [_relocate(r, mapping.get) for r in rs] for t, rs in rows.items()})
            moved.runs.append(run_id)
            moved.files += len(mapping)
            moved.missing += missing
    return moved


def import_runs(store: Store, folder: Path, reports: Path) -> Moved:
    """Every run exported to ``folder`` that ``store`` lacks, its files under ``reports``
    (named by absolute path: a store others read must not depend on one's current folder).
    The export is read from a copy, so a read-only folder imports too."""
    if not (folder / EXPORT_DB).is_file():
        raise RecipeError(f"{folder} holds no exported runs (no {EXPORT_DB}; made by "
                          "`qexplore export RUN --to DIR`)")
    moved = Moved()
    reports = reports.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy2(folder / EXPORT_DB, Path(tmp) / EXPORT_DB)
        with Store(Path(tmp) / EXPORT_DB) as src:
            for r in src.runs():
                run_id = r["run_id"]
                if store.has_run(run_id):
                    moved.skipped.append(run_id)
                    continue
                rows = {t: src.rows(t, run_id) for t in TABLES}
                if (folder / run_id).is_dir():
                    shutil.copytree(folder / run_id, reports / run_id, dirs_exist_ok=True)
                place = _under(reports, run_id)
                store.insert_rows({t: [_relocate(x, place) for x in rs] for t, rs in rows.items()})
                moved.runs.append(run_id)
                moved.files += sum(1 for p in _paths(rows) if place(p))
    return moved


def _under(reports: Path, run_id: str) -> Callable[[str], str | None]:
    """Where an imported path goes: one relative to the export (``<run_id>/…``) under
    ``reports``; any other (a file that was missing at export) stays."""
    def place(p: str) -> str | None:
        return str(reports / p) if PurePath(p).parts[:1] == (run_id,) else None
    return place


def _paths(rows: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Every file path the run's records name."""
    found: set[str] = set()

    def seen(p: str) -> None:
        found.add(p)

    _relocate(rows, seen)
    return found


def _export_files(run_id: str, paths: set[str], to: Path) -> tuple[dict[str, str], list[str]]:
    """Copy the files ``paths`` name into ``to/<run_id>/``: their new names, relative to
    ``to``, and the paths not found. A path inside the run's folder (a part named as the run)
    keeps its place under it, and that folder is copied whole, once; any other goes to
    ``<run_id>/files/``."""
    mapping: dict[str, str] = {}
    missing: list[str] = []
    copied: set[Path] = set()
    for p in sorted(paths):
        src = Path(p)
        if not src.exists():
            missing.append(p)
            continue
        parts = src.parts
        if run_id in parts:
            cut = parts.index(run_id)
            folder = Path(*parts[:cut + 1])
            if folder not in copied:
                shutil.copytree(folder, to / run_id, dirs_exist_ok=True)
                copied.add(folder)
            mapping[p] = str(PurePath(run_id, *parts[cut + 1:]))
        else:
            new = PurePath(run_id, "files", f"{len(mapping)}-{src.name}")
            if src.is_dir():
                shutil.copytree(src, to / new, dirs_exist_ok=True)
            else:
                (to / new).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, to / new)
            mapping[p] = str(new)
    return mapping, missing


def _relocate(value: Any, place: Callable[[str], str | None], key: str = "") -> Any:
    """``value`` with every file path (a string under a key in PATH_KEYS, in a column or in a
    JSON column) replaced by ``place(path)`` where that is not None."""
    if isinstance(value, dict):
        return {k: _relocate(v, place, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocate(v, place, key) for v in value]
    if isinstance(value, str) and key in PATH_KEYS:
        return place(value) or value
    if isinstance(value, str) and value[:1] in "{[":
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        return json.dumps(_relocate(decoded, place, key))
    return value
