"""The load-test stage's entry point: run levels, summarise, keep the raw records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qexplore.loadtest.client import Endpoint
from qexplore.loadtest.intervals import summarize_trials
from qexplore.loadtest.levels import Check, LevelPlan, OnProgress, RequestShape, Sampler, run_levels
from qexplore.loadtest.metrics import Capacity, LevelSummary, RequestSlo, capacity, summarize_level
from qexplore.loadtest.records import RequestRecord

DEFAULT_SLO = RequestSlo()


@dataclass
class LoadTestResult:
    levels: list[LevelSummary]
    records: list[RequestRecord]
    capacity: Capacity

    def as_json(self) -> dict[str, Any]:
        """``{"levels": [...], "capacity": {...}}`` — the documented ``--json`` format."""
        return {"levels": [lv.as_dict() for lv in self.levels],
                "capacity": {"users": self.capacity.users, "note": self.capacity.note}}


def run_loadtest(
    target: Endpoint, shape: RequestShape, levels: Sequence[LevelPlan],
    slo: RequestSlo = DEFAULT_SLO, on_progress: OnProgress | None = None,
    sampler: Sampler | None = None, check: Check | None = None,
    on_level: Callable[[LevelPlan, LevelSummary, list[RequestRecord]], None] | None = None,
) -> LoadTestResult:
    """Run every planned trial in order against ``target``; ``on_level`` gets each trial's plan,
    summary and raw records as soon as it ends. The result pools each level's trials."""
    by_level: dict[tuple[int, float | None], list[list[RequestRecord]]] = {}
    telemetry_of: dict[tuple[int, float | None], dict[str, Any] | None] = {}
    records: list[RequestRecord] = []

    def finished(lv: LevelPlan, recs: list[RequestRecord], telemetry: dict[str, Any] | None
                 ) -> None:
        summary = summarize_level(recs, slo)
        summary.telemetry = telemetry
        by_level.setdefault(lv.key, []).append(recs)
        telemetry_of[lv.key] = telemetry  # the level's last trial's
        records.extend(recs)
        if on_level:
            on_level(lv, summary, recs)

    asyncio.run(run_levels(target, shape, levels, on_progress, sampler, check, finished))
    summaries = [summarize_trials(trials, slo) for trials in by_level.values()]
    for key, s in zip(by_level, summaries, strict=True):
        s.telemetry = telemetry_of[key]
    return LoadTestResult(summaries, records, capacity(summaries, slo))


def write_raw(records: Sequence[RequestRecord], path: Path) -> Path:
    """The raw per-request records as parquet (one row per request)."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([r.as_dict() for r in records]).to_parquet(path, index=False)
    return path


def read_raw(path: Path) -> list[RequestRecord]:
    """Records back from parquet, so any summary can be recomputed."""
    import pandas as pd

    rows = pd.read_parquet(path).to_dict("records")
    out = []
    for row in rows:
        clean: dict[str, Any] = {k: (None if _isnan(v) else v) for k, v in row.items()}
        clean["chunk_times"] = [float(t) for t in row["chunk_times"]]
        out.append(RequestRecord(**clean))
    return out


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def write_json(result: LoadTestResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.as_json(), indent=2))
    return path
