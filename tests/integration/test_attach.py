"""Attach mode: an already running server is used as it is; its API key comes from the
environment and never appears on a command line or in a log."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qexplore.errors import RecipeError, ServerError
from qexplore.loadtest.client import Endpoint
from qexplore.loadtest.levels import LevelPlan, RequestShape
from qexplore.loadtest.run import run_loadtest
from qexplore.serve.attach import AttachedServer
from qexplore.serve.launcher import ServerSpec
from qexplore.serve.manager import VllmServer

pytestmark = pytest.mark.integration


def test_attach_to_a_running_server(fake_vllm: Callable[..., None], fake_spec: ServerSpec,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-secret")
    with VllmServer(fake_spec) as running, \
            AttachedServer(running.base_url + "/v1", "fake", "MY_KEY") as attached:
        assert attached.base_url == running.base_url
        assert attached.api_key == "sk-secret"
        assert attached.facts and attached.facts.vllm_version == "0.0.0-fake"
        target = Endpoint(attached.base_url, "fake", api_key=attached.api_key)
        result = run_loadtest(target, RequestShape(["hi"], 4), [LevelPlan(2, 4)])
        assert result.levels[0].completed == 4
    assert "sk-secret" not in fake_spec.log_path.read_text()


def test_a_missing_key_variable_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(RecipeError, match="NO_SUCH_KEY is not set"):
        AttachedServer("http://127.0.0.1:9", "m", "NO_SUCH_KEY")


def test_an_endpoint_that_does_not_answer_is_a_server_error() -> None:
    with pytest.raises(ServerError, match="does not answer"), AttachedServer("http://127.0.0.1:9", "m"):
        pass
