"""Build one variant: a cache hit, or llm-compressor in a child process, written atomically.

A finished build is a folder ``<build cache>/<key>/`` holding the checkpoint and, written last,
``qexplore-build.json``. Builds run in ``.tmp-<key>-<pid>/`` and are renamed into place, so an
interrupted build never looks finished.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qexplore import paths
from qexplore.catalog.models import ShapeUnknown, is_hub_id, model_config, shipped_configs
from qexplore.catalog.schemes import SCHEMES
from qexplore.demo.model import ensure_demo_model
from qexplore.environment import core_versions
from qexplore.errors import QuantizeError, RecipeError
from qexplore.guard import run_logged
from qexplore.lock import lease, still_held
from qexplore.quantize.cache import digest, file_digest, model_digest
from qexplore.quantize.checkpoint import checkpoint_stats
from qexplore.quantize.worker import hub_offline, sampler
from qexplore.recipes.model import Calibration
from qexplore.recipes.schema import Recipe, Variant
from qexplore.registry import suggest

RECORD = "qexplore-build.json"
OnLine = Callable[[str], None]


@dataclass
class BuildRecord:
    """What a variant is served from, and the facts of its build."""

    variant: str
    scheme: str
    path: str
    key: str | None
    cached: bool
    size_bytes: int  # on disk
    parameters: int
    bits_per_weight: float  # as served
    build_seconds: float | None = None
    peak_rss_gb: float | None = None
    peak_gpu_gb: float | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    served_bytes: int | None = None  # weights once loaded by the server (None: as on disk)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_inputs(recipe: Recipe, variant: Variant, base: str) -> dict[str, Any]:
    """Everything that decides a build's output (the key is its digest)."""
    scheme, calibrated = SCHEMES.get(variant.scheme), recipe.calibrated(variant)
    params: dict[str, Any] = {"ignore": sorted(variant.ignore)}
    if scheme.grouped and scheme.calibrated:  # GPTQ or, on random weights, round-to-nearest
        params["group_size"] = variant.group_size
    if calibrated:
        params |= {"dampening_frac": variant.dampening_frac, "actorder": variant.actorder}
        if variant.scheme == "W8A8":
            params["smoothing_strength"] = variant.smoothing_strength
    elif scheme.calibrated:  # random weights: the scheme built data-free
        params["algorithm"] = "round-to-nearest"
    versions = core_versions()
    return {
        "model": model_digest(base),
        "scheme": variant.scheme,
        "params": params,
        "calibration": _calibration_inputs(recipe, variant) if calibrated else None,
        "llmcompressor": versions["llmcompressor"],
        "compressed-tensors": versions["compressed-tensors"],
    }


def _calibration(recipe: Recipe, variant: Variant) -> Calibration:
    """The calibration data of a calibrated variant (the schema checks the recipe's own
    variants; one it does not list is checked here)."""
    cal, problem = recipe.calibration_for(variant), recipe.calibration_problem(variant)
    if cal is None or problem:
        raise RecipeError(f"variant {variant.name}: {problem or 'no calibration data'}")
    return cal


def _calibration_inputs(recipe: Recipe, variant: Variant) -> dict[str, Any]:
    cal = _calibration(recipe, variant)
    data = cal.model_dump()
    if cal.path:
        data["path"] = file_digest(recipe.resolved.file(cal.path))
    else:  # how the hub dataset's rows are picked decides which rows they are
        data["sampler"] = sampler(hub_offline())
    return data


def key_for(recipe: Recipe, variant: Variant, base: str) -> str:
    return digest(build_inputs(recipe, variant, base))


def cached_record(key: str) -> BuildRecord | None:
    """The record of a finished build with this key, if there is one."""
    try:
        data = json.loads((paths.build_cache() / key / RECORD).read_text())
        return BuildRecord(**{**data, "cached": True})
    except (OSError, json.JSONDecodeError, TypeError):
        return None


def build_variant(
    recipe: Recipe, variant: Variant, force: bool = False, on_line: OnLine | None = None
) -> BuildRecord:
    """The checkpoint a variant is served from: original weights, a cache hit, or a new build."""
    base = base_model(recipe, on_line, force)
    if variant.scheme == "baseline":
        return _unbuilt_record(variant, base, base)
    if variant.scheme == "prequantized":
        return _unbuilt_record(variant, recipe.resolved.checkpoint(variant.checkpoint), base)
    job = functools.partial(_job, recipe, variant, base)
    return _cached_or_built(key_for(recipe, variant, base), job, variant.name, variant.scheme,
                            base, force, on_line)


def _cached_or_built(key: str, job: Callable[[Path], dict[str, Any]], name: str, scheme: str,
                     base: str | None, force: bool, on_line: OnLine | None) -> BuildRecord:
    """The build with ``key`` from the cache, or made now from ``job(its folder)``: one build
    per key at a time across every machine sharing the cache; the others then hit."""
    cache = paths.build_cache()
    cache.mkdir(parents=True, exist_ok=True)

    def waiting(holder: str) -> None:
        if on_line:
            on_line(f"waiting for the same build by {holder}")

    held = cache / f"{key}.lease"
    with lease(held, on_wait=waiting):
        hit = None if force else cached_record(key)
        if hit:
            return hit
        return _build(job, name, scheme, base, key, held, on_line)


def base_model(recipe: Recipe, on_line: OnLine | None = None, force: bool = False) -> str:
    """The base model's folder (or hub id): the demo model is built on first use; a speed-only
    recipe's base is random weights of its shape, built once (see :func:`random_base`;
    ``force`` builds them again)."""
    r = recipe.resolved
    if r.demo_model:
        ensure_demo_model(on_line=on_line)
    return random_base(recipe, force, on_line).path if r.speed_only else r.model


RANDOM = "random"  # the scheme a random-weight base's build record names


def random_base(recipe: Recipe, force: bool = False, on_line: OnLine | None = None
                ) -> BuildRecord:
    """Random weights of the recipe's shape (its config; the recipe's tokenizer and dtype),
    built in a child process — on the GPU where there is one — and cached like any build."""
    key, job = _random_job(recipe)
    return _cached_or_built(key, job, "base", RANDOM, None, force, on_line)


def cached_random_base(recipe: Recipe) -> BuildRecord | None:
    """The recipe's random-weight base if it is built already (what ``plan`` shows)."""
    return cached_record(_random_job(recipe)[0])


def shape_config(recipe: Recipe) -> dict[str, Any]:
    """The config.json of the recipe's model or shape (a RecipeError says why there is none;
    for a shape that is no file, no hub id and no shipped name, which shipped name it meant)."""
    try:
        return model_config(recipe.resolved.model)
    except ShapeUnknown as e:
        shape = recipe.model.shape
        if shape is None or is_hub_id(shape) or "/" in shape or shape.endswith(".json"):
            raise RecipeError(f"model: {e}") from None
        names = sorted({k.rpartition("/")[2].lower() for k in shipped_configs()})
        raise RecipeError(f"model.shape: '{shape}' is no config.json, hub id or shape qexplore "
                          f"ships{suggest(shape, names)}") from None


def _random_job(recipe: Recipe) -> tuple[str, Callable[[Path], dict[str, Any]]]:
    """The random base's build key and its job (the shape's config, tokenizer, dtype, seed)."""
    r, config = recipe.resolved, shape_config(recipe)
    inputs = {"random": config, "tokenizer": tokenizer_digest(r.tokenizer),
              "dtype": recipe.model.dtype, "seed": 0,
              "transformers": core_versions()["transformers"]}

    def job(out: Path) -> dict[str, Any]:
        return {"kind": RANDOM, "config": config, "tokenizer": r.tokenizer,
                "dtype": recipe.model.dtype, "seed": 0, "out": str(out)}

    return digest(inputs), job


def _unbuilt_record(variant: Variant, location: str, base: str) -> BuildRecord:
    stats = checkpoint_stats(location, base)
    return BuildRecord(variant.name, variant.scheme, location, None, True, **stats)


def _build(job: Callable[[Path], dict[str, Any]], name: str, scheme: str, base: str | None,
           key: str, held: Path, on_line: OnLine | None) -> BuildRecord:
    """Run the worker on ``job`` in a scratch folder; publish it as ``key`` (``base``: the model
    it was built from, whose parameters it counts; None: itself)."""
    final = paths.build_cache() / key
    tmp = paths.build_cache() / f".tmp-{key}-{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    job_file = tmp.parent / f".job{tmp.name}.json"  # this builder's own, like its folder
    job_file.write_text(json.dumps(job(tmp)))
    try:
        _run_worker(job_file, tmp / "build.log", on_line)
    finally:
        job_file.unlink(missing_ok=True)
    facts = json.loads((tmp / "build-facts.json").read_text())
    record = BuildRecord(
        name, scheme, str(final), key, False,
        **checkpoint_stats(str(tmp), base or str(tmp)), **facts, versions=_versions(),
    )
    (tmp / RECORD).write_text(json.dumps(record.as_dict(), indent=2))
    other = None if still_held(held) else cached_record(key)
    if other is not None:  # our lease went stale and another machine's build finished: it wins
        shutil.rmtree(tmp, ignore_errors=True)
        return other
    paths.publish(tmp, final)
    return record


def tokenizer_digest(tokenizer: str) -> str:
    """What decides a tokenizer: its files' contents where it is a folder, else its hub id."""
    folder = Path(tokenizer)
    if not folder.is_dir():
        return tokenizer
    files = [f for pat in TOKENIZER_FILES for f in sorted(folder.glob(pat))]
    return digest({f.name: file_digest(f) for f in files})


TOKENIZER_FILES = ("tokenizer*", "special_tokens_map.json", "*.jinja", "vocab*", "merges.txt",
                   "*.model", "*.tiktoken")


def _job(recipe: Recipe, variant: Variant, base: str, out: Path) -> dict[str, Any]:
    calibration, calibrated = None, recipe.calibrated(variant)
    if calibrated:
        cal = _calibration(recipe, variant)
        calibration = cal.model_dump()
        if cal.path:
            calibration["path"] = str(recipe.resolved.file(cal.path))
        else:
            calibration["sampler"] = sampler(hub_offline())
    return {
        "model": base, "scheme": variant.scheme, "calibrated": calibrated,
        "group_size": variant.group_size, "ignore": variant.ignore,
        "dampening_frac": variant.dampening_frac, "actorder": variant.actorder,
        "smoothing_strength": variant.smoothing_strength, "calibration": calibration,
        "out": str(out),
    }


def _run_worker(job: Path, log_path: Path, on_line: OnLine | None) -> None:
    cmd = [sys.executable, "-u", "-m", "qexplore.quantize.worker", str(job)]
    code, tail = run_logged(cmd, log_path, "[build]", on_line)
    if code != 0:
        last = next((t for t in reversed(tail) if t.strip()), "no output")
        raise QuantizeError(f"the build failed (exit {code}): {last}\n" + "\n".join(tail))


def _versions() -> dict[str, str | None]:
    v = core_versions()
    return {k: v[k] for k in ("llmcompressor", "compressed-tensors", "torch", "transformers")}

