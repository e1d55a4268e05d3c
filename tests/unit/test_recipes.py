from __future__ import annotations

from pathlib import Path

import pytest

from qexplore import paths
from qexplore.catalog.prompts import BUILTIN_PROMPTS
from qexplore.errors import RecipeError
from qexplore.loadtest.workloads import BUILTIN
from qexplore.recipes import load_recipe, parse_recipe
from qexplore.recipes.load import format_path
from qexplore.recipes.resolve import DEMO_FILES, DEMO_TASKS

pytestmark = pytest.mark.unit
RECIPES = Path(__file__).parents[2] / "recipes"
DEMO = (RECIPES / "demo-cpu.yaml").read_text()


@pytest.mark.parametrize(("name", "int4"), [("demo-cpu.yaml", "W4A8"),
                                           ("llama31-8b-rtx3090.yaml", "W4A16")])
def test_shipped_recipes_are_valid(name: str, int4: str) -> None:
    r = load_recipe(RECIPES / name)
    assert [v.scheme for v in r.variants] == ["baseline", "W8A8", int4]


def test_reference_recipe_matches_the_reference_case() -> None:
    r = load_recipe(RECIPES / "llama31-8b-rtx3090.yaml")
    assert r.model.path == "meta-llama/Llama-3.1-8B-Instruct"
    assert r.workloads[0].concurrency == [1, 10, 50, 100]
    assert {w.prompts for w in r.workloads} == {"short", "long"}
    assert all(w.max_tokens == 100 for w in r.workloads)
    assert [t.name for t in r.eval.tasks] == [
        "gsm8k", "mmlu", "arc_challenge", "hellaswag", "winogrande"]
    assert r.slo.min_user_tps == 10
    w8a8 = r.variants[1]
    assert (w8a8.smoothing_strength, r.variants[2].group_size) == (0.8, 128)


def problems(text: str) -> list[str]:
    with pytest.raises(RecipeError) as e:
        parse_recipe(text)
    return e.value.problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("scheme: W4A8", "scheme: W4A61",
         "variants[2].scheme: unknown scheme 'W4A61' — did you mean 'W4A16'?"),
        ("target: cpu", "target: cpu\ntargte: cpu",
         "targte: unknown field 'targte' — did you mean 'target'?"),
        ("    smoothing_strength: 0.8", "    smoothing_strenght: 0.8",
         "variants[1].smoothing_strenght: unknown field 'smoothing_strenght' — "
         "did you mean 'smoothing_strength'?"),
        ("concurrency: [1, 4, 16]", "concurrency: [1, 0, 16]",
         "workloads[0].concurrency[1]: Input should be greater than 0"),
        ("concurrency: [1, 4, 16]", "concurrency: [1, -4, 16]",
         "workloads[0].concurrency[1]: Input should be greater than 0"),
        ("name: int4-w4a8", "name: bf16", "variants[2].name: duplicate variant name 'bf16'"),
        ("max_tokens: 24", "max_tokens: many",
         "workloads[0].max_tokens: Input should be a valid integer, "
         "unable to parse string as an integer"),
        ("target: cpu", "target: rtx3909", "target: unknown target 'rtx3909' — did you mean 'RTX3090'?"),
        ("requests: 48", "requests: 36",  # 12 a trial, 16 users
         "workloads[0].requests: 12 requests (36 over 3 trials) cannot keep 16 users busy "
         "(workloads[].concurrency); a closed-loop level needs at least as many requests per "
         "trial as users"),
        ("max_tokens: 24", "max_tokens: 256",  # max_model_len 256: no room for the prompt
         "workloads[0].max_tokens: 257 tokens (prompt and output) cannot fit model.max_model_len 256"),
        ("max_num_seqs: 32", "max_num_seqs: 8",
         "workloads[0].concurrency: 16 users > serve.max_num_seqs 8: vLLM queues the rest; set "
         "workloads[0].beyond_max_num_seqs: true to measure that on purpose"),
    ],
)
def test_each_problem_names_its_field_path(old: str, new: str, expected: str) -> None:
    assert old in DEMO
    assert problems(DEMO.replace(old, new, 1)) == [expected]


def test_several_problems_are_all_reported() -> None:
    text = DEMO.replace("scheme: W4A8", "scheme: W4A61").replace("max_tokens: 24", "max_tokens: 0")
    assert len(problems(text)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the recipe is empty"),
        ("# only a comment\n", "the recipe is empty"),
        ("a: [1,\n", "invalid YAML at line 2, column 1: expected the node content"),
        ("- 1\n- 2\n", "a recipe is a mapping of sections, not a list"),
        ("name: x\n", "model: required field is missing"),
    ],
)
def test_malformed_documents(text: str, expected: str) -> None:
    assert problems(text)[0].startswith(expected)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as e:
        load_recipe(tmp_path / "nope.yaml")
    assert e.value.lines() == [f"{tmp_path / 'nope.yaml'}: no such recipe file"]


def test_calibrated_scheme_without_calibration_is_refused() -> None:
    text = DEMO.split("calibration:")[0] + "variants:" + DEMO.split("variants:")[1]
    assert problems(text) == [
        "variants[1].calibration: scheme W8A8 needs calibration data "
        "(set it in the variant or in the top-level 'calibration')",
        "variants[2].calibration: scheme W4A8 needs calibration data "
        "(set it in the variant or in the top-level 'calibration')",
    ]


def test_scheme_names_are_case_insensitive_and_canonicalised() -> None:
    r = parse_recipe(DEMO.replace("scheme: W4A8", "scheme: w4a8"))
    assert r.variants[2].scheme == "W4A8"


def test_tasks_may_be_plain_names() -> None:
    r = parse_recipe(DEMO)
    assert [t.name for t in r.eval.tasks] == ["demo_add_mc", "demo_add_gen", "demo_ppl"]
    assert r.eval.tasks[0].limit is None and r.eval.limit == 40


def test_format_path() -> None:
    assert format_path(("variants", 1, "scheme")) == "variants[1].scheme"
    assert format_path(("workloads", 0, "concurrency", 2)) == "workloads[0].concurrency[2]"
    assert format_path(()) == ""


def test_every_name_is_resolved_once_against_the_recipe_folder(tmp_path: Path) -> None:
    (tmp_path / "models" / "base").mkdir(parents=True)
    (tmp_path / "r.yaml").write_text("""
name: r
model: {path: models/base, tokenizer: org/tokenizer}
calibration: {path: data/cal.jsonl}
variants:
  - {name: bf16, scheme: baseline}
  - {name: int8, scheme: W8A8}
  - {name: theirs, scheme: prequantized, checkpoint: org/model-w4a16}
workloads:
  - {name: a, prompts: short}
  - {name: b, prompts: "@demo/prompts.jsonl"}
  - {name: c, prompts: ../elsewhere.jsonl}
eval: {include_path: tasks, tasks: [t]}
""")
    recipe = load_recipe(tmp_path / "r.yaml")
    r = recipe.resolved
    assert r.model == str(tmp_path / "models" / "base") and not r.demo_model
    assert r.tokenizer == "org/tokenizer"  # not a folder here: a hub id
    cal = recipe.calibration_for(recipe.variants[1])
    assert cal and cal.path and r.file(cal.path) == tmp_path / "data" / "cal.jsonl"
    assert r.checkpoint(recipe.variants[2].checkpoint) == "org/model-w4a16"
    assert [r.prompts(w.prompts) for w in recipe.workloads] == [
        "short", str(DEMO_FILES / "prompts.jsonl"), str(tmp_path / ".." / "elsewhere.jsonl")]
    assert r.include_path == str(tmp_path / "tasks")
    assert r.target_spec == "cpu"


def test_the_demo_model_resolves_to_its_folder_and_its_tasks() -> None:
    r = load_recipe(RECIPES / "demo-cpu.yaml").resolved
    assert r.demo_model and r.model == r.tokenizer == str(paths.demo_model_dir())
    assert r.include_path == str(DEMO_TASKS)
    demo = load_recipe(RECIPES / "demo-cpu.yaml")
    cal = demo.calibration_for(demo.variants[1])
    assert cal and cal.path and r.file(cal.path) == DEMO_FILES / "calibration.jsonl"


def test_every_builtin_prompt_set_is_shipped() -> None:
    assert set(BUILTIN_PROMPTS) == {*BUILTIN, "random"}
    assert all(path.is_file() and path.stat().st_size > 0 for path in BUILTIN.values())


def test_a_copy_with_another_model_is_resolved_again(tmp_path: Path) -> None:
    demo = load_recipe(RECIPES / "demo-cpu.yaml")
    assert demo.resolved.demo_model
    (tmp_path / "m").mkdir()
    copy = demo.model_copy(update={"model": demo.model.model_copy(update={"path": str(tmp_path / "m")})})
    assert not copy.resolved.demo_model and copy.resolved.model == str(tmp_path / "m")


def test_a_checkpoint_is_needed_where_one_is_resolved() -> None:
    with pytest.raises(RecipeError, match="needs 'checkpoint'"):
        load_recipe(RECIPES / "demo-cpu.yaml").resolved.checkpoint(None)


def test_requests_per_user_sizes_each_level_and_its_trials() -> None:
    from qexplore.loadtest.levels import level_plans
    from qexplore.recipes.schema import Workload

    w = Workload(name="w", concurrency=[1, 10, 50], requests_per_user=10, trials=2)
    plans = level_plans(w.concurrency, w.per_trial, trials=range(w.trials))
    assert [(p.concurrency, p.trial, p.requests) for p in plans] == [
        (1, 0, 5), (10, 0, 50), (50, 0, 250), (1, 1, 5), (10, 1, 50), (50, 1, 250)]
    assert [p.warmup for p in plans] == [1, 10, 50, 0, 0, 0]  # before each level's first trial
    few = Workload(name="w", concurrency=[1, 8], requests_per_user=1, trials=2)
    assert few.problems("workloads[0]", None, None) == [
        "workloads[0].requests_per_user: 4 requests (8 over 2 trials) cannot keep 8 users busy "
        "(workloads[].concurrency); a closed-loop level needs at least as many requests per "
        "trial as users"]
