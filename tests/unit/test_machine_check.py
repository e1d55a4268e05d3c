"""The sweep's checks of this machine before any work: the recipe's GPU and its model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qexplore.environment import Gpu
from qexplore.errors import HardwareError
from qexplore.plan.machine import check_machine
from qexplore.recipes.schema import Recipe

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("empty_hub_cache", "a_vllm")]
REFERENCE = Path(__file__).parents[2] / "recipes" / "llama31-8b-rtx3090.yaml"
RTX3090 = Gpu("NVIDIA GeForce RTX 3090", 8.6, 24.0)
H200 = Gpu("NVIDIA H200", 9.0, 139.8)


@pytest.fixture
def a_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    exe = tmp_path / "bin" / "vllm"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    monkeypatch.setenv("QEXPLORE_VLLM", str(exe))
    return exe


def reference(**changes: object) -> Recipe:
    data = yaml.safe_load(REFERENCE.read_text())
    data.update(changes)
    return Recipe.model_validate(data)


def test_a_gpu_recipe_is_refused_where_its_gpu_is_not() -> None:
    with pytest.raises(HardwareError, match="target RTX3090: this machine has no NVIDIA GPU"):
        check_machine(reference(), gpus=[])
    with pytest.raises(HardwareError, match=r"has NVIDIA H200 \(9.0\)"):
        check_machine(reference(), gpus=[H200])


def test_the_model_is_checked_once_the_gpu_is_there() -> None:
    # The card matches by name; the hub model is neither cached nor reachable offline.
    with pytest.raises(HardwareError, match=r"meta-llama/Llama-3\.1-8B-Instruct: not in the "
                       r"Hugging Face cache and HF_HUB_OFFLINE is set"):
        check_machine(reference(), gpus=[RTX3090])


def test_a_capability_target_matches_any_card_of_that_capability(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    check_machine(reference(target="sm_86", model={"path": str(tmp_path / "m")}),
                  gpus=[Gpu("NVIDIA RTX A5000", 8.6, 24.0)])
    with pytest.raises(HardwareError):
        check_machine(reference(target="sm_86", model={"path": str(tmp_path / "m")}),
                      gpus=[H200])


def test_a_machine_without_vllm_is_refused_before_any_variant(a_vllm: Path) -> None:
    # Seen on an H200 with no serve env: every variant was recorded failed at its server's
    # start, one after another, instead of one clear refusal.
    a_vllm.unlink()
    with pytest.raises(HardwareError, match=f"no vllm executable at {a_vllm}: run `make setup`"):
        check_machine(reference(), gpus=[RTX3090])


def test_attaching_to_a_running_server_needs_neither(a_vllm: Path) -> None:
    a_vllm.unlink()
    serve = {**yaml.safe_load(REFERENCE.read_text())["serve"],
             "endpoint": "http://127.0.0.1:8000"}
    check_machine(reference(serve=serve), gpus=[])


@pytest.mark.parametrize(("driver", "ok", "needed"),
                         [("580.65.06", True, True), ("550.54.15", False, False),
                          ("470.256.02", False, True)])
def test_the_nvidia_driver_against_vllms_cuda_12_9_build(driver: str, ok: bool,
                                                          needed: bool) -> None:
    from qexplore.doctor import driver_checks
    from qexplore.environment import parse_gpus

    gpus = parse_gpus(f"NVIDIA GeForce RTX 3090, 8.6, 24576, {driver}\n")
    assert gpus == [Gpu("NVIDIA GeForce RTX 3090", 8.6, 24.0, driver)]
    (check,) = driver_checks(gpus)
    assert (check.ok, check.needed) == (ok, needed)
    assert ok or "575.51.03" in (check.fix or "")
    assert driver_checks([]) == []  # no GPU: nothing to check
