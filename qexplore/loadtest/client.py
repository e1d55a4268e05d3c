"""The streaming client: one request, each token timed by the socket read that brought it,
never raising.

Token counts come from the server's ``usage`` (``stream_options.include_usage``), never from
counting chunks; chunks only time the tokens' arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import aiohttp

from qexplore.endpoint import api_base, wrong_path
from qexplore.loadtest.records import RequestRecord


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: ``base_url`` ends before ``/v1``."""

    base_url: str
    model: str
    api: str = "chat"  # "chat" | "completions"
    api_key: str | None = None
    timeout_s: float = 600.0

    @property
    def url(self) -> str:
        path = "chat/completions" if self.api == "chat" else "completions"
        return f"{api_base(self.base_url)}/v1/{path}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def payload(target: Endpoint, prompt: Any, max_tokens: int, ignore_eos: bool,
            temperature: float = 0.0) -> dict[str, Any]:
    """The request body: ``prompt`` is text, token ids (completions) or chat messages."""
    body: dict[str, Any] = {
        "model": target.model, "max_tokens": max_tokens, "temperature": temperature,
        "stream": True, "stream_options": {"include_usage": True},
    }
    if target.api == "chat":
        body["messages"] = prompt if isinstance(prompt, list) and prompt and isinstance(
            prompt[0], dict) else [{"role": "user", "content": str(prompt)}]
    else:
        body["prompt"] = prompt
    if ignore_eos:
        body["ignore_eos"] = True
    return body


async def send(session: aiohttp.ClientSession, target: Endpoint, body: dict[str, Any],
               rec: RequestRecord, t0: float) -> RequestRecord:
    """Send one streaming request and fill ``rec``; errors are recorded, not raised."""
    started = time.perf_counter()
    rec.start = started - t0
    try:
        timeout = aiohttp.ClientTimeout(total=target.timeout_s)
        async with session.post(target.url, json=body, headers=target.headers,
                                timeout=timeout) as resp:
            if resp.status == 404:
                rec.error = f"HTTP 404: {wrong_path(target.url)}"
            elif resp.status != 200:
                text = (await resp.text())[:200].replace("\n", " ")
                rec.error = f"HTTP {resp.status}: {text}"
            else:
                await _read_stream(resp, rec, started, chat=target.api == "chat")
    except asyncio.TimeoutError:
        rec.error = f"timeout: no complete answer within {target.timeout_s:g} s"
    except aiohttp.ClientError as e:
        rec.error = f"connection: {e.__class__.__name__}: {e}"
    rec.end = time.perf_counter() - t0
    return rec


async def _lines(resp: aiohttp.ClientResponse) -> AsyncGenerator[tuple[float, bytes], None]:
    """The stream's lines, each with the time the read that completed it arrived. One read
    often holds several events (a fast server, a busy client): reading whole reads and
    splitting them costs a fraction of reading line by line, which is what lets one client
    keep up with thousands of tokens a second."""
    pending, now = b"", 0.0
    async for data in resp.content.iter_any():
        now = time.perf_counter()
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            yield now, line
    if pending:  # a last line without its newline came with the last read
        yield now, pending


async def _read_stream(resp: aiohttp.ClientResponse, rec: RequestRecord, started: float,
                       chat: bool) -> None:
    done = False
    usage = None
    async with contextlib.aclosing(_lines(resp)) as lines:  # closed at [DONE], not by the GC
        async for now, line in lines:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            chunk = json.loads(data)
            choices = chunk.get("choices")
            if choices:
                c = choices[0]
                text = (c.get("delta") or {}).get("content") if chat else c.get("text")
                if text:
                    if rec.ttft is None:
                        rec.ttft = now - started
                    rec.chunk_times.append(now - started)
            usage = chunk.get("usage") or usage
    if not done:
        rec.error = "connection: the stream ended before [DONE]"
    elif not usage:
        rec.error = "protocol: the server sent no usage (stream_options.include_usage)"
    else:
        rec.output_tokens = int(usage.get("completion_tokens") or 0)
        rec.prompt_tokens = usage.get("prompt_tokens")
