"""Server telemetry during a load level, from vLLM's Prometheus ``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from qexplore.endpoint import api_base

GAUGES = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
}
PREEMPTIONS = "vllm:num_preemptions"


def parse_metrics(text: str) -> dict[str, float]:
    """The gauges we track and the preemption counter, summed over label sets."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = GAUGES.get(sample.name) or ("preemptions" if sample.name.startswith(
                PREEMPTIONS) and not sample.name.endswith("_created") else None)
            if name:
                out[name] = out.get(name, 0.0) + float(sample.value)
    return out


class MetricsSampler:
    """Samples ``/metrics`` before a level and after it, and every ``interval_s`` during it
    when an interval is given.

    Sampling is not free for the server: on a 2-core CPU machine one ``/metrics`` request under
    load took ~1 s of the API server's time, stalling every stream; polling every 0.5 s halved
    throughput (bench/loadtest_fidelity.py, measured with and without). So by default nothing is
    sampled inside the measured window.
    """

    def __init__(self, base_url: str, interval_s: float | None = None) -> None:
        self.url = f"{api_base(base_url)}/metrics"
        self.interval_s = interval_s

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event,
                  ready: asyncio.Event) -> dict[str, Any] | None:
        """Take the baseline sample, set ``ready``, sample until ``stop``, take a last one."""
        samples = [s for s in [await self._sample(session)] if s is not None]
        ready.set()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)  # None: wait for the end
            if (sample := await self._sample(session)) is not None:
                samples.append(sample)
        return summarize(samples)

    async def _sample(self, session: aiohttp.ClientSession) -> dict[str, float] | None:
        try:
            async with session.get(self.url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                return parse_metrics(await r.text()) if r.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None


def summarize(samples: list[dict[str, float]]) -> dict[str, Any] | None:
    """Peaks and means of the gauges; the preemptions that happened during the level."""
    if not samples:
        return None
    out: dict[str, Any] = {"samples": len(samples)}
    for key in GAUGES.values():
        values = [s[key] for s in samples if key in s]
        if values:
            out[f"{key}_max"] = max(values)
            out[f"{key}_mean"] = sum(values) / len(values)
    pre = [s["preemptions"] for s in samples if "preemptions" in s]
    if pre:
        out["preemptions"] = max(pre) - min(pre)
    return out
