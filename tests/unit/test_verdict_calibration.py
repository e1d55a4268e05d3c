"""The verdicts are calibrated: drawn from known truths (``qexplore/results/simulate.py``) and
measured until decided at the default budget, 400 comparisons each, they make false decisions
at most as often as their level says and find real differences as often as issue 25 asks.
Seeded draws; the thresholds are the statistics' promises (a 5 % error level and the power
each design has by its arithmetic, with room), not this seed's figures."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qexplore.evaluate.stats import chunk_schedule
from qexplore.results.simulate import AccuracyWorld, SpeedWorld, simulate_accuracy, simulate_speed
from qexplore.results.speed import SpeedRule

pytestmark = pytest.mark.unit

RULE = SpeedRule(margin=0.10, session_spread=0.05, looks=3, per_session=3)  # the defaults
RUNS = 400


def test_an_a_a_speed_comparison_rarely_calls_a_difference() -> None:
    for world, rule in ((SpeedWorld(), RULE),
                        (SpeedWorld(1.0, 0.15, 0.25, 0.05), replace(RULE, session_spread=0.25))):
        t = simulate_speed(world, rule, RUNS, seed=1)
        assert t.runs == RUNS
        assert t.share("faster", "slower") <= 0.05, t.line()


def test_a_30_percent_slowdown_reads_slower() -> None:
    t = simulate_speed(SpeedWorld(ratio=0.7), RULE, RUNS, seed=2)
    assert t.share("slower") >= 0.80 and t.verdicts["faster"] == 0, t.line()


def test_an_equal_pair_on_a_quiet_machine_is_mostly_equivalent_and_rounds_help() -> None:
    quiet = replace(RULE, session_spread=0.02)
    world = SpeedWorld(trial_spread=0.02, session_spread=0.02)
    adaptive = simulate_speed(world, quiet, RUNS, seed=3)
    fixed = simulate_speed(world, replace(quiet, looks=1), RUNS, seed=3)
    assert adaptive.share("equivalent") > 0.5, adaptive.line()
    assert adaptive.share("equivalent") > fixed.share("equivalent"), (adaptive.line(),
                                                                      fixed.line())
    assert adaptive.share("faster", "slower") <= 0.05


def test_an_a_a_accuracy_comparison_rarely_calls_a_difference() -> None:
    t = simulate_accuracy(AccuracyWorld(), 0.01, runs=RUNS, seed=4)
    assert t.share("worse", "better") <= 0.05, t.line()


def test_a_drop_of_twice_the_budget_reads_worse_and_stops_early() -> None:
    t = simulate_accuracy(AccuracyWorld(drop=0.02), 0.01, runs=RUNS, seed=5)
    assert t.share("worse") >= 0.80 and t.verdicts["better"] == 0, t.line()
    assert sum(t.spent) / len(t.spent) < 10_000  # decided before the last document, on average


def test_chunks_double_to_the_task_size() -> None:
    assert chunk_schedule(250, 10_000) == [250, 500, 1000, 2000, 4000, 8000, 10_000]
    assert chunk_schedule(250, 100) == [100]
    assert chunk_schedule(100, 200) == [100, 200]
