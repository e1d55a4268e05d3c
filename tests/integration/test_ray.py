"""Sweeps on a real local Ray cluster (a head and a second node, both on 127.0.0.1, started and
stopped here) with the fake vLLM server: variants run in parallel, one at a time per node; a
node lost mid-level fails only its variant, and a re-run measures only what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qexplore.results.run import load_run
from qexplore.results.store import Store
from qexplore.testing.models import tiny_model

pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
FORWARD = ["QEXPLORE_VLLM", "QEXPLORE_FAKE_PYTHON", "QEXPLORE_STOP_GRACE_S", "FAKE_ITL_S"]
# Ray resolves 127.0.0.1 in a cluster address to this machine's outward IP, where a cluster
# bound to loopback does not listen; with this, its clients stay on 127.0.0.1.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
RECIPE = """
name: on-ray
model: {{path: {model}}}
variants: [{variants}]
workloads:
  - {{name: short, prompts: short, max_tokens: 8, concurrency: {levels}, requests: {requests},
      warmup: 0, trials: 2}}
eval: {{tasks: []}}
slo: {{min_user_tps: 1}}
precision: {{max_rounds: 1}}  # a fixed budget: rounds are tests/integration/test_rounds.py's
executor: {{kind: ray, env: {forward}}}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two Ray nodes on this machine, one CPU each: each measures one variant at a time."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    try:
        c.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        c.wait_for_nodes()
        yield c
    finally:
        c.shutdown()  # every Ray process started here


def write_recipe(tmp: Path, variants: list[str], levels: list[int], requests: int) -> Path:
    names = ", ".join(f"{{name: {v}, scheme: baseline}}" for v in variants)
    model = tmp / "model"
    if not model.exists():
        tiny_model(model)
    path = tmp / "r.yaml"
    path.write_text(RECIPE.format(model=model, variants=names, levels=levels, requests=requests,
                                  forward=FORWARD))
    return path


def sweep(tmp: Path, address: str, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*QEXPLORE, "sweep", str(tmp / "r.yaml"), "--output",
                             str(tmp / "out"), "--ray", address, *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp,
                            env={**os.environ, **LOOPBACK, "QEXPLORE_STORE": str(tmp / "s.db"),
                                 "COLUMNS": "200"})


def finished(p: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str]:
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise
    return p.returncode, out


def stored(tmp: Path) -> tuple[Any, list[dict[str, Any]]]:
    with Store(tmp / "s.db") as store:
        run_id = store.runs()[0]["run_id"]
        trials = [t for v in "abcd" for t in store.trials(run_id, v)]
        return load_run(store, run_id), trials


def test_four_variants_on_two_nodes_run_two_at_a_time(
        cluster: Any, fake_vllm: Callable[..., None], tmp_path: Path) -> None:
    fake_vllm(itl_s=0.05)  # 8 tokens × 50 ms per request: each variant takes some seconds
    write_recipe(tmp_path, ["a", "b", "c", "d"], [1, 2], 8)
    code, out = finished(sweep(tmp_path, cluster.address, "--dry-run"))
    assert code == 0, out
    assert "placement on the Ray cluster" in out
    table = out.split("placement on the Ray cluster")[1].splitlines()
    rows = [line.split() for line in table if line.split()[:1] in (["a"], ["b"], ["c"], ["d"])]
    assert sorted(r[0] for r in rows) == ["a", "b", "c", "d"], out
    assert all("(127.0.0.1," in " ".join(r) for r in rows), out
    order = Counter((r[3].strip(",)"), " ".join(r[4:])) for r in rows)  # (node id, order)
    assert sorted(order.values()) == [1, 1, 1, 1] and sorted(k for _, k in order) == [
        "after 1", "after 1", "first", "first"], out  # two per node, one queued behind one

    started = time.monotonic()
    code, out = finished(sweep(tmp_path, cluster.address))
    took = time.monotonic() - started
    assert code == 0, out
    assert "where each variant ran" in out, out
    run, trials = stored(tmp_path)
    assert {v.name: v.status for v in run.variants} == dict.fromkeys("abcd", "ok")
    # every level once, pooled from its 2 trials, each trial recorded once
    assert Counter((lv.variant, lv.summary.concurrency) for lv in run.levels) == {
        (v, u): 1 for v in "abcd" for u in (1, 2)}
    assert Counter((t["variant"], t["concurrency"], t["trial"]) for t in trials) == {
        (v, u, k): 1 for v in "abcd" for u in (1, 2) for k in range(2)}
    assert all(t["status"] == "ok" for t in trials)
    done = Counter()
    for t in trials:
        done[(t["variant"], t["concurrency"])] += t["summary"]["completed"]
    assert all(lv.summary.failed == 0 and lv.summary.completed == done[(lv.variant,
               lv.summary.concurrency)] >= 8 for lv in run.levels)  # pooled from what was stored
    # two per node, one at a time on each, and the two nodes at work at the same time
    nodes = {v.name: v.node or {} for v in run.variants}
    assert all(n["executor"] == "ray" and n["address"] == "127.0.0.1" for n in nodes.values())
    per_node = Counter(n["node_id"] for n in nodes.values())
    assert sorted(per_node.values()) == [2, 2], nodes
    spans = {v: (n["started"], n["ended"]) for v, n in nodes.items()}
    for node in per_node:
        first, second = sorted(s for v, s in spans.items() if nodes[v]["node_id"] == node)
        assert first[1] <= second[0], f"two variants at once on one node: {first}, {second}"
    assert any(_overlaps(spans[v], spans[w]) for v in spans for w in spans
               if nodes[v]["node_id"] != nodes[w]["node_id"]), spans
    busy = sum(e - s for s, e in spans.values())
    span = max(e for _, e in spans.values()) - min(s for s, _ in spans.values())
    print(f"sweep {took:.1f} s; variants {busy:.1f} s in all over a {span:.1f} s span "
          f"(ratio {span / busy:.2f}: 0.5 is two at a time throughout, 1.0 one at a time)")
    assert span < 0.8 * busy, spans


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_a_node_lost_mid_level_fails_its_variant_only_and_a_rerun_measures_what_is_missing(
        cluster: Any, fake_vllm: Callable[..., None], tmp_path: Path) -> None:
    fake_vllm(itl_s=0.05)
    write_recipe(tmp_path, ["a", "b", "c"], [1, 2, 4], 12)  # c waits for a free node
    worker = next(n for n in cluster.worker_nodes)
    proc = sweep(tmp_path, cluster.address)
    victim = _wait_for_a_trial_on(worker.node_id, tmp_path, proc)
    cluster.remove_node(worker, allow_graceful=False)  # its raylet and workers: SIGKILL
    code, out = finished(proc)
    assert code == 1, out
    run, trials = stored(tmp_path)
    status = {v.name: v for v in run.variants}
    assert all(status[v].status == "ok" for v in status if v != victim), out  # c ran elsewhere
    assert status[victim].status == "failed"
    assert "lost its Ray node or worker mid-variant" in (status[victim].error or ""), out
    kept = {(t["variant"], t["concurrency"], t["trial"]): t["recorded_at"] for t in trials
            if t["status"] == "ok"}
    assert any(v == victim for v, _, _ in kept)  # what it measured before the loss is kept
    assert _no_server_left(victim, tmp_path), "the lost node's server outlived it"

    cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")  # the cluster heals
    cluster.wait_for_nodes()
    code, out = finished(sweep(tmp_path, cluster.address))
    assert code == 0, out
    run, trials = stored(tmp_path)
    assert {v.name: v.status for v in run.variants} == dict.fromkeys("abc", "ok")
    again = {(t["variant"], t["concurrency"], t["trial"]): t["recorded_at"] for t in trials
             if t["status"] == "ok"}
    assert all(again[k] == when for k, when in kept.items())  # nothing measured twice
    assert len(again) == 3 * 3 * 2 and set(again) - set(kept)  # and the missing ones measured
    assert {v.name: (v.node or {}).get("node_id") for v in run.variants}[victim] != worker.node_id


def _no_server_left(variant: str, tmp: Path, timeout: float = 20) -> bool:
    """No fake server of this test's model serving ``variant`` runs (within ``timeout``)."""
    import psutil

    def alive() -> list[int]:
        out = []
        for p in psutil.process_iter(["cmdline", "status"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if str(tmp) in cmd and f"--served-model-name {variant}" in cmd and \
                    p.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        return out

    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    return not alive()


def _wait_for_a_trial_on(node_id: str, tmp: Path, proc: subprocess.Popen[str]) -> str:
    """The variant measured on that node, once one of its trials is stored (its node is then
    mid-variant: more levels follow)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (tmp / "s.db").exists():
            with Store(tmp / "s.db") as store:
                runs = store.runs()
                for row in store.variants(runs[0]["run_id"]) if runs else []:
                    if (row.get("node") or {}).get("node_id") == node_id and \
                            store.trials(runs[0]["run_id"], row["variant"]):
                        return str(row["variant"])
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no trial on node {node_id} in time: {proc.communicate()[0]}")
