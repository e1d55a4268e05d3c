"""Accuracy verdicts of stored runs as the table and the recommendation use them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qexplore.results.run import StoredRun, load_run
from qexplore.results.store import Store
from qexplore.results.table import recommendation, variant_rows
from qexplore.testing import stored_runs as stored

pytestmark = pytest.mark.integration


def run_with(tmp: Path, correct: dict[str, int]) -> Store:
    """One run: a baseline and variants whose demo_add_mc gets ``correct`` of 100 right, all
    equally fast."""
    store = Store(tmp / "s.db")
    stored.add_run(store, "r", stored.recipe(users=(4,), target_users=4))
    for i, (name, n) in enumerate(correct.items()):
        store.upsert_variant("r", name, "baseline" if i == 0 else "W4A16", i, status="ok",
                             build=stored.build(name, "x", 1e9 / (i + 1), 16 / (i + 1)),
                             eval=stored.evaluation(tmp / name, "demo_add_mc", n))
        store.add_level("r", name, "short", stored.level(4, 100.0, 25.0, 50.0), None)
    return store


def test_a_collapsed_variant_is_judged_not_dropped(tmp_path: Path) -> None:
    with run_with(tmp_path, {"bf16": 90, "broken": 0}) as store:
        run = load_run(store, "r")
    broken = next(r for r in variant_rows(run) if r.variant == "broken")
    assert (broken.recovery_pct, broken.accuracy_verdict) == (0.0, "worse")
    rec = recommendation(run)
    assert rec.winner == "bf16"
    assert rec.reasons["broken"] == "accuracy loss 100.0% (significant) exceeds the 1% budget"


def speed_run(tmp: Path, levels: dict[str, dict[int, tuple[float, float]]],
              max_ttft_ms: float | None = None) -> Store:
    """One run without evaluations: per variant, users → (slowest-1 % tok/s, TTFT p99 ms)."""
    store = Store(tmp / "s.db")
    recipe = stored.recipe(users=(1, 10, 50, 100), target_users=100, min_user_tps=10)
    recipe["slo"]["max_ttft_ms"] = max_ttft_ms
    stored.add_run(store, "r", recipe)
    for i, (name, points) in enumerate(levels.items()):
        store.upsert_variant("r", name, "baseline" if i == 0 else "W8A8", i, status="ok",
                             build=stored.build(name, "x", 1e9 / (i + 1), 16 / (i + 1)))
        for users, (p1, ttft) in points.items():
            store.add_level("r", name, "short", stored.level(users, p1 * users, p1, ttft), None)
    return store


def test_users_between_levels_are_judged_at_the_next_level_up(tmp_path: Path) -> None:
    # Asked about 80 users, measured at 1/10/50/100: the 50-user figures say nothing about 80.
    levels = {"bf16": {1: (40, 100), 10: (30, 100), 50: (20, 100), 100: (8, 100)},
              "int8": {1: (45, 100), 10: (35, 100), 50: (25, 100), 100: (12, 100)}}
    with speed_run(tmp_path, levels) as store:
        run = load_run(store, "r")
    assert {r.variant: (r.at_users, r.user_tps_p1) for r in variant_rows(run, 80)} == {
        "bf16": (100, 8), "int8": (100, 12)}
    rec = recommendation(run, users=80)
    assert rec.winner == "int8"
    assert rec.summary.startswith("Deploy int8 (W8A8): at 100 users (the smallest measured level "
                                  "≥ 80) the slowest 1% get 12.0 tok/s")
    assert rec.reasons["bf16"].startswith("too slow at 100 users (the smallest measured level")
    assert recommendation(run, users=101).reasons["int8"] == "not measured at 101 users or more"


def test_the_ttft_ceiling_binds_capacity_and_the_recommendation(tmp_path: Path) -> None:
    # int8 is faster per user but its first token takes 900 ms at 50 and 100 users.
    levels = {"bf16": {1: (40, 100), 10: (30, 200), 50: (20, 300), 100: (11, 400)},
              "int8": {1: (45, 100), 10: (35, 300), 50: (25, 900), 100: (12, 900)}}
    with speed_run(tmp_path, levels, max_ttft_ms=500) as store:
        run = load_run(store, "r")
    capacity = {r.variant: r.capacity_users for r in variant_rows(run)}
    assert capacity == {"bf16": 100, "int8": 10}
    rec = recommendation(run)
    assert rec.winner == "bf16"
    assert rec.reasons["int8"] == "TTFT p99 900 ms at 100 users exceeds the 500 ms ceiling"


def test_a_decision_resting_on_stalled_levels_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    stored.add_run(store, "r", stored.recipe(users=(4,), target_users=4))
    for i, (name, stalls) in enumerate([("bf16", 0), ("int8", 2)]):
        store.upsert_variant("r", name, "baseline" if i == 0 else "W8A8", i, status="ok")
        store.add_level("r", name, "short", stored.level(4, 100.0, 25.0 + 10 * i, 50.0, stalls=stalls),
                        None)
    with store:
        run = load_run(store, "r")
    assert {r.variant: r.stalls for r in variant_rows(run)} == {"bf16": 0, "int8": 2}
    rec = recommendation(run)
    assert rec.winner == "int8"
    assert rec.lines()[-1] == ("- caution: it rests on levels with stalls, a sign of an unstable "
                               "machine: int8 at 4 users (2 stalls); measure again on a quiet "
                               "machine")


def twins(tmp_path: Path, spread: float) -> StoredRun:
    """The same checkpoint under two names, 3 % apart, each figure ± ``spread``; and an int8
    that loses a third of the answers."""
    store = Store(tmp_path / "s.db")
    stored.add_run(store, "r", stored.recipe(users=(4,), target_users=4))
    for i, (name, p1) in enumerate([("bf16", 25.0), ("bf16-again", 25.75), ("int8", 40.0)]):
        scheme = ("baseline", "baseline", "W8A8")[i]
        store.upsert_variant("r", name, scheme, i, status="ok",
                             build=stored.build(name, scheme, 2e9 if i < 2 else 1e9, 16),
                             eval=stored.evaluation(tmp_path / name, "t", 90 if i < 2 else 60))
        store.add_level("r", name, "short", stored.level(4, 100.0, p1, 50.0, spread=spread), None)
    with store:
        return load_run(store, "r")


def test_twins_tie_in_speed_and_the_tie_is_named(tmp_path: Path) -> None:
    # ±2 % intervals: the ratio 1.03 [1.00, 1.06] lies inside the 10 % margin: equivalent, and
    # the choice goes to the next criteria (accuracy, then memory) with the tie said
    run = twins(tmp_path, 0.02)
    rows = {r.variant: r for r in variant_rows(run)}
    assert rows["bf16-again"].speed_verdict == "equivalent" and rows["int8"].speed_verdict == "faster"
    # 0 of 100 answers differ, yet 100 documents bound the loss only to 3.6 %: not within 1 %
    assert rows["bf16-again"].accuracy_verdict == "inconclusive"
    rec = recommendation(run, max_drop=1)  # int8 loses 33 % accuracy: out
    assert rec.winner == "bf16"
    assert rec.summary.endswith("Tied in speed with bf16-again (within the noise and the margin); "
                                "chosen on accuracy, then memory.")
    assert rec.reasons["bf16-again"] == ("as fast at 4 users within the noise, but no better on "
                                         "accuracy or memory")


def test_an_undecided_speed_is_no_tie_and_says_what_would_decide_it(tmp_path: Path) -> None:
    # ±8 % intervals: 1.03 [0.92, 1.15] reaches past the margin: inconclusive, not a tie
    run = twins(tmp_path, 0.08)
    rows = {r.variant: r for r in variant_rows(run)}
    assert rows["bf16-again"].speed_verdict == "inconclusive"
    rec = recommendation(run, max_drop=1)
    assert rec.winner == "bf16-again"  # the faster point value, provisionally
    assert "Tied" not in rec.summary
    assert rec.summary.endswith("Provisional: against bf16 the speed is not decided yet (see below).")
    assert re.fullmatch(r"cannot tell yet whether it is slower than bf16-again at 4 users "
                        r"\(slowest-1% user tok/s ratio 0\.971 \[\S+, \S+\]\); about \d+ more "
                        r"rounds? \(\d+ trials on freshly started servers\) at 4 users would "
                        r"decide it", rec.reasons["bf16"]), rec.reasons



def test_a_run_stored_before_trials_still_loads(tmp_path: Path) -> None:
    # Its recipe has no trials and 100 requests for 100 users: valid then, as one trial a level.
    old = stored.recipe(users=(1, 100), target_users=100)
    old["workloads"][0].pop("trials")
    old["workloads"][0]["requests"] = 100
    with Store(tmp_path / "s.db") as store:
        stored.add_run(store, "old", old)
        run = load_run(store, "old")
    assert run.recipe.workloads[0].trials == 1 and run.recipe.workloads[0].per_trial(1) == 100


def test_missing_per_sample_files_are_named_not_a_traceback(tmp_path: Path) -> None:
    import shutil

    from qexplore.errors import StoreError

    with run_with(tmp_path, {"bf16": 90, "int4": 88}) as store:
        run = load_run(store, "r")
    shutil.rmtree(tmp_path / "int4" / "samples")
    with pytest.raises(StoreError, match=r"run r: its evaluation's per-sample files are not at "
                       r".*int4/samples/demo_add_mc\.jsonl"):
        variant_rows(run)
