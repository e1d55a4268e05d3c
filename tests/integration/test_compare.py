"""`qexplore compare` gates a nightly job: a run against itself passes; a doctored copy where a
variant's accuracy dropped significantly (and its throughput fell) fails, naming it."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
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
    # 30 discordant pairs, all lost: exact two-sided McNemar p = 2 × 0.5^30 = 1.86e-09
    assert "worse (p=1.86e-09, mcnemar)" in r.stdout


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


def test_last_good_follows_the_gates_recorded_in_the_store(tmp_path: Path) -> None:
    """A nightly job's sequence: the first complete run becomes the reference; each night is
    compared with the latest earlier run whose gate passed, so a regressed night never is."""
    with Store(tmp_path / "s.db") as store:
        for run, correct, tps in (("n1", 90, 100.0), ("n2", 90, 100.0), ("n3", 60, 80.0),
                                  ("n4", 90, 100.0)):
            add_run(store, tmp_path, run, correct=correct, tps=tps, spread=0.02)
    first = compare(tmp_path, "LAST_GOOD", "n1")
    assert first.returncode == 0, first.stdout
    assert "n1 is now the reference" in first.stdout
    second = compare(tmp_path, "LAST_GOOD", "n2")
    assert second.returncode == 0 and "no regression (n2 against n1)" in second.stdout
    third = compare(tmp_path, "LAST_GOOD", "n3")
    assert third.returncode == 1 and "int4 (demo_add_mc/acc)" in third.stdout
    fourth = compare(tmp_path, "LAST_GOOD", "n4")  # against n2: n3 failed its gate
    assert fourth.returncode == 0 and "no regression (n4 against n2)" in fourth.stdout
    again = compare(tmp_path, "LAST_GOOD", "n3")  # n3 is still judged against n2, not n4
    assert again.returncode == 1 and "n2" in again.stdout.splitlines()[0]


def test_a_first_run_with_a_failed_variant_is_not_taken_as_the_reference(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        add_run(store, tmp_path, "n1", correct=90, tps=100.0)
        store.set_run_status("n1", "partial")
    r = compare(tmp_path, "LAST_GOOD", "n1", "--junit", str(tmp_path / "gate.xml"))
    assert r.returncode == 1
    assert "not a reference" in r.stdout
    failure = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite/testcase/failure")
    assert failure is not None and "n1 is partial" in failure.get("message", "")


def test_the_junit_file_names_each_failing_variant_and_figure(runs: Path) -> None:
    r = compare(runs, "good", "bad", "--junit", str(runs / "out" / "gate.xml"))
    assert r.returncode == 1
    suite = ET.parse(runs / "out" / "gate.xml").getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase[@classname='int4']")
    # one variant: accuracy (1 metric) + 4 figures at its one level; and "run complete"
    assert len(cases) == 5 and int(suite.get("tests", "")) == 6
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    # 30 docs lost; output tok/s 100 → 80; slowest-1 % user tok/s 20 in both: not slower
    assert set(failed) == {"demo_add_mc/acc", "short@4 users: output_tps"}
    assert int(suite.get("failures", "")) == len(failed)
    assert suite.find("testcase[@name='run complete']/failure") is None
    acc = failed["demo_add_mc/acc"]
    assert acc is not None and acc.get("message") == "int4 demo_add_mc/acc: 0.900 → 0.600 (-33.3 %)"
    assert "p=1.86e-09" in (acc.text or "")


def test_an_inconclusive_figure_is_a_junit_error(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        add_run(store, tmp_path, "a", correct=None, tps=100.0, spread=0.30)
        add_run(store, tmp_path, "b", correct=None, tps=85.0, spread=0.30)
    r = compare(tmp_path, "a", "b", "--junit", str(tmp_path / "gate.xml"))
    assert r.returncode == 5
    suite = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "inconclusive"
    assert "short@4 users: output_tps" in error.get("message", "")


def test_a_run_with_a_failed_variant_fails_the_gate_and_is_no_reference(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        add_run(store, tmp_path, "n1", correct=90, tps=100.0, spread=0.02)
        add_run(store, tmp_path, "n2", correct=90, tps=100.0, spread=0.02)
        store.upsert_variant("n2", "int8", "W8A8", 1, status="failed", error="server died")
        store.set_run_status("n2", "partial")
        add_run(store, tmp_path, "n3", correct=90, tps=100.0, spread=0.02)
    assert compare(tmp_path, "LAST_GOOD", "n1").returncode == 0
    second = compare(tmp_path, "LAST_GOOD", "n2")  # int4 as before; the new int8 failed
    assert second.returncode == 1 and "n2 is partial (failed: int8)" in second.stdout
    third = compare(tmp_path, "LAST_GOOD", "n3")
    assert third.returncode == 0 and "no regression (n3 against n1)" in third.stdout


def test_only_the_nightly_gate_is_recorded(tmp_path: Path) -> None:
    """A store from before gates were recorded takes its latest earlier complete run as the
    reference; a comparison with a named run records nothing."""
    with Store(tmp_path / "s.db") as store:
        for run, correct in (("n1", 90), ("n2", 60), ("n3", 90)):
            add_run(store, tmp_path, run, correct=correct, tps=100.0, spread=0.02)
    assert compare(tmp_path, "n3", "n2").returncode == 1  # someone looking: not recorded
    r = compare(tmp_path, "LAST_GOOD", "n2")  # no gates yet: n1, the complete run before
    assert r.returncode == 1 and "n1" in r.stdout.splitlines()[0]
    with Store(tmp_path / "s.db") as store:
        assert store.gate("n3") is None
        assert store.gate("n2") is not None and store.gate("n2")["outcome"] == "regression"  # type: ignore[index]
