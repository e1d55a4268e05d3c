"""Finding a server's root cause in its log: the first exception of the latest launch."""

from __future__ import annotations

from pathlib import Path

import pytest

from qexplore.serve.logscan import first_exception, root_cause
from qexplore.testing.fake_server import CRASH_LOG

pytestmark = pytest.mark.unit


def test_the_first_exception_is_the_cause_not_its_consequences() -> None:
    found = first_exception(CRASH_LOG.splitlines())
    assert found is not None
    assert found[1] == "AttributeError: '_OpNamespace' '_C' object has no attribute 'fake_gemm'"


def test_warnings_that_quote_an_exception_are_not_causes() -> None:
    lines = ["(APIServer pid=1) WARNING 11-29 11:34:09 [x.py:1] see `OSError: [Errno 24]`",
             "INFO ValueError: not at the start of a message",
             "huggingface_hub.errors.HFValidationError: Repo id must be in the form 'x'"]
    assert first_exception(lines) == (2, "HFValidationError: Repo id must be in the form 'x'")
    assert first_exception(lines[:2]) is None


def test_only_the_latest_launch_counts(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("$ vllm serve a\nOSError: an earlier launch failed\n"
                   "$ vllm serve b\nTraceback (most recent call last):\n  File \"x\"\n"
                   "KeyError: 'b'\nRuntimeError: because of that\n")
    cause, excerpt = root_cause(log)
    assert cause == "KeyError: 'b'"
    assert excerpt.splitlines() == ["Traceback (most recent call last):", '  File "x"',
                                    "KeyError: 'b'"]


def test_a_log_without_an_exception_gives_its_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("$ vllm serve a\n" + "".join(f"line {i}\n" for i in range(100)))
    cause, excerpt = root_cause(log)
    assert cause is None
    assert excerpt.splitlines()[-1] == "line 99" and len(excerpt.splitlines()) == 30
    assert root_cause(tmp_path / "missing.log") == (None, "")
