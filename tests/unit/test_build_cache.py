"""Build keys change exactly when a build's inputs do; unfinished builds never look finished."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

from qexplore.errors import RecipeError
from qexplore.quantize.build import RECORD, cached_record, key_for
from qexplore.quantize.checkpoint import checkpoint_stats
from qexplore.recipes import parse_recipe
from qexplore.recipes.schema import Recipe, Variant

pytestmark = pytest.mark.unit


def write_safetensors(path: Path, shapes: dict[str, list[int]], fill: bytes = b"\0") -> None:
    """A valid safetensors file of bf16 tensors with the given shapes."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        n = 2 * math.prod(shape)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + fill * offset)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "llama"}')
    write_safetensors(d / "model.safetensors", {"a.weight": [4, 8], "b.weight": [8]})
    return d


def recipe(tmp_path: Path, model_dir: Path, extra: str = "", cal_text: str = "x\n") -> Recipe:
    cal = tmp_path / "cal.jsonl"
    if not cal.exists():
        cal.write_text(cal_text)
    text = f"""
name: t
model: {{path: {model_dir}}}
calibration: {{path: {cal}, samples: 8, seq_len: 16}}
variants:
  - {{name: base, scheme: baseline}}
  - {{name: w8, scheme: W8A8{extra}}}
  - {{name: w4, scheme: W4A16{extra}}}
"""
    return parse_recipe(text).with_base_dir(tmp_path)


def keys(r: Recipe, model_dir: Path) -> tuple[str, str]:
    return key_for(r, r.variants[1], str(model_dir)), key_for(r, r.variants[2], str(model_dir))


def test_same_inputs_same_key(tmp_path: Path, model_dir: Path) -> None:
    assert keys(recipe(tmp_path, model_dir), model_dir) == keys(recipe(tmp_path, model_dir), model_dir)


@pytest.mark.parametrize(
    ("extra", "w8_changes", "w4_changes"),
    [
        (", group_size: 64", False, True),          # group size matters to W4A16 only
        (", smoothing_strength: 0.5", True, False),  # smoothing matters to W8A8 only
        (", dampening_frac: 0.05", True, True),
        (", actorder: null", True, True),
        (", ignore: [lm_head, model.layers.0.mlp.down_proj]", True, True),
    ],
)
def test_each_parameter_changes_the_keys_it_matters_to(
    tmp_path: Path, model_dir: Path, extra: str, w8_changes: bool, w4_changes: bool
) -> None:
    w8, w4 = keys(recipe(tmp_path, model_dir), model_dir)
    w8b, w4b = keys(recipe(tmp_path, model_dir, extra), model_dir)
    assert (w8 != w8b, w4 != w4b) == (w8_changes, w4_changes)


def test_calibration_content_changes_the_key(tmp_path: Path, model_dir: Path) -> None:
    before = keys(recipe(tmp_path, model_dir), model_dir)
    (tmp_path / "cal.jsonl").write_text("different calibration text\n")
    after = keys(recipe(tmp_path, model_dir), model_dir)
    assert before[0] != after[0] and before[1] != after[1]


def test_a_variant_the_recipe_does_not_list_is_keyed_like_one_it_does(
        tmp_path: Path, model_dir: Path) -> None:
    # A test, an API caller or `quantize --scheme` may build a variant made on the spot: its
    # calibration file is resolved from the variant itself (this raised a bare KeyError).
    r = recipe(tmp_path, model_dir)
    renamed = r.variants[2].model_copy(update={"name": "int4-elsewhere"})
    assert key_for(r, renamed, str(model_dir)) == keys(r, model_dir)[1]  # the name is no input


def test_a_calibrated_variant_without_data_is_one_line(tmp_path: Path, model_dir: Path) -> None:
    r = parse_recipe(f"name: t\nmodel: {{path: {model_dir}}}\n"
                     "variants: [{name: base, scheme: baseline}]").with_base_dir(tmp_path)
    w8 = Variant(name="w8", scheme="W8A8")
    with pytest.raises(RecipeError, match=r"^variant w8: scheme W8A8 needs calibration data"):
        key_for(r, w8, str(model_dir))


def test_weights_change_the_key(tmp_path: Path, model_dir: Path) -> None:
    before = keys(recipe(tmp_path, model_dir), model_dir)
    write_safetensors(model_dir / "model.safetensors", {"a.weight": [4, 8], "b.weight": [8]}, b"\1")
    assert keys(recipe(tmp_path, model_dir), model_dir)[1] != before[1]


def test_a_folder_without_its_record_is_not_a_finished_build(tmp_path: Path) -> None:
    from qexplore import paths

    folder = paths.build_cache() / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"half a checkpoint")
    assert cached_record("0123456789abcdef") is None
    (folder / RECORD).write_text(json.dumps({
        "variant": "w4", "scheme": "W4A16", "path": str(folder), "key": "0123456789abcdef",
        "cached": False, "size_bytes": 1, "parameters": 1, "bits_per_weight": 8.0}))
    hit = cached_record("0123456789abcdef")
    assert hit is not None and hit.cached


def test_checkpoint_stats_count_base_parameters_and_bits(tmp_path: Path, model_dir: Path) -> None:
    q = tmp_path / "q"
    q.mkdir()
    (q / "model.safetensors").write_bytes(b"\0" * 20)  # 20 bytes for 40 parameters → 4 bits
    stats = checkpoint_stats(str(q), str(model_dir))
    assert stats == {"size_bytes": 20, "served_bytes": 20, "parameters": 40,
                     "bits_per_weight": 4.0}
