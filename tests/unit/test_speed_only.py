"""Speed-only recipes: a model named by its shape alone, served with random weights — the
recipe's rules, where its names lead, its plan, its build keys, and a run that never shows an
accuracy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qexplore import paths
from qexplore.errors import RecipeError
from qexplore.plan import make_plan
from qexplore.quantize.build import build_inputs, shape_config
from qexplore.recipes import load_recipe, parse_recipe
from qexplore.recipes.schema import Precision
from qexplore.results.pareto import SPEED_ONLY, Constraints, VariantRow, recommend
from qexplore.results.provenance import recipe_hash

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("empty_hub_cache")]
RECIPES = Path(__file__).parents[2] / "recipes"
SHAPE = """
name: shape
model: {{shape: {shape}, weights: random, tokenizer: org/tokenizer}}
target: rtx3090
variants:
  - {{name: fp16, scheme: baseline}}
  - {{name: int8, scheme: W8A8}}
  - {{name: int4, scheme: W4A16}}
workloads: [{{name: short, concurrency: [1, 10], requests: 60, ignore_eos: true}}]
{extra}
"""


def shape_recipe(shape: str = "llama-3.1-8b", extra: str = "") -> str:
    return SHAPE.format(shape=shape, extra=extra)


@pytest.mark.parametrize(("model", "problem"), [
    ("{shape: llama-3.1-8b, tokenizer: t}", "'shape' names an architecture without weights"),
    ("{path: m, shape: llama-3.1-8b, weights: random}", "give 'path' (a model) or 'shape'"),
    ("{weights: random}", "give 'path' (a model) or 'shape'"),
    ("{shape: llama-3.1-8b, weights: random}", "random weights need a tokenizer named"),
    ("{path: org/gated, weights: random}", "random weights need a tokenizer named"),
])
def test_a_shape_is_named_with_random_weights_and_a_tokenizer(model: str, problem: str) -> None:
    with pytest.raises(RecipeError, match=re.escape(problem)):
        parse_recipe(f"name: x\nmodel: {model}\nvariants: [{{name: b, scheme: baseline}}]")


def test_a_speed_only_recipe_refuses_accuracy_and_needs_no_calibration() -> None:
    ok = parse_recipe(shape_recipe())  # W8A8 and W4A16 without calibration data: round-to-nearest
    assert ok.model.speed_only and not any(ok.calibrated(v) for v in ok.variants)
    with pytest.raises(RecipeError) as e:
        parse_recipe(shape_recipe(extra="eval: {tasks: [gsm8k]}").replace("ignore_eos: true",
                                                                          "ignore_eos: false"))
    assert e.value.problems == [
        "eval.tasks: model.weights is random: a speed-only run has no accuracy to measure (its "
        "answers are noise); leave eval.tasks empty",
        "workloads[0].ignore_eos: random weights end answers at random; set ignore_eos: true so "
        "that every request generates its max_tokens"]


def test_a_shape_is_found_by_name_config_file_or_the_demo(tmp_path: Path) -> None:
    assert parse_recipe(shape_recipe()).resolved.model == "meta-llama/Llama-3.1-8B"
    assert parse_recipe(shape_recipe("meta-llama/Llama-3.1-70B")).resolved.model == \
        "meta-llama/Llama-3.1-70B"
    (tmp_path / "my.json").write_text("{}")
    (tmp_path / "r.yaml").write_text(shape_recipe("my.json"))
    assert load_recipe(tmp_path / "r.yaml").resolved.model == str(tmp_path / "my.json")
    demo = parse_recipe("name: d\nmodel: {shape: '@demo', weights: random}\n"
                        "variants: [{name: b, scheme: baseline}]\n"
                        "workloads: [{name: w, ignore_eos: true}]").resolved
    assert demo.model == demo.tokenizer == str(paths.demo_model_dir()) and demo.speed_only


def test_the_plan_of_an_8b_shape_works_offline() -> None:
    plan = make_plan(parse_recipe(shape_recipe()))
    assert not plan.refusals()
    fp16, int8, int4 = plan.variants
    assert int4.variant.scheme == "W4A16" and int4.key is None  # its base is not built yet
    assert fp16.build == "random weights, to build" and int8.build.startswith("to build (")
    # the weights the reference plan counts for Llama 3.1 8B (tests/unit/test_capacity.py)
    weights = {e.name: e.weights_gb for e in plan.estimates}
    assert weights["fp16"] == pytest.approx(16.06, abs=0.01)
    assert weights["int4"] == pytest.approx(5.7, abs=0.05)


def test_random_weights_are_built_by_round_to_nearest(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    r = parse_recipe(shape_recipe())
    inputs = build_inputs(r, r.variants[2], str(model))
    assert inputs["calibration"] is None
    assert inputs["params"] == {"ignore": ["lm_head"], "group_size": 128,
                                "algorithm": "round-to-nearest"}


def test_a_speed_only_recommendation_ranks_on_speed_and_memory() -> None:
    # A tie in speed (equal without intervals) between the baseline, whose recovery would be
    # 100 %, and a smaller variant: on real weights accuracy decides (the baseline), speed only
    # has none, so memory does.
    rows = [VariantRow("fp16", "baseline", weights_gb=16.0, at_users=10, user_tps_p1=30.0,
                       recovery_pct=100.0),
            VariantRow("int4", "W4A16", weights_gb=5.7, at_users=10, user_tps_p1=30.0,
                       recovery_pct=99.0)]
    assert recommend(rows, Constraints(10, 10, 5)).winner == "fp16"
    for r in rows:
        r.recovery_pct, r.accuracy_verdict = None, SPEED_ONLY
    rec = recommend(rows, Constraints(10, 10, 5, speed_only=True))
    assert rec.winner == "int4"
    assert "— speed only: random weights, ranked on speed and memory; accuracy not measured. " \
        "Tied in speed with fp16 (within the noise and the margin); chosen on memory." in \
        rec.summary


def test_a_misspelt_shape_is_told_the_shipped_name() -> None:
    r = parse_recipe(shape_recipe("llama-3.1-8bb"))
    with pytest.raises(RecipeError, match=re.escape("did you mean 'llama-3.1-8b'?")):
        shape_config(r)


def test_recipes_with_real_weights_hash_as_before() -> None:
    # The demo recipe's identity before the model section had 'shape' and 'weights' (computed
    # by the code of 8214eb5), with the fixed budget it had then (one round, every document at
    # once): its stored runs must still resume.
    fixed = load_recipe(RECIPES / "demo-cpu.yaml").model_copy(
        update={"precision": Precision(max_rounds=1, first_docs=None)})
    assert recipe_hash(fixed) == "b03b20717a3b"
    assert recipe_hash(parse_recipe(shape_recipe())) != recipe_hash(
        parse_recipe(shape_recipe().replace("llama-3.1-8b", "llama-3.1-70b")))
