"""The vLLM server manager: ready means it answers; stop means gone.

Lifecycle::

    with VllmServer(spec) as server:     # start: guard + vllm, wait for /health, smoke request
        server.base_url                  # http://127.0.0.1:PORT
        server.check_alive()             # raises ServerError if it died meanwhile
    # stop: the whole process group gets SIGTERM, then SIGKILL after a grace period

The server runs under :mod:`qexplore.guard`, which kills it if qexplore itself dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from qexplore.endpoint import server_version
from qexplore.errors import ServerError
from qexplore.guard import guarded_popen
from qexplore.serve.facts import ServerFacts, parse_log
from qexplore.serve.launcher import ServerSpec, build_argv, build_env, free_port
from qexplore.serve.logscan import root_cause

POLL_S = 0.5


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """GET (or POST ``body``) and decode JSON; raises urllib errors as they come."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


class VllmServer:
    """Starts, checks and stops one ``vllm serve`` process group (a context manager)."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.port: int | None = None
        self.startup_s: float | None = None
        self.facts: ServerFacts | None = None
        self._guard: subprocess.Popen[bytes] | None = None
        self._server_pgid: int | None = None
        self._tmp: Path | None = None

    api_key: str | None = None  # a server we start needs none

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> VllmServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Launch and wait until ready (health and a smoke completion) or raise ServerError."""
        self.spec.run_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        argv = build_argv(self.spec, self.port)
        self._tmp = Path(tempfile.mkdtemp(prefix="qx-"))  # short: IPC socket paths live here
        started = time.monotonic()
        with open(self.spec.log_path, "ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            self._guard = guarded_popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                        env=build_env(self.spec, self._tmp))
        try:
            self._wait_healthy(started + self.spec.startup_timeout_s)
            self._smoke()
        except BaseException:
            self.stop()
            raise
        self.startup_s = round(time.monotonic() - started, 2)
        self.facts = self._read_facts()

    def _read_facts(self) -> ServerFacts:
        logged = parse_log(self.spec.log_path.read_text(errors="replace"))
        return ServerFacts(self.spec.served_name, server_version(self.base_url), self.startup_s,
                           **logged, endpoint=self.base_url)

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            self._remember_server_pgid()
            self.check_alive(during="start-up")
            try:
                urllib.request.urlopen(f"{self.base_url}/health", timeout=2).close()
                return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise self._error(
                    f"the server was not ready within {self.spec.startup_timeout_s:g} s"
                )
            time.sleep(POLL_S)

    def _smoke(self) -> None:
        """One real completion: some broken schemes pass /health and die on the first request."""
        body = {"model": self.spec.served_name, "prompt": "1+1=", "max_tokens": 2,
                "temperature": 0}
        try:
            out = http_json(f"{self.base_url}/v1/completions", body, timeout=120)
            if not out or not out.get("choices"):
                raise ValueError(f"unexpected answer {str(out)[:200]}")
        except (urllib.error.URLError, OSError, ValueError) as e:
            time.sleep(1)  # let a crashing engine finish writing its log
            status = f" (HTTP {e.code})" if isinstance(e, urllib.error.HTTPError) else ""
            raise self._error("the server answered /health but its first completion failed"
                              + status, _reason(e)) from None

    def check_alive(self, during: str = "use") -> None:
        """Raise ServerError if the server process has exited."""
        code = self._guard.poll() if self._guard else None
        if code is not None:
            how = f"was killed by signal {code - 128}" if code > 128 else f"exited with code {code}"
            raise self._error(f"the vLLM server {how} during {during}")

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, grace period, SIGKILL. Idempotent."""
        guard, self._guard = self._guard, None
        if guard is None:
            return
        try:
            self._stop_guard(guard)
        finally:
            if self._tmp:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    def _stop_guard(self, guard: subprocess.Popen[bytes]) -> None:
        if guard.stdin:
            guard.stdin.close()  # the guard stops the group on EOF
        try:
            guard.wait(timeout=float(os.environ.get("QEXPLORE_STOP_GRACE_S", "15")) + 10)
        except subprocess.TimeoutExpired:
            guard.kill()
            guard.wait()
        for pgid in (self._server_pgid, guard.pid):
            if pgid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)

    def _remember_server_pgid(self) -> None:
        """The server's process group (its pid), so stop() can reach it even without the guard."""
        if self._server_pgid or not self._guard:
            return
        import psutil

        try:
            children = psutil.Process(self._guard.pid).children()
        except psutil.Error:
            return
        if children:
            self._server_pgid = children[0].pid

    def _error(self, reason: str, detail: str = "") -> ServerError:
        """The error with the log's root cause (or ``detail`` when the log names none)."""
        cause, excerpt = root_cause(self.spec.log_path)
        why = cause or detail
        return ServerError(f"{reason}: {why}" if why else reason, excerpt,
                           str(self.spec.log_path))


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return e.read().decode(errors="replace")[:300]
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return f"{e.__class__.__name__}: {e}"
