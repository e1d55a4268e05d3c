"""A stored run's variant table and reports against the capacity plan's estimates: % of bound
at every level, vLLM's KV-cache size beside the estimate, and sizes never silently 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qexplore.report.write import write_reports
from qexplore.results.run import load_run
from qexplore.results.store import Store
from qexplore.results.table import variant_rows
from qexplore.testing import stored_runs as stored

pytestmark = pytest.mark.integration
BOUNDS = {1: 100.0, 4: 400.0, 16: 800.0}


def estimate(name: str, weights_gb: float | None) -> dict[str, object]:
    return {"name": name, "scheme": "baseline", "support": "native", "weights_gb": weights_gb,
            "weights_source": "estimate", "weights_gb_estimate": weights_gb,
            "bits_per_weight": 16.0, "kv_bytes_per_token": 2048.0, "kv_cache_tokens": 524_288,
            "max_seqs_at_max_len": 2048, "workloads": [{
                "name": "short", "prompt_tokens": 40, "output_tokens": 24, "max_seqs": 2048,
                "decode_bound_tps": BOUNDS, "bound_kind": {1: "memory", 4: "memory",
                                                           16: "compute"},
                "level_seconds": {1: 1.0, 4: 1.0, 16: 1.0}}]}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A hub baseline whose checkpoint was not on disk (size 0) but estimated, and a variant
    with neither a size nor an estimate; each level measured at half its bound."""
    with Store(tmp_path / "s.db") as store:
        stored.add_run(store, "r", stored.recipe())
        store.upsert_variant("r", "bf16", "baseline", 0, status="ok",
                             build=stored.build("bf16", "baseline", 0, 0.0),
                             estimate=estimate("bf16", 16.06),
                             server={"served_model": "bf16", "kv_cache_tokens": 524_288})
        store.upsert_variant("r", "pre", "prequantized", 1, status="ok",
                             build=stored.build("pre", "prequantized", 0, 0.0))
        for name in ("bf16", "pre"):
            for users, bound in BOUNDS.items():
                store.add_level("r", name, "short", stored.level(users, bound / 2, 5.0, 50.0),
                                None)
    return tmp_path


def test_every_level_reads_as_a_share_of_its_bound(run_dir: Path) -> None:
    with Store(run_dir / "s.db") as store:
        run = load_run(store, "r")
    bf16, pre = variant_rows(run)
    assert (bf16.at_users, bf16.bound_tps, bf16.bound_kind, bf16.pct_of_bound) == (
        16, 800.0, "compute", 50.0)
    assert (bf16.kv_cache_tokens, bf16.kv_cache_tokens_est) == (524_288, 524_288)
    assert (pre.bound_tps, pre.pct_of_bound) == (None, None)  # no estimate: no bound, no 0
    written = write_reports(run, run_dir / "out")
    levels = json.loads(written.paths["json"].read_text())["levels"]
    shares = {(lv["variant"], lv["summary"]["concurrency"]): lv["pct_of_bound"] for lv in levels}
    assert shares == {**{("bf16", u): 50.0 for u in BOUNDS}, **{("pre", u): None for u in BOUNDS}}
    html = written.paths["html"].read_text()
    assert "bf16 bound" in html and "pre bound" not in html


def test_sizes_are_never_silently_zero(run_dir: Path) -> None:
    with Store(run_dir / "s.db") as store:
        run = load_run(store, "r")
    bf16, pre = variant_rows(run)
    assert (bf16.weights_gb, bf16.weights_source) == (16.06, "estimate")
    assert bf16.bits_per_weight == 16.0
    assert pre.weights_gb is None and pre.weights_source.startswith("unknown")
    csv = (write_reports(run, run_dir / "out").paths["csv"]).read_text()
    assert "estimate" in csv and "unknown: checkpoint not on disk" in csv


def test_the_next_plan_reads_the_share_of_bound_the_last_run_reached(run_dir: Path) -> None:
    from qexplore.results.history import share_of_bound

    with Store(run_dir / "s.db") as store:
        assert share_of_bound(store, "demo", "cpu") == (0.5, "r")
        assert share_of_bound(store, "demo", "rtx3090") is None  # another target: no guide
        assert share_of_bound(store, "other", "cpu") is None
