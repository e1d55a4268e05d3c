"""The client reads a stream by whole socket reads: events split across reads, several events in
one read and CRLF line ends all come out as the same tokens, each timed by its read; a level's
client CPU is summed over its trials."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qexplore.loadtest import client
from qexplore.loadtest.intervals import summarize_trials
from qexplore.loadtest.metrics import LevelSummary, RequestSlo
from qexplore.loadtest.records import RequestRecord
from qexplore.loadtest.run import pool

pytestmark = pytest.mark.unit


def event(payload: dict[str, Any] | str, end: bytes = b"\n\n") -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}".encode() + end


TOKEN = {"choices": [{"index": 0, "text": "7"}]}
USAGE = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}


class Reads:
    """A response whose body arrives in the given reads, at the given times."""

    def __init__(self, reads: list[bytes], clock: list[float]) -> None:
        self.content = self
        self.reads, self.clock = reads, clock

    async def iter_any(self) -> AsyncIterator[bytes]:
        for data in self.reads:
            self.clock.append(self.clock[-1] + 1.0)  # each read one second after the last
            yield data


def read(reads: list[bytes], monkeypatch: pytest.MonkeyPatch) -> RequestRecord:
    clock = [0.0]
    monkeypatch.setattr(client.time, "perf_counter", lambda: clock[-1])
    rec = RequestRecord(1, 0, 0.0)
    asyncio.run(client._read_stream(Reads(reads, clock), rec, 0.0, chat=False))  # type: ignore[arg-type]
    return rec


def test_events_split_across_reads_and_packed_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    body = event(TOKEN) + event(TOKEN) + event(TOKEN, b"\r\n\r\n") + event(USAGE) + event("[DONE]")
    # a token event is 48 bytes: read 1 stops inside the first one's JSON (byte 44), read 2
    # (bytes 44–114) ends it, holds all of the second (48–96) and the start of the third
    cut = body.index(b"7") + 3
    rec = read([body[:cut], body[cut:cut + 70], body[cut + 70:]], monkeypatch)
    assert rec.error is None and (rec.output_tokens, rec.prompt_tokens) == (3, 5)
    assert rec.ttft == 2.0 and rec.chunk_times == [2.0, 2.0, 3.0]  # each timed by its read


def test_a_last_line_without_its_newline_still_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = read([event(TOKEN) + event(USAGE) + b"data: [DONE]"], monkeypatch)
    assert rec.error is None and rec.output_tokens == 3 and rec.chunk_times == [1.0]


def test_a_stream_cut_before_done_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = read([event(TOKEN), event(TOKEN)], monkeypatch)
    assert rec.error == "connection: the stream ended before [DONE]"
    assert rec.chunk_times == [1.0, 2.0]  # what arrived is kept


def test_a_levels_client_cpu_is_summed_over_its_trials() -> None:
    trials = [[RequestRecord(1, i, i, i + 1.0, 0.5, 10, chunk_times=[0.5, 1.0]) for i in range(2)]
              for _ in range(2)]
    parts = [summarize_trials([t]) for t in trials]
    for part, cpu in zip(parts, (0.25, 0.5), strict=True):
        part.client_cpu_s = cpu
    pooled = pool(trials, parts, RequestSlo())
    assert pooled.client_cpu_s == 0.75 and pooled.duration_s == 4.0
    assert pooled.client_cpu_pct == pytest.approx(100 * 0.75 / 4.0)
    parts[1].client_cpu_s = None  # a trial measured before the client recorded its CPU
    assert pool(trials, parts, RequestSlo()).client_cpu_s is None
    assert LevelSummary.model_validate(pooled.as_dict()).client_cpu_s == 0.75  # stored and back
