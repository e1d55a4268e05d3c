"""Nightly tracking: what changed between two runs of a recipe, and whether it is a regression.

Regression rules (defaults, all settable): a significant accuracy drop (paired test, p < 0.05,
on any task metric); output tok/s or slowest-1 % user tok/s down by more than 10 % at any level;
TTFT p99 up by more than 25 % at any level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qexplore.evaluate.run import compare_to_baseline
from qexplore.report.data import RunData, stored_eval


@dataclass(frozen=True)
class Thresholds:
    max_throughput_drop_pct: float = 10.0
    max_latency_rise_pct: float = 25.0


@dataclass(frozen=True)
class Delta:
    variant: str
    what: str  # "task/metric" or "workload@users: metric"
    a: float | None
    b: float | None
    change_pct: float | None
    regression: bool
    note: str = ""


def _pct(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or a == 0 else 100 * (b - a) / a


def compare_runs(a: RunData, b: RunData, th: Thresholds = Thresholds()) -> list[Delta]:
    """Per variant in both runs: accuracy deltas with the paired verdict, speed deltas per level."""
    out: list[Delta] = []
    va = {v["variant"]: v for v in a.variants if v["status"] == "ok"}
    vb = {v["variant"]: v for v in b.variants if v["status"] == "ok"}
    for name in [n for n in va if n in vb]:
        out += _accuracy(name, va[name], vb[name])
        out += _speed(name, a, b, th)
    for name in [n for n in va if n not in vb]:
        out.append(Delta(name, "status", None, None, None, True,
                         "measured in the first run, failed or missing in the second"))
    return out


def _accuracy(name: str, ra: dict[str, Any], rb: dict[str, Any]) -> list[Delta]:
    if not (ra.get("eval") and rb.get("eval")):
        return []
    cmp = compare_to_baseline(stored_eval(ra["eval"]), stored_eval(rb["eval"]))
    return [Delta(name, f"{task}/{metric}", c.baseline, c.variant,
                  _pct(c.baseline, c.variant), c.verdict == "worse",
                  f"{c.verdict} (p={c.p_value:.3g}, {c.test})")
            for task, metrics in cmp.items() for metric, c in metrics.items()]


def _level_key(lv: dict[str, Any]) -> tuple[str, int, float | None]:
    return lv["workload"], lv["concurrency"], lv["summary"].get("rate")


def _speed(name: str, a: RunData, b: RunData, th: Thresholds) -> list[Delta]:
    la = {_level_key(lv): lv["summary"] for lv in a.levels if lv["variant"] == name}
    lb = {_level_key(lv): lv["summary"] for lv in b.levels if lv["variant"] == name}
    out = []
    for k in [k for k in la if k in lb]:
        sa, sb = la[k], lb[k]
        where = f"{k[0]}@{k[1]} users"
        for metric, x, y, worse_if in (
            ("output_tps", sa["output_tps"], sb["output_tps"], "drop"),
            ("user_tps_p1", sa["user_tps"]["p1"], sb["user_tps"]["p1"], "drop"),
            ("ttft_ms_p99", sa["ttft_ms"]["p99"], sb["ttft_ms"]["p99"], "rise"),
        ):
            change = _pct(x, y)
            limit = th.max_throughput_drop_pct if worse_if == "drop" else th.max_latency_rise_pct
            bad = change is not None and (-change if worse_if == "drop" else change) > limit
            out.append(Delta(name, f"{where}: {metric}", x, y, change, bad,
                             f"{worse_if} limit {limit:g}%"))
    return out
