"""Endpoints as users give them: with or without /v1 (the form `qexplore serve` prints), and a
wrong path named as such instead of whatever a client library says next."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from qexplore.endpoint import api_base, check_endpoint
from qexplore.errors import RecipeError, ServerError
from qexplore.loadtest.client import Endpoint
from qexplore.loadtest.levels import LevelPlan, RequestShape
from qexplore.loadtest.run import run_loadtest
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer

pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]


@pytest.fixture
def server(fake_vllm: Callable[..., None], fake_spec: ServerSpec) -> Iterator[VllmServer]:
    with VllmServer(fake_spec) as s:
        yield s


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", " "])
def test_both_forms_name_the_same_api(suffix: str) -> None:
    assert api_base("http://127.0.0.1:8000" + suffix) == "http://127.0.0.1:8000"


def test_check_endpoint(server: VllmServer) -> None:
    assert check_endpoint(server.base_url + "/v1") == server.base_url
    with pytest.raises(RecipeError, match=r"--endpoint: wrong endpoint path: .*/api/v1/models "
                                          r"answered HTTP 404"):
        check_endpoint(server.base_url + "/api")
    with pytest.raises(ServerError, match="does not answer"):
        check_endpoint("http://127.0.0.1:9/v1")


def test_a_404_request_is_recorded_as_a_wrong_path(server: VllmServer) -> None:
    target = Endpoint(server.base_url + "/openai", "fake")
    result = run_loadtest(target, RequestShape(["hi"], 4), [LevelPlan(1, 2, 0)])
    errors = {r.error for r in result.records}
    assert len(errors) == 1 and errors.pop().startswith("HTTP 404: wrong endpoint path")


def loadtest(url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QEXPLORE, "loadtest", "--endpoint", url, "--model", "fake",
                           "--concurrency", "2", "--requests", "4", "--output-len", "3",
                           "--json", str(tmp / "s.json")], capture_output=True, text=True,
                          timeout=120)


def test_loadtest_takes_the_url_serve_prints(server: VllmServer, tmp_path: Path) -> None:
    r = loadtest(server.base_url + "/v1", tmp_path)
    assert r.returncode == 0, r.stderr
    level = json.loads((tmp_path / "s.json").read_text())["levels"][0]
    assert (level["completed"], level["failed"]) == (4, 0)


def test_a_wrong_path_is_bad_input_for_loadtest_and_eval(server: VllmServer, tmp_path: Path
                                                         ) -> None:
    r = loadtest(server.base_url + "/v2", tmp_path)
    assert r.returncode == 2 and "wrong endpoint path" in r.stderr, r.stderr
    r = subprocess.run([*QEXPLORE, "eval", "--endpoint", server.base_url + "/v1/v1",
                        "--model", "fake", "--tokenizer", "x", "--tasks", "demo_add_mc",
                        "--include-path", "@demo", "--out", str(tmp_path / "eval")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"--endpoint: wrong endpoint path: {server.base_url}/v1/v1/models answered HTTP 404; "
        "give the server's base URL, e.g. http://127.0.0.1:8000 (with or without /v1)"]


def fake_servers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"])
            if "qexplore.testing.fake_server" in " ".join(p.info["cmdline"] or [])]


def test_serve_starts_exactly_one_server(fake_vllm: Callable[..., None], tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: one\nmodel: {{path: {model}}}\nvariants: [{{name: b, scheme: "
                      "baseline}]\nserve: {startup_timeout_s: 30}\n")
    before = {p.pid for p in fake_servers()}
    proc = subprocess.Popen([*QEXPLORE, "serve", str(recipe), "--variant", "b", "--run-dir",
                             str(tmp_path / "run")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if "ready in" in line:
                break
        started = [p for p in fake_servers() if p.pid not in before]
        assert len(started) == 1, [p.info["cmdline"] for p in started]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
