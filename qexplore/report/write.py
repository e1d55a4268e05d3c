"""Writes reports/<run-id>/: pareto.csv, pareto.md, results.json, report.html."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from qexplore.report import svg
from qexplore.report.data import RunData, comparisons_json, recommendation, variant_levels, variant_table
from qexplore.results.pareto import Recommendation, as_records

TABLE_COLS = ["variant", "scheme", "status", "weights_gb", "bits_per_weight", "recovery_pct",
              "accuracy_verdict", "at_users", "user_tps_p1", "output_tps", "ttft_ms_p99",
              "capacity_users", "kv_cache_tokens", "pareto"]


@dataclass
class Written:
    paths: dict[str, Path]
    table: pd.DataFrame
    recommendation: Recommendation


def write_reports(data: RunData, out_dir: Path) -> Written:
    """Every report of one run, rebuilt from ``data``; returns their paths and the table and
    recommendation they show."""
    out_dir.mkdir(parents=True, exist_ok=True)
    df = variant_table(data)
    rec = (recommendation(data, table=df) if not df.empty
           else Recommendation(None, summary="No variants."))
    cols = [c for c in TABLE_COLS if c in df] + sorted(c for c in df if c.startswith("recovery_")
                                                       and c != "recovery_pct")
    paths = {
        "csv": out_dir / "pareto.csv",
        "md": out_dir / "pareto.md",
        "json": out_dir / "results.json",
        "html": out_dir / "report.html",
    }
    df[cols].to_csv(paths["csv"], index=False)
    paths["md"].write_text(markdown(data, df[cols], rec))
    paths["json"].write_text(json.dumps(results_json(data, df, rec), indent=1, default=str))
    paths["html"].write_text(html_page(data, df[cols], rec))
    return Written(paths, df, rec)


def format_value(v: Any) -> str:
    """A table cell: '–' for missing, thousands separators, 3 decimals below 10."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)


def provenance_lines(data: RunData) -> list[str]:
    p = data.run["provenance"]
    v, hw = p.get("versions", {}), p.get("hardware", {})
    gpus = ", ".join(g["name"] for g in hw.get("gpus", [])) or "no GPU"
    isa = f" ({hw['cpu_isa']})" if hw.get("cpu_isa") else ""
    return [
        f"run {data.run['run_id']} · recipe {data.run['recipe_name']} · status {data.run['status']}",
        f"qexplore {p.get('qexplore')} · vLLM {v.get('vllm')} · llm-compressor {v.get('llmcompressor')}"
        f" · lm-eval {v.get('lm_eval')} · torch {v.get('torch')} · transformers {v.get('transformers')}",
        f"hardware: {hw.get('cpu')}{isa}, {hw.get('cores')} cores, {hw.get('ram_gb')} GiB RAM, {gpus}",
        f"git {p.get('git_sha') or 'unknown'} · started {p.get('created_at')}",
    ]


def markdown(data: RunData, df: pd.DataFrame, rec: Recommendation) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    body = "".join("| " + " | ".join(format_value(v).replace("|", "\\|") for v in row) + " |\n"
                   for row in df.itertuples(index=False))
    failures = [f"- {v['variant']}: {v['error']}" for v in data.variants if v.get("error")]
    return "\n".join([
        f"# qexplore: {data.run['recipe_name']}", "",
        f"Target: {data.target_users()} users, SLO slowest-1% ≥ "
        f"{data.recipe['slo']['min_user_tps']:g} tok/s per user, accuracy loss ≤ "
        f"{data.recipe['slo']['max_accuracy_drop_pct']:g}%.", "",
        "## Recommendation", "", *rec.lines(), "",
        "## Variants", "", head + body,
        *(["## Failures", "", *failures, ""] if failures else []),
        "## Provenance", "", *[f"- {x}" for x in provenance_lines(data)], "",
    ])


def results_json(data: RunData, df: pd.DataFrame, rec: Recommendation) -> dict[str, Any]:
    return {
        "run": {k: data.run[k] for k in ("run_id", "recipe_name", "status", "started_at",
                                          "ended_at", "schema_version", "provenance", "recipe")},
        "variants": data.variants,
        "levels": data.levels,
        "comparisons": comparisons_json(data),
        "pareto": as_records(df),
        "recommendation": {"variant": rec.winner, "summary": rec.summary, "reasons": rec.reasons,
                           "suggestions": rec.suggestions},
    }


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}.rec{background:#eef6ee;padding:8px 14px;
border-left:4px solid #2ca02c}.muted{color:#666}.scroll{overflow-x:auto}
svg text{font-family:system-ui,sans-serif}"""


def html_page(data: RunData, df: pd.DataFrame, rec: Recommendation) -> str:
    names = [v["variant"] for v in data.variants]
    slo = float(data.recipe["slo"]["min_user_tps"])

    def curve(key: str, sub: str | None) -> dict[str, list[tuple[float, float]]]:
        return {n: [(s.concurrency, getattr(s, key)[sub] if sub else getattr(s, key))
                    for s in variant_levels(data, n)] for n in names}

    front = [(str(r["variant"]), r["user_tps_p1"], r["recovery_pct"], bool(r["pareto"]))
             for _, r in df.iterrows() if r["status"] == "ok"]
    charts = [
        svg.scatter(f"Accuracy vs per-user speed at {data.target_users()} users", front,
                    "slowest-1% user tok/s", "accuracy, % of baseline"),
        svg.line_chart("Slowest-1% user tok/s", curve("user_tps", "p1"), "concurrent users",
                       "tok/s per user", slo, f"SLO {slo:g}"),
        svg.line_chart("Output tok/s (all users)", curve("output_tps", None), "concurrent users",
                       "tok/s"),
        svg.line_chart("TTFT p99", curve("ttft_ms", "p99"), "concurrent users", "ms"),
        *(svg.bars(f"{task} (± stderr)", {task: g}, task.split(" (")[-1].rstrip(")"))
          for task, g in _accuracy_groups(data).items()),
    ]
    table = "<table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in df.columns) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{escape(format_value(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)) + "</table>"
    rec_items = [x.removeprefix("- ") for x in rec.lines()[1:]]
    rec_html = "".join(f"<li>{escape(x)}</li>" for x in rec_items)
    prov = "".join(f"<li>{escape(x)}</li>" for x in provenance_lines(data))
    recipe_yaml = escape(json.dumps(data.recipe, indent=1))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>qexplore — {escape(data.run['recipe_name'])}</title><style>{CSS}</style></head><body>
<h1>qexplore: {escape(data.run['recipe_name'])}</h1>
<p class="muted">{escape(data.run['run_id'])} · {escape(str(data.run['status']))}</p>
<div class="rec"><p><b>{escape(rec.summary)}</b></p><ul>{rec_html}</ul></div>
<h2>Variants</h2><div class="scroll">{table}</div>
<h2>Charts</h2><div class="charts">{''.join(charts)}</div>
<h2>Provenance</h2><ul>{prov}</ul>
<details><summary>Resolved recipe</summary><pre>{recipe_yaml}</pre></details>
</body></html>
"""


def _accuracy_groups(data: RunData) -> dict[str, dict[str, tuple[float, float | None]]]:
    groups: dict[str, dict[str, tuple[float, float | None]]] = {}
    for v in data.variants:
        for task, metrics in ((v.get("eval") or {}).get("tasks") or {}).items():
            m = next(iter(metrics.values()))
            groups.setdefault(f"{task} ({next(iter(metrics))})", {})[v["variant"]] = (
                m["value"], m["stderr"])
    return groups
