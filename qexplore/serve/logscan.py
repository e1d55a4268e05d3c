"""Reading a server log for what went wrong: the first exception of the latest launch.

A dying vLLM server logs the exception that started it (``AttributeError: … cpu_gemm_wna16``),
then a chain of consequences (``RuntimeError: Worker failed…``, ``EngineDeadError…``) and
finally pages of shutdown noise. The first exception line is the cause; the last lines are not.
"""

from __future__ import annotations

import re
from pathlib import Path

from qexplore.guard import LOG_TAIL_LINES

# vLLM's prefix on error lines: "(Worker pid=12) ERROR 11-29 11:34:43 [file.py:1063] ".
_PREFIX = re.compile(r"^(?:\(\w+ pid=\d+\)\s+)?(?:(?:ERROR|CRITICAL) \S+ \S+ \[[^\]]*\]\s?)?")
# A Python exception line as a traceback ends: "package.module.SomeError: message".
_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception)): (.+)$")
LAUNCH_MARK = "$ "  # the server manager writes the command line before each launch
MAX_CAUSE = 240


def latest_launch(text: str) -> list[str]:
    """The log lines written since the last launch (the whole log if none is marked)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(LAUNCH_MARK)]
    return lines[starts[-1]:] if starts else lines


def _exception(line: str) -> str | None:
    m = _EXCEPTION.match(_PREFIX.sub("", line.rstrip(), count=1))
    return f"{m.group(1)}: {m.group(2).strip()}" if m else None


def first_exception(lines: list[str]) -> tuple[int, str] | None:
    """(index, ``Type: message``) of the first exception line, shortened; None if none."""
    for i, line in enumerate(lines):
        if found := _exception(line):
            return i, found if len(found) <= MAX_CAUSE else found[: MAX_CAUSE - 1] + "…"
    return None


def root_cause(path: Path) -> tuple[str | None, str]:
    """The first exception of the latest launch in the log at ``path`` and the lines that
    lead to it (its traceback, at most ``LOG_TAIL_LINES``); without one, the last lines."""
    try:
        lines = latest_launch(path.read_text(errors="replace"))
    except OSError:
        return None, ""
    found = first_exception(lines)
    if found is None:
        return None, "\n".join(lines[-LOG_TAIL_LINES:])
    end, cause = found
    start = max(0, end + 1 - LOG_TAIL_LINES)
    tb = [i for i in range(start, end) if "Traceback (most recent call last)" in lines[i]]
    return cause, "\n".join(lines[(tb[-1] if tb else start): end + 1])

