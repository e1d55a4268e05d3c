from __future__ import annotations

import pytest

from qexplore.evaluate.results import normalize
from qexplore.evaluate.stats import mcnemar_p, paired_bootstrap_p, paired_test, recovery

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
    assert (same.verdict, same.p_value) == ("same", 1.0)


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
