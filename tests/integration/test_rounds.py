"""Measuring until decided (fake vLLM, real sweep): a level whose speed comparison is
inconclusive after a round is measured again on freshly started servers, the baseline's and
the undecided variant's, until decided; one that cannot be decided in time is left.

The figures follow by arithmetic from the fake's token gaps and the recipe's session spread,
not from measured noise: ``slow`` streams at a third of the baseline's pace (ratio ≈ 0.33-0.40
with the client's overhead), ``twin`` at the same pace. With a 40 % session spread and three
planned looks (z = 2.394), one session a side gives a half-width of at least 2.394 × √(2 ×
ln(1.4)²) = 1.139 on the log ratio: ``slow`` cannot be called slower (ln(1/0.33) = 1.11); two
sessions give 0.805, which it can. ``twin`` could only be called equivalent inside ±10 %, which
no three rounds reach at that spread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qexplore.results.rounds import level_states
from qexplore.results.run import load_run
from qexplore.results.store import Store
from qexplore.testing.models import tiny_model

pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
RECIPE = """
name: rounds
model: {{path: {model}}}
variants:
  - {{name: base, scheme: baseline, serve_args: [--fake-itl-s, "0.01"]}}
  - {{name: slow, scheme: baseline, serve_args: [--fake-itl-s, "0.03"]}}
  - {{name: twin, scheme: baseline, serve_args: [--fake-itl-s, "0.01"]}}
workloads:
  - {{name: short, prompts: short, max_tokens: 8, concurrency: [2], requests: 12, warmup: 0,
      trials: 3}}
eval: {{tasks: []}}
slo: {{min_user_tps: 1, session_spread_pct: 40}}
precision: {{max_rounds: 3{budget}}}
"""


def sweep(tmp: Path, budget: str = "") -> subprocess.CompletedProcess[str]:
    if not (tmp / "r.yaml").exists():
        model = tiny_model(tmp / "model")
        (tmp / "r.yaml").write_text(RECIPE.format(model=model, budget=budget))
    return subprocess.run([*QEXPLORE, "sweep", str(tmp / "r.yaml"), "--output", str(tmp / "out")],
                          capture_output=True, text=True, timeout=300, cwd=tmp,
                          env={**os.environ, "QEXPLORE_STORE": str(tmp / "s.db")})


def trials(tmp: Path) -> dict[str, int]:
    with Store(tmp / "s.db") as store:
        run_id = store.runs()[0]["run_id"]
        return {v: len(store.trials(run_id, v)) for v in ("base", "slow", "twin")}


def test_an_undecided_level_is_measured_again_until_decided(
        fake_vllm: Callable[..., None], tmp_path: Path) -> None:
    fake_vllm()
    done = sweep(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "round 2 of at most 3" in done.stdout, done.stdout
    # slow: decided in round 2; twin: left after round 1 (it cannot be decided in time); the
    # baseline measured in each round a variant needed
    assert trials(tmp_path) == {"base": 6, "slow": 6, "twin": 3}
    with Store(tmp_path / "s.db") as store:
        run = load_run(store, store.runs()[0]["run_id"])
    states = {s.variant: (s.comparison.verdict, s.state, s.rounds) for s in level_states(run)}
    # twin could not be decided in time after round 1; once the baseline went on without it,
    # it is "left earlier" (never taken up again)
    assert states == {"slow": ("slower", "decided", 2),
                      "twin": ("inconclusive", "left earlier", 1)}
    assert "cannot decide in time" in done.stdout  # what round 2's heading said of twin
    assert "speed and accuracy decided or stopped" in done.stdout
    again = sweep(tmp_path)  # resumed: everything recorded, nothing left to decide
    assert again.returncode == 0 and "round 2" not in again.stdout, again.stdout
    assert trials(tmp_path) == {"base": 6, "slow": 6, "twin": 3}


def test_a_later_round_that_fails_keeps_what_the_first_measured(
        fake_vllm: Callable[..., None], tmp_path: Path) -> None:
    # servers start base, slow, twin, then round 2's base and slow: the fifth crashes
    fake_vllm(broken_start=f"5:{tmp_path / 'starts'}")
    done = sweep(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr  # partial: a server crashed
    assert "its later round failed" in done.stdout, done.stdout
    assert trials(tmp_path) == {"base": 6, "slow": 3, "twin": 3}
    with Store(tmp_path / "s.db") as store:
        run = load_run(store, store.runs()[0]["run_id"])
    slow = run.variant("slow")
    assert slow is not None and slow.status == "ok"
    assert (slow.error or "").startswith("a later round failed")
    assert [s.concurrency for s in run.closed_loop("slow")] == [2]  # round 1's level stands


def test_no_round_starts_past_the_time_budget(fake_vllm: Callable[..., None],
                                              tmp_path: Path) -> None:
    fake_vllm()
    done = sweep(tmp_path, ", time_budget_min: 0.01")  # 0.6 s: spent by the first round
    assert done.returncode == 0, done.stdout + done.stderr
    assert "time budget of 0.01 min: no new round" in done.stdout, done.stdout
    assert trials(tmp_path) == {"base": 3, "slow": 3, "twin": 3}


def planted(tmp: Path, levels: dict[str, tuple[float, int]], spread_pct: float = 5,
            max_rounds: int = 3) -> Store:
    """A stored run at 16 users: per variant (the first the baseline) its slowest-1 % user
    tok/s and trials, each with a ±2 % interval."""
    from qexplore.testing import stored_runs as stored

    store = Store(tmp / "planted.db")
    stored.add_run(store, "r", stored.recipe(users=(16,), session_spread_pct=spread_pct,
                                             max_rounds=max_rounds))
    for i, (name, (p1, n)) in enumerate(levels.items()):
        store.upsert_variant("r", name, "baseline" if i == 0 else "W8A8", i, status="ok",
                             build=stored.build(name, "x", 1e9, 16))
        store.add_level("r", name, "short", stored.level(16, 16 * p1, p1, 100.0, spread=0.02,
                                                         trials=n), None)
    return store


def test_the_next_round_measures_the_undecided_and_the_baseline(tmp_path: Path) -> None:
    from qexplore.results.rounds import next_round

    # 5 % session spread, 3 looks (z 2.394), 3 trials a round, ±2 % intervals (log-se 0.0102):
    # one round a side gives a half-width of 2.394 × √(2 × 0.0102² + 2 × 0.0488²) = 0.169
    # - half: 30 % slower, ln(1/0.7) = 0.357 > 0.169: decided
    # - near: 8 % slower: neither beyond 1 (0.083 < 0.169) nor inside the margin; equivalence
    #   needs the room to 0.9, ln(0.92/0.9) = 0.022, which no two rounds give: cannot decide
    #   in time
    # - edge: 13 % slower, ln(1/0.87) = 0.139 < 0.169: inconclusive; one more round a side:
    #   2.394 × √(0.0102² + 0.0488²) = 0.119 < 0.139: measuring; the next round brings it and
    #   the baseline to 6 trials
    with planted(tmp_path, {"bf16": (10.0, 3), "half": (7.0, 3), "near": (9.2, 3),
                            "edge": (8.7, 3)}) as store:
        run = load_run(store, "r")
    states = {s.variant: (s.comparison.verdict, s.state) for s in level_states(run)}
    assert states == {"half": ("slower", "decided"),
                      "near": ("inconclusive", "cannot decide in time"),
                      "edge": ("inconclusive", "measuring")}
    assert next_round(run, level_states(run)) == {"edge": {("short", 16): 6},
                                                  "bf16": {("short", 16): 6}}


def test_a_round_cut_short_is_completed_and_a_variant_left_stays_left(tmp_path: Path) -> None:
    from qexplore.results.rounds import next_round

    # 12 % session spread, 22 % slower (room ln(1/0.78) = 0.248). After a round cut short
    # (edge at 4 trials, 2 sessions; the baseline at 6): half-width 2.394 × √(2 × 0.0102² +
    # ln(1.12)² × (1/2 + 1/2)) = 0.274: inconclusive; a third session a side brings it to
    # 2.394 × √(2 × 0.0102² × 4/7 / 2 + ln(1.12)² × 2/3) = 0.223: measuring, and the next
    # round completes edge's round and brings the baseline to its third
    with planted(tmp_path, {"bf16": (10.0, 6), "edge": (7.8, 4)}, spread_pct=12) as store:
        run = load_run(store, "r")
    (state,) = level_states(run)
    assert (state.comparison.verdict, state.rounds, state.state) == ("inconclusive", 2,
                                                                     "measuring")
    assert next_round(run, [state]) == {"edge": {("short", 16): 6}, "bf16": {("short", 16): 9}}
    # a variant the baseline went on without (1 round against its 2) is not taken up again:
    # its looks were spent when it was left
    with planted(tmp_path / "left", {"bf16": (10.0, 6), "edge": (7.8, 3)},
                 spread_pct=12) as store:
        run = load_run(store, "r")
    assert [s.state for s in level_states(run)] == ["left earlier"]
    assert next_round(run, level_states(run)) == {}
    # one round allowed: a fixed budget never measures again (10 % slower, half-width 1.96 ×
    # 0.0705 = 0.138 > ln(1/0.9) = 0.105: inconclusive, and left so)
    with planted(tmp_path / "fixed", {"bf16": (10.0, 3), "edge": (9.0, 3)},
                 spread_pct=5, max_rounds=1) as store:
        run = load_run(store, "r")
    assert [s.state for s in level_states(run)] == ["at the maximum"]
    assert next_round(run, level_states(run)) == {}
