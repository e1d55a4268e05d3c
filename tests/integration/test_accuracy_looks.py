"""Measuring accuracy until decided: where each variant's tasks stand after the looks so far,
and which documents the next round evaluates — over planted stored evaluations whose
verdicts follow by arithmetic (comments show it)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qexplore.results.rounds import (
    RoundPlan,
    next_looks,
    round_number,
    round_seconds,
    task_states,
)
from qexplore.results.run import StoredRun, load_run
from qexplore.results.store import Store
from qexplore.testing import stored_runs as stored


def planted(tmp: Path, evals: dict[str, tuple[int, int]], total: int = 1000,
            max_drop: float = 1) -> StoredRun:
    """A stored run whose variants (the first the baseline) each evaluated the task ``t`` in
    chunks: (documents done, of which the first right), of ``total``; 250 documents first,
    doubling (250, 500, 1,000: 3 looks), 0.4 s a document."""
    looks = 3 if total == 1000 else 1
    with Store(tmp / "planted.db") as store:
        stored.add_run(store, "r", stored.recipe(max_drop=max_drop))
        for i, (name, (docs, right)) in enumerate(evals.items()):
            ev = stored.evaluation(tmp / name, "t", right, docs, (total, looks), 0.4 * docs)
            store.upsert_variant("r", name, "baseline" if i == 0 else "W8A8", i, status="ok",
                                 eval=ev)
        return load_run(store, "r")


def test_an_undecided_task_is_evaluated_further_with_the_baseline(tmp_path: Path) -> None:
    # 250 documents each, the baseline right on 200; each look's test at 5 %/3 (3 looks).
    # - worse: right on the first 150 only: 50 lost, none won: McNemar p = 2 × 0.5^50, far
    #   below 0.0167: worse, decided
    # - twin: the same answers: no pair differs; the lost share's upper bound (0 of 250, at
    #   0.0167/2) is 1 − 0.00833^(1/250) = 0.0190, so recovery ≥ (0.8 − 0.019)/0.8 = 97.6 %:
    #   below the 1 % budget's 99 %: inconclusive, measuring; the next look doubles it to 500
    run = planted(tmp_path, {"bf16": (250, 200), "worse": (250, 150), "twin": (250, 200)})
    states = {s.variant: (s.comparison.verdict, s.state) for s in task_states(run)}
    assert states == {"worse": ("worse", "decided"), "twin": ("inconclusive", "measuring")}
    twin = next(s for s in task_states(run) if s.variant == "twin")
    assert twin.comparison.looks == 3 and 0.975 < (twin.comparison.recovery_lo or 0) < 0.977
    plan = RoundPlan({}, next_looks(run, task_states(run)))
    assert plan.docs == {"twin": {"t": (250, 500)}, "bf16": {"t": (250, 500)}}
    assert round_number(run, plan) == 2  # 500 documents: the second look of 250, 500, 1,000
    assert round_seconds(run, plan) == 2 * 250 * 0.4  # no server start recorded


def test_equivalent_within_a_wider_budget_needs_no_more_documents(tmp_path: Path) -> None:
    # as twin above, recovery ≥ 97.6 %: within a 5 % budget (≥ 95 %): equivalent, decided
    run = planted(tmp_path, {"bf16": (250, 200), "twin": (250, 200)}, max_drop=5)
    assert [(s.comparison.verdict, s.state) for s in task_states(run)] == [
        ("equivalent", "decided")]
    assert next_looks(run, task_states(run)) == {}


def test_a_task_out_of_documents_or_left_earlier_is_not_evaluated_further(
        tmp_path: Path) -> None:
    # every document done (250 of 250): inconclusive stays so
    run = planted(tmp_path / "all", {"bf16": (250, 200), "twin": (250, 200)}, total=250)
    assert [s.state for s in task_states(run)] == ["all documents"]
    assert next_looks(run, task_states(run)) == {}
    # the baseline went on to 500 without it: its looks were spent when it was left
    run = planted(tmp_path / "left", {"bf16": (500, 200), "twin": (250, 200)})
    assert [s.state for s in task_states(run)] == ["left earlier"]
    assert next_looks(run, task_states(run)) == {}


def test_an_evaluation_at_once_has_no_looks(tmp_path: Path) -> None:
    with Store(tmp_path / "p.db") as store:
        stored.add_run(store, "r", stored.recipe())
        for i, name in enumerate(("bf16", "twin")):
            store.upsert_variant("r", name, "baseline" if i == 0 else "W8A8", i, status="ok",
                                 eval=stored.evaluation(tmp_path / name, "t", 200, 250))
        run = load_run(store, "r")
    assert task_states(run) == []
    assert run.comparisons["twin"]["t"]["acc"].looks == 1


def test_a_task_decided_by_its_variants_other_tasks_says_so(tmp_path: Path) -> None:
    # twin's verdict over its one task is its own: no note; a variant decided over several
    # tasks names that verdict beside a task that alone is inconclusive
    run = planted(tmp_path, {"bf16": (250, 200), "worse": (250, 150), "twin": (250, 200)})
    lines = {s.variant: s.line() for s in task_states(run)}
    assert lines["worse"].endswith("— decided")
    assert lines["twin"] == ("t twin: inconclusive, recovery ≥ 97.6 % after 250 of 1,000 "
                             "documents — measuring")
    s = next(s for s in task_states(run) if s.variant == "twin")
    assert replace(s, state="decided", family="worse").line().endswith(
        "— decided (the variant: worse over its tasks)")


def test_a_baseline_behind_a_variant_catches_up_one_chunk_alone(tmp_path: Path) -> None:
    # a later round of the baseline failed: it has 250 documents, twin 500 (right on the same
    # first 200 of the 250 they share: inconclusive as above). twin waits; the baseline takes
    # the next chunk of the schedule, 250–500 — the chunk twin took, with its few-shot draws
    run = planted(tmp_path, {"bf16": (250, 200), "twin": (500, 200)})
    assert [s.state for s in task_states(run)] == ["waiting for the baseline"]
    assert next_looks(run, task_states(run)) == {"bf16": {"t": (250, 500)}}


def test_a_task_equivalent_by_itself_names_no_other_verdict(tmp_path: Path) -> None:
    # equivalent within 5 % (as above) while the variant's other tasks are undecided
    run = planted(tmp_path, {"bf16": (250, 200), "twin": (250, 200)}, max_drop=5)
    (s,) = task_states(run)
    assert replace(s, family="inconclusive").line().endswith("documents — decided")
