"""The raw per-request record: everything a summary is computed from, kept as measured."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RequestRecord:
    """One request as the client saw it. Times are seconds; ``start`` is relative to the run.

    ``chunk_times`` are the arrival times (relative to ``start``) of the stream chunks that
    carried generated text; ``output_tokens`` is the server's own count from ``usage``. A
    request that failed keeps its ``error`` and whatever arrived before the failure.
    """

    concurrency: int
    index: int
    start: float
    end: float | None = None
    ttft: float | None = None
    output_tokens: int = 0
    prompt_tokens: int | None = None
    chunk_times: list[float] = field(default_factory=list)
    error: str | None = None
    rate: float | None = None  # open-loop request rate, when the level was open-loop
    queued: float = 0.0  # open loop: seconds from its arrival to a free slot, before ``start``
    trial: int = 0  # which trial of its level

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def e2e(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
