"""Build one variant: a cache hit, or llm-compressor in a child process, written atomically.

A finished build is a folder ``<build cache>/<key>/`` holding the checkpoint and, written last,
``qexplore-build.json``. Builds run in ``.tmp-<key>-<pid>/`` and are renamed into place, so an
interrupted build never looks finished.
"""

from __future__ import annotations

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
from qexplore.catalog.schemes import SCHEMES
from qexplore.demo.model import ensure_demo_model
from qexplore.environment import core_versions
from qexplore.errors import QuantizeError, RecipeError
from qexplore.guard import run_logged
from qexplore.lock import lease, still_held
from qexplore.quantize.cache import digest, file_digest, model_digest
from qexplore.quantize.checkpoint import checkpoint_stats
from qexplore.quantize.worker import hub_offline, sampler
from qexplore.recipes.schema import Calibration, Recipe, Variant

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
    scheme = SCHEMES.get(variant.scheme)
    params: dict[str, Any] = {"ignore": sorted(variant.ignore)}
    if scheme.calibrated:
        params |= {"dampening_frac": variant.dampening_frac, "actorder": variant.actorder}
        if scheme.grouped:
            params["group_size"] = variant.group_size
        if variant.scheme == "W8A8":
            params["smoothing_strength"] = variant.smoothing_strength
    versions = core_versions()
    return {
        "model": model_digest(base),
        "scheme": variant.scheme,
        "params": params,
        "calibration": _calibration_inputs(recipe, variant) if scheme.calibrated else None,
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
    base = base_model(recipe, on_line)
    if variant.scheme == "baseline":
        return _unbuilt_record(variant, base, base)
    if variant.scheme == "prequantized":
        return _unbuilt_record(variant, recipe.resolved.checkpoint(variant.checkpoint), base)
    key = key_for(recipe, variant, base)
    cache = paths.build_cache()
    cache.mkdir(parents=True, exist_ok=True)

    def waiting(holder: str) -> None:
        if on_line:
            on_line(f"waiting for the same build by {holder}")

    # One build per key at a time, across every machine sharing the cache; the others then hit.
    held = cache / f"{key}.lease"
    with lease(held, on_wait=waiting):
        hit = None if force else cached_record(key)
        if hit:
            return hit
        return _build(recipe, variant, base, key, held, on_line)


def base_model(recipe: Recipe, on_line: OnLine | None = None) -> str:
    """The base model's folder (or hub id); the demo model is built on first use."""
    if recipe.resolved.demo_model:
        return str(ensure_demo_model(on_line=on_line))
    return recipe.resolved.model


def _unbuilt_record(variant: Variant, location: str, base: str) -> BuildRecord:
    stats = checkpoint_stats(location, base)
    return BuildRecord(variant.name, variant.scheme, location, None, True, **stats)


def _build(recipe: Recipe, variant: Variant, base: str, key: str, held: Path,
           on_line: OnLine | None) -> BuildRecord:
    final = paths.build_cache() / key
    tmp = paths.build_cache() / f".tmp-{key}-{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    job_file = tmp.parent / f".job{tmp.name}.json"  # this builder's own, like its folder
    job_file.write_text(json.dumps(_job(recipe, variant, base, tmp)))
    try:
        _run_worker(job_file, tmp / "build.log", on_line)
    finally:
        job_file.unlink(missing_ok=True)
    facts = json.loads((tmp / "build-facts.json").read_text())
    record = BuildRecord(
        variant.name, variant.scheme, str(final), key, False,
        **checkpoint_stats(str(tmp), base), **facts, versions=_versions(),
    )
    (tmp / RECORD).write_text(json.dumps(record.as_dict(), indent=2))
    other = None if still_held(held) else cached_record(key)
    if other is not None:  # our lease went stale and another machine's build finished: it wins
        shutil.rmtree(tmp, ignore_errors=True)
        return other
    paths.publish(tmp, final)
    return record


def _job(recipe: Recipe, variant: Variant, base: str, out: Path) -> dict[str, Any]:
    scheme = SCHEMES.get(variant.scheme)
    calibration = None
    if scheme.calibrated:
        cal = _calibration(recipe, variant)
        calibration = cal.model_dump()
        if cal.path:
            calibration["path"] = str(recipe.resolved.file(cal.path))
        else:
            calibration["sampler"] = sampler(hub_offline())
    return {
        "model": base, "scheme": variant.scheme, "calibrated": scheme.calibrated,
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

