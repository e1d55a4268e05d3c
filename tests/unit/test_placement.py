"""Where a sweep's variants go on a Ray cluster, decided before any work (no cluster needed:
the nodes are described as Ray's ``ray.nodes()`` lists them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from qexplore.errors import HardwareError
from qexplore.execute.cluster import cluster_nodes, place
from qexplore.recipes.schema import Recipe
from qexplore.results.provenance import recipe_hash

pytestmark = pytest.mark.unit
DEMO = Path(__file__).parents[2] / "recipes" / "demo-cpu.yaml"
REFERENCE = Path(__file__).parents[2] / "recipes" / "llama31-8b-rtx3090.yaml"


class FakeRay:
    def __init__(self, *nodes: tuple[str, float, float, bool]) -> None:
        self._nodes = [{"NodeID": f"{name}-id", "NodeManagerAddress": f"10.0.0.{i}",
                        "NodeManagerHostname": name, "Alive": alive,
                        "Resources": {"CPU": cpus, **({"GPU": gpus} if gpus else {})}}
                       for i, (name, cpus, gpus, alive) in enumerate(nodes)]

    def nodes(self) -> list[dict[str, Any]]:
        return self._nodes


def recipe(path: Path, **changes: Any) -> Recipe:
    data = yaml.safe_load(path.read_text())
    for section, values in changes.items():
        data[section] = {**data.get(section, {}), **values}
    return Recipe.model_validate(data)


def test_cpu_variants_take_one_node_each_then_queue() -> None:
    ray = FakeRay(("a", 16, 0, True), ("b", 8, 0, True), ("dead", 8, 0, False))
    nodes = cluster_nodes(ray, recipe(DEMO))
    assert [(n.host, n.slots) for n in nodes] == [("a", 1), ("b", 1)]  # a dead node: none
    p = place(["v1", "v2", "v3", "v4"], nodes)
    assert {v: (n.host, k) for v, (n, k) in p.order.items()} == {
        "v1": ("a", 1), "v2": ("b", 1), "v3": ("a", 2), "v4": ("b", 2)}


def test_per_node_lets_a_big_cpu_node_measure_two_at_once() -> None:
    nodes = cluster_nodes(FakeRay(("a", 16, 0, True)), recipe(DEMO, executor={"per_node": 2}))
    p = place(["v1", "v2", "v3"], nodes)
    assert [k for _, (_, k) in p.order.items()] == [1, 2, 3]
    assert nodes[0].slots == 2


def test_gpu_variants_get_tensor_times_pipeline_gpus_of_one_node() -> None:
    ray = FakeRay(("eight", 64, 8, True), ("two", 16, 2, True), ("cpu", 32, 0, True))
    r = recipe(REFERENCE, serve={"tensor_parallel_size": 2, "pipeline_parallel_size": 2})
    assert [(n.host, n.slots) for n in cluster_nodes(ray, r)] == [("eight", 2)]
    one = recipe(REFERENCE)
    assert [(n.host, n.slots) for n in cluster_nodes(ray, one)] == [("eight", 8), ("two", 2)]
    with pytest.raises(HardwareError, match="no alive node of the Ray cluster has 16 GPUs"):
        cluster_nodes(ray, recipe(REFERENCE, serve={"tensor_parallel_size": 16}))


def test_where_a_recipe_runs_is_not_part_of_its_identity() -> None:
    # a run started locally resumes on Ray and back; the parallel sizes at 1 hash as before
    local = recipe(DEMO)
    assert recipe_hash(recipe(DEMO, executor={"kind": "ray", "per_node": 2})) == recipe_hash(local)
    assert recipe_hash(recipe(DEMO, serve={"tensor_parallel_size": 1})) == recipe_hash(local)
    assert recipe_hash(recipe(REFERENCE, serve={"tensor_parallel_size": 2})) != \
        recipe_hash(recipe(REFERENCE))


def test_a_shared_build_cache_must_be_an_absolute_path() -> None:
    with pytest.raises(ValueError, match=r"(?s)executor\.build_cache.*an absolute path every node"):
        recipe(DEMO, executor={"build_cache": "builds"})
    assert recipe(DEMO, executor={"build_cache": "/shared/b"}).executor.build_cache == "/shared/b"
