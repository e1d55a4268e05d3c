"""Verdict calibration: how often each speed and accuracy verdict comes out of comparisons
drawn from known truths (``qexplore/results/simulate.py``), measured until decided as a sweep
does, beside a fixed budget of one round or one look at every document.

    .venv/bin/python bench/verdict_calibration.py [--runs 400] [--seed 0]

Targets (issue 25), at the default budget (margin 10 %, 3 trials a round, at most 3 rounds;
accuracy budget 1 %, chunks of documents from 250, doubling, to 10,000):
- A/A: faster/slower/worse/better in at most 5 % of the runs;
- a 30 % slowdown: slower in at least 80 %; an accuracy drop of twice the budget: worse in at
  least 80 %;
- an equal pair on a quiet machine: equivalent in most runs (the share is printed).
The other rows say what the targets do not: this machine's spread, a recipe that understates
its spread, and what measuring until decided saves or buys against a fixed budget.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from qexplore.results.simulate import (
    AccuracyWorld,
    SpeedWorld,
    Tally,
    simulate_accuracy,
    simulate_speed,
)
from qexplore.results.speed import SpeedRule

RULE = SpeedRule(margin=0.10, session_spread=0.05, looks=3, per_session=3)
QUIET = replace(RULE, session_spread=0.02)
BUDGET = 0.01
# (label, truth, rule, target: (verdicts, "≤" or "≥", share) or None)
SPEED = [
    ("A/A, 5 % spreads", SpeedWorld(), RULE, (("faster", "slower"), "≤", 0.05)),
    ("30 % slower", SpeedWorld(ratio=0.7), RULE, (("slower",), "≥", 0.80)),
    ("30 % slower, fixed budget", SpeedWorld(ratio=0.7), replace(RULE, looks=1), None),
    ("A/A, quiet (2 %)", SpeedWorld(trial_spread=0.02, session_spread=0.02), QUIET,
     (("equivalent",), "≥", 0.5)),
    ("A/A, quiet, fixed budget", SpeedWorld(trial_spread=0.02, session_spread=0.02),
     replace(QUIET, looks=1), None),
    ("quiet, truly 5 % slower (inside the margin)", SpeedWorld(0.95, 0.02, 0.02), QUIET,
     None),
    ("A/A, this 2-core machine (trials 15 %, sessions 25 %, 5 % busy)",
     SpeedWorld(1.0, 0.15, 0.25, 0.05), replace(RULE, session_spread=0.25),
     (("faster", "slower"), "≤", 0.05)),
    ("A/A, recipe says 5 %, sessions stray 10 %", SpeedWorld(session_spread=0.10), RULE, None),
]
ACCURACY = [
    ("A/A, 10 % of answers differ", AccuracyWorld(), 250, (("worse", "better"), "≤", 0.05)),
    ("drop of twice the budget", AccuracyWorld(drop=2 * BUDGET), 250, (("worse",), "≥", 0.80)),
    ("drop of twice the budget, one look", AccuracyWorld(drop=2 * BUDGET), 10_000, None),
    ("A/A, 2 % of answers differ", AccuracyWorld(discordant=0.02), 250,
     (("equivalent",), "≥", 0.5)),
    ("A/A, 2 % differ, one look", AccuracyWorld(discordant=0.02), 10_000, None),
]


def verdict(tally: Tally, target: tuple[tuple[str, ...], str, float] | None) -> str:
    if target is None:
        return ""
    names, op, share = target
    got = tally.share(*names)
    ok = got <= share if op == "≤" else got >= share
    return f"  [{'/'.join(names)} {100 * got:.1f} % {op} {100 * share:g} %: " \
           f"{'PASS' if ok else 'FAIL'}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"speed ({a.runs} runs each; rounds spent per comparison):")
    for label, world, rule, target in SPEED:
        t = simulate_speed(world, rule, a.runs, a.seed)
        print(f"  {label} (max {rule.looks} round{'s' * (rule.looks > 1)}): {t.line()}"
              f"{verdict(t, target)}")
    print(f"accuracy ({a.runs} runs each; budget {100 * BUDGET:g} %; documents spent):")
    for label, truth, first, target in ACCURACY:
        t = simulate_accuracy(truth, BUDGET, first, a.runs, a.seed)
        print(f"  {label}: {t.line()}{verdict(t, target)}")


if __name__ == "__main__":
    main()
