"""The server manager's promises, checked against the fake server it starts like vLLM."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import psutil
import pytest

from qexplore.errors import ServerError
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer, http_json

pytestmark = pytest.mark.integration
Knobs = Callable[..., None]


def group_members(pgid: int) -> list[int]:
    return [p.pid for p in psutil.process_iter() if _pgid(p.pid) == pgid]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_ready_means_it_answers_and_stop_means_gone(fake_vllm: Knobs, fake_spec: ServerSpec) -> None:
    fake_vllm(startup_s=1)
    with VllmServer(fake_spec) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        out = http_json(f"{server.base_url}/v1/completions",
                        {"model": "fake", "prompt": "x", "max_tokens": 3})
        assert out["usage"]["completion_tokens"] == 3
        assert server.facts is not None
        assert (server.facts.vllm_version, server.facts.kv_cache_tokens) == ("0.0.0-fake", 4096)
        assert server.startup_s is not None and server.startup_s >= 1
        pgid = server._server_pgid
        assert pgid and group_members(pgid)
    assert not group_members(pgid)


def test_exit_during_start_up_names_the_cause(fake_vllm: Knobs, fake_spec: ServerSpec) -> None:
    fake_vllm(exit_at_start=1)
    with pytest.raises(ServerError) as e:
        VllmServer(fake_spec).start()
    assert e.value.reason == ("the vLLM server exited with code 1 during start-up: "
                              "OSError: fake start-up failure for fake-model")
    assert "fake start-up failure" in e.value.log_tail


def test_start_up_deadline(fake_vllm: Knobs, tmp_path: object, fake_spec: ServerSpec) -> None:
    fake_vllm(startup_s=60)
    spec = ServerSpec(**{**fake_spec.__dict__, "startup_timeout_s": 2})
    started = time.monotonic()
    with pytest.raises(ServerError, match="not ready within 2 s"):
        VllmServer(spec).start()
    assert time.monotonic() - started < 15


def test_healthy_but_broken_fails_at_the_smoke_request(fake_vllm: Knobs, fake_spec: ServerSpec
                                                       ) -> None:
    fake_vllm(broken=1)
    with pytest.raises(ServerError) as e:
        VllmServer(fake_spec).start()
    assert e.value.reason.startswith("the server answered /health but its first completion failed")
    # The first exception of the crash, not its consequences nor the shutdown noise after it.
    assert e.value.reason.endswith(
        "AttributeError: '_OpNamespace' '_C' object has no attribute 'fake_gemm'")
    first = e.value.lines()[0]
    assert "fake_gemm" in first and str(fake_spec.log_path) in first
    assert "nanobind" not in "\n".join(e.value.lines())
    assert "Traceback (most recent call last)" in e.value.log_tail


def test_a_server_killed_from_outside_is_reported(fake_vllm: Knobs, fake_spec: ServerSpec) -> None:
    with VllmServer(fake_spec) as server:
        assert server._server_pgid
        os.killpg(server._server_pgid, signal.SIGKILL)
        time.sleep(1)
        with pytest.raises(ServerError, match="was killed by signal 9 during use"):
            server.check_alive()

