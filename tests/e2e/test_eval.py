"""Evaluate stage on the real server: lm-eval's own numbers, and honest comparisons."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from qexplore.errors import RecipeError
from qexplore.evaluate.results import load_samples, normalize
from qexplore.evaluate.run import (
    EvalJob,
    EvalResult,
    Look,
    TaskSpec,
    check_tasks,
    evaluate,
    merge_looks,
    paired_comparisons,
)
from qexplore.quantize.build import BuildRecord
from qexplore.recipes.resolve import DEMO_TASKS
from qexplore.recipes.schema import Recipe
from qexplore.serve.from_recipe import server_spec
from qexplore.serve.manager import VllmServer

pytestmark = pytest.mark.e2e
TASKS = ["demo_add_mc", "demo_add_gen", "demo_ppl"]
LIMIT = 40  # documents per task (demo_ppl has 50): three evaluations, each under a minute
INCLUDE = str(DEMO_TASKS)


def job(server: VllmServer, model: str, tokenizer: Path) -> EvalJob:
    return EvalJob(server.base_url, model, str(tokenizer),
                   [TaskSpec(t, limit=LIMIT) for t in TASKS], INCLUDE, num_concurrent=8,
                   max_length=256)


@pytest.fixture(scope="module")
def baseline(demo_server: VllmServer, demo_model: Path, tmp_path_factory: pytest.TempPathFactory):
    return evaluate(job(demo_server, "demo", demo_model), tmp_path_factory.mktemp("eval-base"))


def test_qexplore_reports_exactly_what_the_lm_eval_cli_reports(
    baseline, demo_server: VllmServer, demo_model: Path, tmp_path: Path
) -> None:
    j = job(demo_server, "demo", demo_model)
    args = ",".join(f"{k}={v}" for k, v in j.model_args().items())
    cmd = [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args", args,
           "--tasks", ",".join(TASKS), "--include_path", INCLUDE, "--limit", str(LIMIT),
           "--seed", "1234", "--output_path", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    direct = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    assert normalize(direct) == baseline.tasks
    assert set(baseline.tasks) == set(TASKS)
    assert baseline.tasks["demo_add_mc"]["acc"]["value"] > 0.5  # well above 25 % chance
    assert baseline.tasks["demo_add_gen"]["exact_match"]["n"] == LIMIT


def test_a_quantized_variant_against_the_baseline(
    baseline, demo_recipe: Recipe, demo_builds: dict[str, BuildRecord], demo_model: Path,
    tmp_path: Path
) -> None:
    variant = next(v for v in demo_recipe.variants if v.name == "int4-w4a8")
    with VllmServer(server_spec(demo_recipe, variant, demo_builds[variant.name], tmp_path)) as s:
        int4 = evaluate(job(s, variant.name, demo_model), tmp_path / "eval")
    cmp = paired_comparisons(baseline, int4)
    ppl = cmp["demo_ppl"]["byte_perplexity"]
    assert ppl.test == "paired-bootstrap" and ppl.pairs == LIMIT
    assert ppl.variant != ppl.baseline  # INT4 moves perplexity…
    acc = cmp["demo_add_mc"]["acc"]
    assert acc.test == "mcnemar" and acc.pairs == LIMIT
    assert acc.recovery is not None and 0.8 < acc.recovery <= 1.1
    for metrics in cmp.values():
        for c in metrics.values():
            assert c.verdict in {"equivalent", "inconclusive", "better", "worse"} and 0 < c.p_value <= 1


def test_an_offline_hub_task_fails_at_once_naming_the_dataset() -> None:
    started = time.monotonic()
    with pytest.raises(RecipeError) as e:
        check_tasks(["gsm8k"], None)
    assert time.monotonic() - started < 60
    assert e.value.problems == [
        "eval.tasks[0]: task 'gsm8k' needs the dataset 'openai/gsm8k' from the Hugging Face hub; "
        "it is not in the local cache and the hub cannot be reached"]


def test_a_chunked_evaluation_equals_one_of_the_same_documents_at_once(
    demo_server: VllmServer, demo_model: Path, tmp_path: Path
) -> None:
    # 10 documents, then 10 more, of the seeded order, joined: the same 20 documents as one
    # look of 20, scores that are lm-eval's aggregation of the joined documents, and the same
    # answers as at once. Batches differ between the runs, and with them the last bits of a
    # log-likelihood on some CPU kernels: a near-tie may flip one document, perplexity may
    # move in its fourth digit — never more
    def run(look: Look, out: Path) -> EvalResult:
        return evaluate(replace(job(demo_server, "demo", demo_model), look=look), out)

    at_once = run(Look(1, 20), tmp_path / "at-once")
    chunked = tmp_path / "chunked"
    run(Look(1, 10), chunked)
    run(Look(2, 10, {t: (10, 20) for t in TASKS}), chunked)
    joined = merge_looks(chunked, 10)
    for task in TASKS:
        a = load_samples(at_once.samples_dir, task)
        b = load_samples(joined.samples_dir, task)
        assert sorted(a) == sorted(b) and len(a) == 20
        # 40 documents (the limit) in looks of 10, 20, 40
        assert joined.raw["docs"][task] == {"task": task, "total": LIMIT, "done": 20, "looks": 3}
        if task == "demo_ppl":  # exp(Σ −log-likelihood / Σ words) over the joined documents
            ll, words = zip(*(m["word_perplexity"] for m in b.values()), strict=True)
            value = joined.tasks[task]["word_perplexity"]["value"]
            assert value == pytest.approx(math.exp(-sum(ll) / sum(words)), rel=1e-9)
            assert value == pytest.approx(at_once.tasks[task]["word_perplexity"]["value"],
                                          rel=1e-2)
            continue
        (metric,) = joined.tasks[task]
        ours = [m[metric] for m in b.values()]
        assert joined.tasks[task][metric]["value"] == pytest.approx(sum(ours) / len(ours))
        assert sum(a[i] != b[i] for i in a) <= 1, (task, a, b)
