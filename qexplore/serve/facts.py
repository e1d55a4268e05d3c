"""Facts a running vLLM server tells us: version, start-up time, KV-cache capacity, memory."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

_KV = re.compile(r"KV cache size: ([\d,]+) tokens")
_CONC = re.compile(r"Maximum concurrency for ([\d,]+) tokens per request: ([\d.]+)x")
_WEIGHTS = re.compile(r"Model loading took ([\d.]+) GiB")


@dataclass(frozen=True)
class ServerFacts:
    served_model: str
    vllm_version: str | None = None
    startup_s: float | None = None
    kv_cache_tokens: int | None = None
    max_concurrency: float | None = None
    max_concurrency_at_len: int | None = None
    weights_gib: float | None = None
    endpoint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_log(text: str) -> dict[str, Any]:
    """The facts vLLM logs at start-up (the last occurrence of each wins)."""
    out: dict[str, Any] = {}
    if m := _last(_KV, text):
        out["kv_cache_tokens"] = int(m.group(1).replace(",", ""))
    if m := _last(_CONC, text):
        out["max_concurrency_at_len"] = int(m.group(1).replace(",", ""))
        out["max_concurrency"] = float(m.group(2))
    if m := _last(_WEIGHTS, text):
        out["weights_gib"] = float(m.group(1))
    return out


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 — keep the last match
        pass
    return found
