"""`qexplore compare` gates a nightly job: a run against itself passes; a doctored copy where a
variant's accuracy dropped significantly (and its throughput fell) fails, naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qexplore.results.store import Store
from qexplore.testing import stored_runs as stored

pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]


def add_run(store: Store, tmp: Path, run: str, correct: int | None, tps: float,
            failed: int = 0, users: tuple[int, ...] = (4,), spread: float | None = None,
            sessions: float = 0) -> None:
    """A run with one variant whose demo_add_mc gets ``correct`` of 100 docs right (None: not
    evaluated), measured at ``users`` with ``failed`` of 10 requests failed."""
    stored.add_run(store, run, stored.recipe(users=users, target_users=max(users),
                                             session_spread_pct=sessions))
    store.upsert_variant(run, "int4", "W4A16", 0, status="ok", eval=None if correct is None else
                         stored.evaluation(tmp / run, "demo_add_mc", correct))
    for u in users:
        store.add_level(run, "int4", "short",
                        stored.level(u, tps, 20.0, 50.0, failed, spread=spread), None)
    store.set_run_status(run, "complete")


def compare(tmp: Path, a: str, b: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QEXPLORE, "compare", a, b, *flags], capture_output=True, text=True,
                          env={**os.environ, "QEXPLORE_STORE": str(tmp / "s.db"), "COLUMNS": "250"})


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    store = Store(tmp_path / "s.db")
    add_run(store, tmp_path, "good", correct=90, tps=100.0)
    add_run(store, tmp_path, "bad", correct=60, tps=80.0)  # 30 docs lost, 20 % slower
    add_run(store, tmp_path, "flaky", correct=90, tps=100.0, failed=2)  # same speed, 2 failed
    add_run(store, tmp_path, "short", correct=None, tps=100.0, users=(1,))  # less measured
    store.close()
    return tmp_path


def test_a_run_compared_with_itself_passes(runs: Path) -> None:
    r = compare(runs, "good", "good")
    assert r.returncode == 0, r.stdout
    assert "no regression" in r.stdout


def test_a_significant_accuracy_drop_and_a_slowdown_fail(runs: Path) -> None:
    r = compare(runs, "good", "bad")
    assert r.returncode == 1
    assert "int4 (demo_add_mc/acc)" in r.stdout
    assert "int4 (short@4 users: output_tps)" in r.stdout
    assert "worse (p=1.86e-09, mcnemar)" in r.stdout  # 30 discordant pairs, all lost: 2/2^30


def test_an_unknown_run_id_is_bad_input_with_a_suggestion(runs: Path) -> None:
    r = compare(runs, "good", "bda")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"no run 'bda' in {runs / 's.db'} — did you mean 'bad'?"
    missing = subprocess.run([*QEXPLORE, "report", "good"], capture_output=True, text=True,
                             env={**os.environ, "QEXPLORE_STORE": str(runs / "none.db")})
    assert missing.returncode == 2 and "no results store at" in missing.stderr


def test_new_failed_requests_are_a_regression(runs: Path) -> None:
    r = compare(runs, "good", "flaky")
    assert r.returncode == 1
    assert "1 regression(s): int4 (short@4 users: failed requests)" in r.stdout


def test_what_the_new_run_lacks_fails_the_gate_unless_allowed(runs: Path) -> None:
    r = compare(runs, "good", "short")
    assert r.returncode == 1
    assert "int4 (demo_add_mc: evaluation), int4 (short@4 users: level)" in r.stdout
    allowed = compare(runs, "good", "short", "--allow-missing")
    assert allowed.returncode == 0, allowed.stdout
    assert "missing from the second (allowed)" in allowed.stdout


@pytest.mark.parametrize(("tps", "spread", "sessions", "code", "says"), [
    (85.0, 0.02, 0, 1, "REGRESSION"),     # 15 % slower, tight intervals: significant and large
    (95.0, 0.02, 0, 0, "no regression"),  # 5 % slower, significant but within the 10 % limit
    (85.0, 0.30, 0, 5, "inconclusive"),   # 15 % slower, but ±30 % noise: cannot tell
    (85.0, 0.02, 25, 5, "inconclusive"),  # tight within a run, but sessions stray by 25 %
    (100.0, 0.05, 5, 0, "no regression"),  # the same speed on a machine of average noise
])
def test_speed_changes_are_judged_by_their_intervals(tmp_path: Path, tps: float, spread: float,
                                                     sessions: float, code: int, says: str) -> None:
    with Store(tmp_path / "s.db") as store:
        add_run(store, tmp_path, "a", correct=None, tps=100.0, spread=spread, sessions=sessions)
        add_run(store, tmp_path, "b", correct=None, tps=tps, spread=spread, sessions=sessions)
    r = compare(tmp_path, "a", "b")
    assert r.returncode == code, r.stdout
    assert says in r.stdout
