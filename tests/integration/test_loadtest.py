"""The load tester against the fake server (started through the real server manager):
every request is accounted for under injected faults; raw records recompute the summaries."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qexplore.loadtest.client import Endpoint
from qexplore.loadtest.levels import LevelPlan, RequestShape
from qexplore.loadtest.metrics import summarize_level
from qexplore.loadtest.run import read_raw, run_loadtest, write_raw
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer
from qexplore.serve.telemetry import MetricsSampler

pytestmark = pytest.mark.integration
Knobs = Callable[..., None]
SHAPE = RequestShape(["hello", "world"], max_tokens=8)


def run(server: VllmServer, levels: list[LevelPlan], api: str = "chat", timeout: float = 30):
    target = Endpoint(server.base_url, "fake", api, timeout_s=timeout)
    return run_loadtest(target, SHAPE, levels, sampler=MetricsSampler(server.base_url, 0.05))


def test_injected_latency_is_what_gets_measured(fake_vllm: Knobs, fake_spec: ServerSpec) -> None:
    fake_vllm(ttft_s=0.2, itl_s=0.05)
    with VllmServer(fake_spec) as server:
        result = run(server, [LevelPlan(1, 6, warmup=1), LevelPlan(4, 12)])
    one, four = result.levels
    assert (one.sent, one.completed, four.sent, four.completed) == (6, 6, 12, 12)
    assert all(r.output_tokens == 8 for r in result.records)  # from usage, not chunks
    # 0.2 s to the first token, then 7 gaps of 0.05 s: e2e ≈ 0.55 s, user_tps ≈ 8 / 0.55 ≈ 14.5.
    # The fake server keeps a timetable, so a gap after a late token is that much shorter:
    # gaps and TPOT sit at 50 ms give or take the event loop's jitter, either way.
    assert 200 <= one.ttft_ms.p50 < 400
    assert 45 <= one.itl_ms.p50 < 150
    assert 45 <= one.tpot_ms.p50 < 150
    assert 10 < one.user_tps.p50 <= 14.6
    assert four.telemetry and four.telemetry["running_max"] >= 2


@pytest.mark.parametrize(
    ("knobs", "error"),
    [
        ({"fail_every": 3}, "HTTP 500"),
        ({"drop_every": 3}, "connection"),
        ({"hang_every": 3}, "timeout"),
    ],
)
def test_every_request_is_accounted_for(fake_vllm: Knobs, fake_spec: ServerSpec,
                                        knobs: dict[str, int], error: str) -> None:
    fake_vllm(itl_s=0.01, **knobs)
    with VllmServer(fake_spec) as server:
        result = run(server, [LevelPlan(4, 12)], timeout=2)
    lv = result.levels[0]
    assert lv.sent == 12 == lv.completed + lv.failed
    assert lv.failed == 4  # every 3rd of 12 (the smoke request is the server's 1st)
    assert set(lv.errors) == {error}
    assert lv.error_rate == pytest.approx(4 / 12)
    assert lv.user_tps.p1 == 0.0  # failed users got nothing
    assert sorted(r.index for r in result.records) == list(range(12))


def test_open_loop_rates(fake_vllm: Knobs, fake_spec: ServerSpec) -> None:
    with VllmServer(fake_spec) as server:
        result = run(server, [LevelPlan(8, 10, rate=20.0)], api="completions")
    lv = result.levels[0]
    assert (lv.rate, lv.completed) == (20.0, 10)
    assert result.capacity.users is None  # capacity is defined on closed-loop levels only


def test_raw_records_recompute_the_summary(fake_vllm: Knobs, fake_spec: ServerSpec,
                                           tmp_path: Path) -> None:
    fake_vllm(fail_every=4, itl_s=0.005)
    with VllmServer(fake_spec) as server:
        result = run(server, [LevelPlan(2, 10)])
    back = read_raw(write_raw(result.records, tmp_path / "raw.parquet"))
    assert back == result.records
    again = summarize_level(back)
    # what the level measured besides its requests: the server's telemetry, the client's CPU
    again.telemetry, again.client_cpu_s = result.levels[0].telemetry, result.levels[0].client_cpu_s
    assert again == result.levels[0]


def test_cli_json_format(fake_vllm: Knobs, fake_spec: ServerSpec, tmp_path: Path) -> None:
    with VllmServer(fake_spec) as server:
        cmd = [sys.executable, "-c", "from qexplore.cli.main import run; run()", "loadtest",
               "--endpoint", server.base_url, "--model", "fake", "--concurrency", "1,3",
               "--requests", "6", "--output-len", "5", "--json", str(tmp_path / "s.json")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    levels = json.loads((tmp_path / "s.json").read_text())["levels"]
    assert [lv["concurrency"] for lv in levels] == [1, 3]
    for lv in levels:
        assert {"concurrency", "completed", "failed", "duration_s", "output_tps",
                "request_tps"} <= set(lv)
        assert set(lv["user_tps"]) == {"mean", "p50", "p1"}
        for k in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
            assert set(lv[k]) == {"p50", "p90", "p99"}
        assert lv["output_tps"] == pytest.approx(5 * lv["completed"] / lv["duration_s"])


def test_cli_bad_concurrency_exits_2() -> None:
    cmd = [sys.executable, "-c", "from qexplore.cli.main import run; run()", "loadtest",
           "--endpoint", "http://127.0.0.1:9", "--model", "m", "--concurrency", "1,x"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "comma-separated list of integers" in r.stderr


def test_open_loop_waits_for_a_slot_are_recorded(fake_vllm: Knobs, fake_spec: ServerSpec) -> None:
    # 20 req/s into one slot of a server that takes ~0.3 s a request: arrivals queue in the
    # client. The wait is kept apart from TTFT and E2E (which start when the request is sent).
    fake_vllm(ttft_s=0.3)
    with VllmServer(fake_spec) as server:
        result = run(server, [LevelPlan(1, 8, rate=20.0), LevelPlan(1, 2)], api="completions")
    open_loop, closed = result.levels
    queued = [r.queued for r in result.records if r.rate]
    assert queued[0] < 0.05 and max(queued) > 1.0  # the last ones waited for 7 earlier ones
    assert open_loop.queue_ms is not None and open_loop.queue_ms.p99 > 1000
    assert 250 < open_loop.ttft_ms.p50 < 600
    assert closed.queue_ms is None  # closed-loop users never wait for a slot
