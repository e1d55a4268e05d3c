from __future__ import annotations

from pathlib import Path

import pytest

from qexplore import paths
from qexplore.serve.launcher import ServerSpec, build_argv, build_env

pytestmark = pytest.mark.unit


def spec(tmp_path: Path, **kw: object) -> ServerSpec:
    return ServerSpec(model=str(tmp_path), served_name="int8", run_dir=tmp_path / "run", **kw)  # type: ignore[arg-type]


def test_cpu_argv_binds_loopback_and_sets_the_cpu_fixes(tmp_path: Path) -> None:
    argv = build_argv(spec(tmp_path, dtype="bfloat16", max_model_len=256, kv_cache_gb=1.5), 8123)
    assert argv[:3] == [str(paths.vllm_executable()), "serve", str(tmp_path)]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--dtype") + 1] == "bfloat16"
    assert argv[argv.index("--max-model-len") + 1] == "256"
    assert argv[argv.index("--kv-cache-memory-bytes") + 1] == str(3 * 2**29)
    assert "--enforce-eager" in argv


def test_gpu_argv_uses_memory_utilization_and_extra_args_last(tmp_path: Path) -> None:
    argv = build_argv(spec(tmp_path, cpu=False, extra_args=["--seed", "1"]), 1)
    assert "--enforce-eager" not in argv and "--kv-cache-memory-bytes" not in argv
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.9"
    assert argv[-2:] == ["--seed", "1"]


def test_env_keeps_everything_on_loopback_and_in_the_run_folder(tmp_path: Path) -> None:
    s = spec(tmp_path, env={"EXTRA": "1"})
    env = build_env(s, Path("/tmp/qx-abc"), base={"PATH": "/bin"})
    assert env["VLLM_HOST_IP"] == "127.0.0.1"
    assert env["TORCHDYNAMO_DISABLE"] == "1"
    assert env["TMPDIR"] == "/tmp/qx-abc"
    assert Path(env["VLLM_CACHE_ROOT"]).parent == s.run_dir
    assert env["HF_HUB_OFFLINE"] == "1"  # the model is a local folder
    assert (env["EXTRA"], env["PATH"]) == ("1", "/bin")


def test_qexplore_vllm_overrides_the_serve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QEXPLORE_VLLM", "/opt/other/bin/vllm")
    assert paths.vllm_executable() == Path("/opt/other/bin/vllm")
    assert paths.serve_python() == Path("/opt/other/bin/python")


def test_parallel_sizes_reach_vllm_only_above_one(tmp_path: Path) -> None:
    argv = build_argv(spec(tmp_path, cpu=False, tensor_parallel_size=4, pipeline_parallel_size=2), 1)
    assert argv[argv.index("--tensor-parallel-size") + 1] == "4"
    assert argv[argv.index("--pipeline-parallel-size") + 1] == "2"
    plain = build_argv(spec(tmp_path, cpu=False), 1)
    assert "--tensor-parallel-size" not in plain and "--pipeline-parallel-size" not in plain
