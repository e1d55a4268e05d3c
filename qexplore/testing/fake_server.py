"""A fake OpenAI-compatible server with latency and fault knobs, shaped like ``vllm serve``.

    python -m qexplore.testing.fake_server serve MODEL --host H --port P [any vllm flags]

It accepts vLLM's command line (unknown flags are ignored), so the real server manager starts
it when ``QEXPLORE_VLLM`` points at a script that runs this module. Knobs are environment
variables (all optional):

    FAKE_STARTUP_S     seconds before /health answers            (0)
    FAKE_TTFT_S        seconds before the first token            (0)
    FAKE_ITL_S         seconds between tokens                    (0); a server's own
                       ``--fake-itl-s S`` flag overrides it (a variant's serve_args: variants
                       of one sweep at different speeds)

A stream keeps to its timetable: token i is sent at TTFT + i × ITL after the request came,
however late the event loop woke for the one before (lateness does not add up), so an answer's
end-to-end time is what the knobs say and a load tester's figures can be checked against them.

    FAKE_TOKENS        tokens per answer when a request sets no max_tokens (16)
    FAKE_FAIL_EVERY    every Nth completion answers HTTP 500      (0 = never)
    FAKE_DROP_EVERY    every Nth stream is cut off mid-stream     (0 = never)
    FAKE_HANG_EVERY    every Nth request never answers            (0 = never)
    FAKE_BROKEN        "1": /health is fine, the first completion crashes the server (exit 1),
                       logging a crash shaped like vLLM's (see CRASH_LOG)
    FAKE_BROKEN_START  "N:PATH": the Nth server started (counted in the file PATH) is broken as
                       FAKE_BROKEN says (a later round's server that crashes)
    FAKE_EXIT_AT_START "N": exit with code N during start-up, after logging an error
    FAKE_DIE_AT        "N": the Nth completion (the start-up smoke request is the first) kills
                       the server with SIGKILL, as the OOM killer would
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

LOG_KV = ("(EngineCore pid=1) INFO [kv_cache_utils.py:1] CPU KV cache size: 4,096 tokens, "
          "Maximum concurrency for 256 tokens per request: 16.00x")


# A vLLM crash as it lands in the server log: a warning that quotes an exception, the root
# cause in a worker, its consequences, then pages of shutdown noise.
CRASH_LOG = "\n".join([
    "(APIServer pid=7) WARNING 11-29 11:34:09 [system_utils.py:255] This can cause fd limit "
    "errors like `OSError: [Errno 24] Too many open files`.",
    "(Worker pid=9) ERROR 11-29 11:34:43 [multiproc_executor.py:1063] Traceback (most recent "
    "call last):",
    '(Worker pid=9) ERROR 11-29 11:34:43 [multiproc_executor.py:1063]   File "cpu.py", line 198',
    "(Worker pid=9) ERROR 11-29 11:34:43 [multiproc_executor.py:1063] AttributeError: "
    "'_OpNamespace' '_C' object has no attribute 'fake_gemm'",
    "(EngineCore pid=8) ERROR 11-29 11:34:43 [core.py:1512] RuntimeError: Worker failed with "
    "error 'fake_gemm', please check the stack trace above for the root cause",
    "(APIServer pid=7) ERROR 11-29 11:34:43 [async_llm.py:906] vllm.v1.engine.exceptions."
    "EngineDeadError: EngineCore encountered an issue.",
    "nanobind: leaked 64 types!",
    *[f' - leaked type "triton._C.libtriton.ir.type{i}"' for i in range(40)],
])


def knob(name: str, default: float = 0.0) -> float:
    return float(os.environ.get(name, default))


class Fake:
    def __init__(self, model: str, itl_s: float | None = None) -> None:
        self.model = model
        self.itl_s = knob("FAKE_ITL_S") if itl_s is None else itl_s
        self.broken = os.environ.get("FAKE_BROKEN") == "1" or _nth_start_broken()
        self.counter = itertools.count(1)
        self.running = 0
        self.served = 0
        self.ready_at = time.monotonic() + knob("FAKE_STARTUP_S")

    def fault(self, n: int, name: str) -> bool:
        every = int(knob(name))
        return every > 0 and n % every == 0

    async def health(self, _: web.Request) -> web.Response:
        if time.monotonic() < self.ready_at:
            return web.Response(status=503)
        return web.Response(text="")

    async def models(self, _: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def version(self, _: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def metrics(self, _: web.Request) -> web.Response:
        text = (
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="{self.model}"}} {self.running}\n'
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="{self.model}"}} 0\n'
            "# TYPE vllm:kv_cache_usage_perc gauge\n"
            f'vllm:kv_cache_usage_perc{{model_name="{self.model}"}} {min(1.0, self.running / 16)}\n'
            "# TYPE vllm:num_preemptions counter\n"
            f'vllm:num_preemptions_total{{model_name="{self.model}"}} 0\n'
        )
        return web.Response(text=text, content_type="text/plain")

    async def complete(self, request: web.Request) -> web.StreamResponse:
        n = next(self.counter)
        body: dict[str, Any] = await request.json()
        if self.broken:
            print(CRASH_LOG, flush=True)
            os._exit(1)
        if n >= int(os.environ.get("FAKE_DIE_AT") or sys.maxsize):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fault(n, "FAKE_HANG_EVERY"):
            await asyncio.sleep(3600)
        if self.fault(n, "FAKE_FAIL_EVERY"):
            return web.json_response({"error": {"message": "injected failure"}}, status=500)
        chat = request.path.endswith("/chat/completions")
        tokens = int(body.get("max_tokens") or knob("FAKE_TOKENS", 16))
        self.running += 1
        try:
            if body.get("stream"):
                return await self.stream(request, body, n, tokens, chat)
            await asyncio.sleep(knob("FAKE_TTFT_S") + self.itl_s * max(0, tokens - 1))
            return web.json_response(self.whole(body, tokens, chat))
        finally:
            self.running -= 1
            self.served += 1

    def whole(self, body: dict[str, Any], tokens: int, chat: bool) -> dict[str, Any]:
        text = " tok" * tokens
        choice: dict[str, Any] = (
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
            if chat else {"index": 0, "text": text, "finish_reason": "length"}
        )
        return {"id": "fake", "object": "chat.completion" if chat else "text_completion",
                "model": self.model, "choices": [choice],
                "usage": {"prompt_tokens": 4, "completion_tokens": tokens,
                          "total_tokens": 4 + tokens}}

    async def stream(self, request: web.Request, body: dict[str, Any], n: int, tokens: int,
                     chat: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        first, gap = loop.time() + knob("FAKE_TTFT_S"), self.itl_s
        drop_at = tokens // 2 if self.fault(n, "FAKE_DROP_EVERY") else None
        for i in range(tokens):
            if i == drop_at:
                if request.transport:
                    request.transport.close()  # cut the connection mid-stream
                return resp
            await asyncio.sleep(max(0.0, first + i * gap - loop.time()))
            delta = {"delta": {"content": " tok"}} if chat else {"text": " tok"}
            chunk = {"id": "fake", "model": self.model, "choices": [{"index": 0, **delta}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 4, "completion_tokens": tokens, "total_tokens": 4 + tokens}
            await resp.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp


def _nth_start_broken() -> bool:
    """Counts this start in FAKE_BROKEN_START's file; whether it is the broken one."""
    spec = os.environ.get("FAKE_BROKEN_START")
    if not spec:
        return False
    n, path = spec.split(":", 1)
    counter = Path(path)
    count = int(counter.read_text() or 0) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    return count == int(n)


def parse_args(argv: list[str]) -> tuple[str, str, int, str, float | None]:
    """(model, host, port, served name, --fake-itl-s) from a ``vllm serve`` command line."""
    assert argv[0] == "serve", "usage: fake_server serve MODEL --host H --port P ..."
    model, rest = argv[1], argv[2:]
    opts = {f: v for f, v in zip(rest, [*rest[1:], ""], strict=True) if f.startswith("--")}
    host, port = opts.get("--host") or "127.0.0.1", int(opts.get("--port") or 8000)
    itl = opts.get("--fake-itl-s")
    return (model, host, port, opts.get("--served-model-name") or model,
            None if itl is None else float(itl))


VERSION = "0.0.0-fake"


def main(argv: list[str]) -> None:
    if argv[:1] == ["--version"]:  # as `vllm --version` answers: noise, then the version
        print(f"INFO a line of start-up noise\n{VERSION}")
        return
    model, host, port, name, itl_s = parse_args(argv)
    code = os.environ.get("FAKE_EXIT_AT_START")
    if code:
        print(f"OSError: fake start-up failure for {model}", flush=True)
        sys.exit(int(code))
    fake = Fake(name, itl_s)
    print(LOG_KV, flush=True)
    app = web.Application()
    app.router.add_get("/health", fake.health)
    app.router.add_get("/version", fake.version)
    app.router.add_get("/v1/models", fake.models)
    app.router.add_get("/metrics", fake.metrics)
    app.router.add_post("/v1/completions", fake.complete)
    app.router.add_post("/v1/chat/completions", fake.complete)
    web.run_app(app, host=host, port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(sys.argv[1:])
