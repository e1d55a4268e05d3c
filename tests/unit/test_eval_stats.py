from __future__ import annotations

import json
import math
import random

import pytest

from qexplore.evaluate.results import normalize
from qexplore.evaluate.run import EvalResult, paired_comparisons
from qexplore.evaluate.stats import (
    Comparison,
    family_verdict,
    holm,
    mcnemar_p,
    paired_bootstrap_p,
    paired_test,
    recovery,
)

pytestmark = pytest.mark.unit


def test_mcnemar_exact_by_hand() -> None:
    # 5 discordant pairs, all lost by the variant: p = 2 × 0.5^5 = 0.0625
    assert mcnemar_p([True] * 5 + [True] * 10, [False] * 5 + [True] * 10) == pytest.approx(0.0625)
    # 10 discordant, 9 against 1: p = 2 × (C(10,0) + C(10,1)) / 2^10 = 22 / 1024
    base = [True] * 9 + [False] + [True] * 20
    var = [False] * 9 + [True] + [True] * 20
    assert mcnemar_p(base, var) == pytest.approx(22 / 1024)
    assert mcnemar_p([True, False], [True, False]) == 1.0  # no disagreement at all


def test_paired_bootstrap() -> None:
    same = [0.1, 0.5, 0.3, 0.9]
    assert paired_bootstrap_p(same, same) == 1.0
    base = [float(i % 7) for i in range(60)]
    shifted = [x + 1.0 + 0.1 * (i % 3) for i, x in enumerate(base)]  # clearly higher
    assert paired_bootstrap_p(base, shifted, iters=2000) < 0.01
    noisy = [x + (0.5 if i % 2 else -0.5) for i, x in enumerate(base)]  # mean diff 0
    assert paired_bootstrap_p(base, noisy, iters=2000) > 0.5


def test_recovery_follows_the_metrics_direction() -> None:
    assert recovery(0.8, 0.6, higher_is_better=True) == pytest.approx(0.75)
    assert recovery(2.0, 2.5, higher_is_better=False) == pytest.approx(0.8)  # perplexity up: worse
    assert recovery(None, 1.0, True) is None


def test_compare_verdicts() -> None:
    base = {i: 1.0 for i in range(40)}
    worse = {i: (0.0 if i < 12 else 1.0) for i in range(40)}
    c = paired_test("acc", 1.0, 0.7, base, worse, higher_is_better=True, binary=True)
    assert (c.verdict, c.test, c.pairs) == ("worse", "mcnemar", 40)
    assert c.p_value == pytest.approx(2 / 2**12)
    same = paired_test("acc", 1.0, 1.0, base, base, higher_is_better=True, binary=True)
    assert (same.verdict, same.p_value) == ("inconclusive", 1.0)  # no budget: never equivalent


def test_no_flips_on_few_documents_is_not_yet_equivalent() -> None:
    # 0 of n flipped: the lost share's 97.5 % upper bound is 1 - 0.025^(1/n) (~3.7/n, the "rule
    # of three" at 97.5 %): 8.8 % on 40 documents, 0.92 % on 400
    def aa(n: int, budget: float) -> Comparison:
        base = {i: 1.0 for i in range(n)}
        return paired_test("acc", 1.0, 1.0, base, base, True, True, max_drop=budget)

    assert aa(40, 0.02).verdict == "inconclusive"
    assert aa(40, 0.02).recovery_lo == pytest.approx(0.025 ** (1 / 40), rel=1e-6)
    assert aa(40, 0.10).verdict == "equivalent"
    assert aa(400, 0.02).verdict == "equivalent"


def test_a_drop_too_small_for_mcnemar_is_inconclusive_not_same() -> None:
    # 5 of 40 answers lost, none won: McNemar's p = 2 × 0.5^5 = 0.0625, not significant; a
    # 12.5-point drop, six times a 2 % budget, is no equivalence either
    base = {i: 1.0 for i in range(40)}
    lost5 = {i: (0.0 if i < 5 else 1.0) for i in range(40)}
    c = paired_test("acc", 1.0, 0.875, base, lost5, True, True, max_drop=0.02)
    assert c.p_value == pytest.approx(0.0625)
    assert c.verdict == "inconclusive" and c.recovery_lo is not None and c.recovery_lo < 0.875


def test_perplexity_samples_bound_the_recovery_on_the_log_scale() -> None:
    nll = {i: 1.0 + (i % 7) / 10 for i in range(50)}  # per-byte NLL: lower is better
    c = paired_test("byte_perplexity", 2.0, 2.0, nll, nll, False, False, max_drop=0.02,
                    log_scale=True)
    assert (c.verdict, c.recovery_lo) == ("equivalent", 1.0)
    up = {i: v + 0.1 for i, v in nll.items()}  # every document 0.1 nats worse: ppl × e^0.1
    c = paired_test("byte_perplexity", 2.0, 2.21, nll, up, False, False, max_drop=0.02,
                    log_scale=True)
    assert c.verdict == "worse" and c.recovery_lo == pytest.approx(math.exp(-0.1))


def test_normalize_lm_eval_results() -> None:
    raw = {  # the shape lm-eval 0.4.13 returns (abridged from a real run)
        "results": {
            "demo_add_gen": {"alias": "demo_add_gen", "exact_match,strip": 0.97,
                             "exact_match_stderr,strip": 0.0171},
            "demo_ppl": {"word_perplexity,none": 33.8, "word_perplexity_stderr,none": "N/A"},
            "mmlu": {"acc,none": 0.6, "acc_stderr,none": 0.01},  # a group's aggregate
        },
        "n-samples": {"demo_add_gen": {"original": 100, "effective": 100},
                      "demo_ppl": {"original": 50, "effective": 50}},
    }
    assert normalize(raw) == {
        "demo_add_gen": {"exact_match": {"value": 0.97, "stderr": 0.0171, "n": 100,
                                         "filter": "strip"}},
        "demo_ppl": {"word_perplexity": {"value": 33.8, "stderr": None, "n": 50,
                                         "filter": "none"}},
    }


def test_local_tasks_need_no_hub_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qexplore.evaluate.run import local_tasks_only
    from qexplore.recipes.resolve import DEMO_TASKS

    demo = str(DEMO_TASKS)
    assert local_tasks_only(["demo_add_mc", "demo_add_gen", "demo_ppl"], demo)
    assert not local_tasks_only(["demo_add_mc", "gsm8k"], demo)  # gsm8k: lm-eval checks it
    (tmp_path / "hub.yaml").write_text("task: needs_hub\ndataset_path: org/data\n")
    assert not local_tasks_only(["needs_hub"], str(tmp_path))
    assert not local_tasks_only(["demo_add_mc"], None)


def test_mcnemar_holds_for_many_discordant_pairs() -> None:
    # 1,100 discordant pairs, 600 lost vs 500 won. The normal approximation with continuity
    # correction gives z = (100 - 1) / sqrt(1100) = 2.985, two-sided p = 0.0028.
    base = [True] * 600 + [False] * 500
    p = mcnemar_p(base, [not x for x in base])
    assert 0.0024 < p < 0.0033
    even = [True] * 25_000 + [False] * 25_000  # 50,000 pairs split evenly: no evidence at all
    assert mcnemar_p(even, [not x for x in even]) == pytest.approx(1.0)


def test_a_score_that_collapses_to_zero_has_zero_recovery() -> None:
    assert recovery(0.9, 0.0, higher_is_better=True) == 0.0
    assert recovery(0.0, 0.5, higher_is_better=True) is None  # no baseline to compare with


def test_holm_keeps_one_small_p_among_many_from_calling_a_variant_worse() -> None:
    def cmp(p: float, verdict: str) -> Comparison:
        return Comparison("acc", 0.5, 0.4, 0.8, p, verdict, "mcnemar", 100)

    noise = [cmp(0.2 + i / 100, "inconclusive") for i in range(56)]
    assert family_verdict([cmp(0.01, "worse"), *noise]) == "inconclusive"  # 0.01 > 0.05 / 57
    assert family_verdict([cmp(1e-5, "worse"), *noise]) == "worse"  # 1e-5 < 0.05 / 57
    assert family_verdict([cmp(1e-5, "better"), cmp(0.06, "worse")]) == "better"
    assert family_verdict([]) is None
    # equivalent only when every task is (an intersection-union test)
    assert family_verdict([cmp(0.5, "equivalent"), cmp(0.7, "equivalent")]) == "equivalent"
    assert family_verdict([cmp(0.5, "equivalent"), cmp(0.7, "inconclusive")]) == "inconclusive"
    assert holm([0.01, 0.04, 0.03]) == [True, False, False]  # 0.01 ≤ .05/3; 0.03 > .05/2


def test_holm_controls_false_alarms_under_pure_noise() -> None:
    # 64 per-metric tests of identical variants: p-values uniform. Without correction some
    # p < 0.05 in ~96 % of families; Holm keeps family-wise false alarms at ≤ 5 %.
    rng = random.Random(7)
    alarms = sum(any(holm([rng.random() for _ in range(64)])) for _ in range(2000))
    assert alarms / 2000 <= 0.06


def test_each_filter_is_compared_on_its_own_samples(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # lm-eval logs one row per (filter, doc): gsm8k-style strict-match and flexible-extract.
    # The variant loses 30 docs under strict-match only.
    def result(name: str, strict_wrong: int) -> EvalResult:
        rows = [{"doc_id": i, "filter": f, "metrics": {"exact_match": 0.0 if (
            f == "strict-match" and i < strict_wrong) else 1.0}}
            for f in ("strict-match", "flexible-extract") for i in range(100)]
        d = tmp_path / name / "samples"
        d.mkdir(parents=True)
        (d / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        tasks = {"t": {f"exact_match,{f}": {"value": 1 - strict_wrong / 100 if f == "strict-match"
                                            else 1.0, "stderr": None, "n": 100, "filter": f}
                       for f in ("strict-match", "flexible-extract")}}
        return EvalResult(tasks, tmp_path / name / "lm-eval.json", d, {})

    cmp = paired_comparisons(result("base", 0), result("variant", 30), max_drop=0.05)["t"]
    strict, flexible = cmp["exact_match,strict-match"], cmp["exact_match,flexible-extract"]
    assert (strict.verdict, strict.pairs, strict.p_value) == ("worse", 100, pytest.approx(2 / 2**30))
    # 0 of 100 flipped: the recovery's bound 0.025^(1/100) = 0.964 is inside a 5 % budget
    assert (flexible.verdict, flexible.p_value) == ("equivalent", 1.0)
