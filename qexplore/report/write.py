"""Writes reports/<run-id>/: pareto.csv, pareto.md, results.json, report.html."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from qexplore.loadtest.metrics import LevelSummary
from qexplore.report import charts as charts_
from qexplore.report.charts import Bound, Series
from qexplore.results.formats import cell
from qexplore.results.pareto import SPEED_FIGURES, Recommendation, VariantRow
from qexplore.results.rounds import level_states, task_states
from qexplore.results.run import StoredLevel, StoredRun, level_bound
from qexplore.results.table import (
    comparisons_json,
    frame,
    level_verdicts,
    recommendation,
    variant_rows,
)


@dataclass
class Written:
    paths: dict[str, Path]
    rows: list[VariantRow]
    recommendation: Recommendation
    notice: str | None = None  # what to know before any figure (a speed-only run's limits)


def write_reports(run: StoredRun, out_dir: Path) -> Written:
    """Every report of one run, rebuilt from ``run``; returns their paths and the rows and
    recommendation they show."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = variant_rows(run)
    rec = recommendation(run, rows=rows) if rows else Recommendation(None, summary="No variants.")
    df = frame(rows)
    paths = {
        "csv": out_dir / "pareto.csv",
        "md": out_dir / "pareto.md",
        "json": out_dir / "results.json",
        "html": out_dir / "report.html",
    }
    df.to_csv(paths["csv"], index=False)
    paths["md"].write_text(markdown(run, df, rec))
    paths["json"].write_text(json.dumps(results_json(run, rows, rec), indent=1, default=str))
    paths["html"].write_text(html_page(run, df, rows, rec))
    return Written(paths, rows, rec, run.notice)


def provenance_lines(run: StoredRun) -> list[str]:
    p = run.provenance
    v = p.versions
    return [
        f"run {run.run_id} · recipe {run.recipe_name} · status {run.status}",
        f"qexplore {p.qexplore} · vLLM {v.get('vllm')} · llm-compressor {v.get('llmcompressor')}"
        f" · lm-eval {v.get('lm_eval')} · torch {v.get('torch')} · transformers {v.get('transformers')}",
        f"hardware: {p.hardware.line() if p.hardware else 'not recorded'}",
        f"git {p.git_sha or 'unknown'} · started {p.created_at}",
    ]


WITH_INTERVAL = (*SPEED_FIGURES, "speed_ratio")
# What a reader came for, in the order they read it: the console's table (point values) and
# the report's first table (with intervals); the rest is in the files and the report's detail.
HEADLINE = ["variant", "scheme", "status", "weights_gb", "recovery_pct", "accuracy_verdict",
            "speed_verdict", "at_users", "user_tps_p1", "output_tps", "ttft_ms_p99",
            "capacity_users", "pareto"]
WIDE = ["variant", "scheme", "status", "weights_gb", "recovery_pct", "accuracy_verdict",
        "speed_verdict", "speed_ratio", "at_users", "user_tps_p1", "output_tps", "pct_of_bound",
        "ttft_ms_p99", "capacity_users", "stalls", "trials_used", "docs_used",
        "pareto"]  # --wide, with intervals
HEADINGS = {"weights_gb": "weights GB", "recovery_pct": "recovery %",
            "accuracy_verdict": "accuracy", "speed_verdict": "speed", "at_users": "users",
            "user_tps_p1": "slowest-1% tok/s", "output_tps": "output tok/s",
            "ttft_ms_p99": "TTFT p99 ms", "capacity_users": "capacity", "pct_of_bound": "% of bound"}


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """Every value as its cell, each column in its figure's format (``results.formats``)."""
    return pd.DataFrame({c: [cell(v, c) for v in df[c]] for c in df.columns}, index=df.index)


def interval(df: pd.DataFrame, i: Any, column: str) -> str | None:
    """Row ``i``'s 95 % interval of ``column`` as text ("[23.0, 27.4]"), if it has one."""
    lo, hi = df.at[i, f"{column}_lo"], df.at[i, f"{column}_hi"]
    return None if pd.isna(lo) or pd.isna(hi) else f"[{cell(lo, column)}, {cell(hi, column)}]"


def shown(df: pd.DataFrame) -> pd.DataFrame:
    """The table as people read it in full: every cell formatted, each speed figure with its
    95 % interval in the same cell ("25.1 [23.0, 27.4]")."""
    out = cells(df)
    for c in WITH_INTERVAL:
        out[c] = [v if (ci := interval(df, i, c)) is None else f"{v} {ci}"
                  for i, v in zip(df.index, out[c], strict=True)]
    return out.drop(columns=[f"{c}_{end}" for c in WITH_INTERVAL for end in ("lo", "hi")])


def markdown(run: StoredRun, df: pd.DataFrame, rec: Recommendation) -> str:
    text = shown(df).map(lambda v: v.replace("|", "\\|"))
    table = text.to_markdown(index=False, disable_numparse=True)
    failures = [f"- {v.name}: {v.error}" for v in run.variants if v.error]
    slo = run.recipe.slo
    return "\n".join([
        f"# qexplore: {run.recipe_name}", "",
        *([f"> **{run.notice}**", ""] if run.notice else []),
        f"Target: {run.target_users()} users, SLO slowest-1% ≥ {slo.min_user_tps:g} tok/s per "
        "user" + ("; speed only." if run.speed_only else
                  f", accuracy loss ≤ {slo.max_accuracy_drop_pct:g}%."), "",
        "## Recommendation", "", *rec.lines(), "",
        "## Variants", "", table, "",
        *(["## Failures", "", *failures, ""] if failures else []),
        "## Provenance", "", *[f"- {x}" for x in provenance_lines(run)], "",
    ])


def results_json(run: StoredRun, rows: list[VariantRow], rec: Recommendation) -> dict[str, Any]:
    return {
        "run": {**run.model_dump(mode="json", include={
            "run_id", "recipe_name", "status", "started_at", "ended_at", "schema_version",
            "provenance", "recipe"}), "speed_only": run.speed_only, "notice": run.notice},
        "variants": [v.model_dump(mode="json", by_alias=True) for v in run.variants],
        "levels": [_level_json(run, lv) for lv in run.levels],
        "comparisons": comparisons_json(run),
        "speed": level_verdicts(run),
        "rounds": rounds_json(run),
        "pareto": [r.record() for r in rows],
        "recommendation": {"variant": rec.winner, "summary": rec.summary, "reasons": rec.reasons,
                           "suggestions": rec.suggestions, "warnings": rec.warnings},
    }


def rounds_json(run: StoredRun) -> dict[str, Any]:
    """What measuring until decided spent and reached: the planned rounds, and per variant and
    level its verdict, where it stands, its trials and the baseline's, its rounds; per variant
    and task of a chunked evaluation, the same in documents."""
    p = run.recipe.precision
    return {"max_rounds": p.max_rounds, "time_budget_min": p.time_budget_min,
            "first_docs": p.first_docs,
            "levels": [{"workload": s.workload, "users": s.users, "variant": s.variant,
                        "verdict": s.comparison.verdict, "state": s.state, "trials": s.trials,
                        "baseline_trials": s.base_trials, "rounds": s.rounds}
                       for s in level_states(run)],
            "tasks": [{"task": s.task, "variant": s.variant, "verdict": s.comparison.verdict,
                       "state": s.state, "docs": s.docs, "total": s.total,
                       "baseline_docs": s.base_docs, "looks": s.comparison.looks}
                      for s in task_states(run)]}


def _level_json(run: StoredRun, lv: StoredLevel) -> dict[str, Any]:
    """A stored level, with its decode bound and % of bound where the variant has an estimate."""
    return {**lv.model_dump(mode="json"),
            **asdict(level_bound(run.variant(lv.variant), lv.summary, lv.workload))}


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}.rec{background:#eef6ee;padding:8px 14px;
border-left:4px solid #2ca02c}.muted{color:#666}.scroll{overflow-x:auto}
table.headline td{white-space:nowrap}.ci{color:#666;font-size:12px}
.notice{background:#fff4e0;padding:8px 14px;border-left:4px solid #e69500}
svg text{font-family:system-ui,sans-serif}"""


def headline_html(df: pd.DataFrame) -> str:
    """The report's first table: the headline columns, each speed figure's 95 % interval in
    small type under its value (so the table stays narrow enough to read whole)."""
    text = cells(df)
    head = "".join(f"<th>{escape(HEADINGS.get(c, c.replace('_', ' ')))}</th>" for c in HEADLINE)
    body = []
    for i in df.index:
        tds = []
        for c in HEADLINE:
            ci = interval(df, i, c) if c in SPEED_FIGURES else None
            below = "" if ci is None else f'<br><span class="ci">{ci}</span>'
            tds.append(f"<td>{escape(text.at[i, c])}{below}</td>")
        body.append(f"<tr>{''.join(tds)}</tr>")
    return (f'<table class="headline"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def html_page(run: StoredRun, df: pd.DataFrame, rows: list[VariantRow], rec: Recommendation
              ) -> str:
    every = shown(df).to_html(index=False, border=0)
    rec_html = "".join(f"<li>{escape(x.removeprefix('- '))}</li>" for x in rec.lines()[1:])
    prov = "".join(f"<li>{escape(x)}</li>" for x in provenance_lines(run))
    recipe_json = escape(run.recipe.model_dump_json(indent=1))
    name = escape(run.recipe_name)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>qexplore — {name}</title><style>{CSS}</style></head><body>
<h1>qexplore: {name}</h1>
<p class="muted">{escape(run.run_id)} · {escape(run.status)}</p>
{f'<p class="notice"><b>{escape(run.notice)}</b></p>' if run.notice else ""}
<div class="rec"><p><b>{escape(rec.summary)}</b></p><ul>{rec_html}</ul></div>
<h2>Variants</h2>
<p class="muted">At {run.target_users()} users (the smallest measured level with at least that
many: "users"); under each speed figure its 95 % interval.</p>
<div class="scroll">{headline_html(df)}</div>
<details><summary>Every column (as in pareto.csv), with 95 % intervals</summary>
<div class="scroll">{every}</div></details>
<h2>Charts</h2><div class="charts">{''.join(charts(run, rows))}</div>
<h2>Provenance</h2><ul>{prov}</ul>
<details><summary>Resolved recipe</summary><pre>{recipe_json}</pre></details>
</body></html>
"""


def charts(run: StoredRun, rows: list[VariantRow]) -> list[str]:
    """The report's charts: the accuracy/speed front, per-level curves with their 95 %
    intervals as bands, accuracy per task with ± stderr."""
    slo = run.recipe.slo.min_user_tps
    levels = {v.name: run.closed_loop(v.name) for v in run.variants}

    def curve(figure: str) -> list[Series]:
        return [_series(n, ls, figure) for n, ls in levels.items()]

    users = "concurrent users"
    front = [(r.variant, r.user_tps_p1, r.recovery_pct, bool(r.pareto)) for r in rows if r.ok]
    budget = run.recipe.slo.max_accuracy_drop_pct
    return [
        charts_.scatter(f"Accuracy (% of baseline) vs slowest-1% user tok/s at "
                        f"{run.target_users()} users", front, "slowest-1% user tok/s",
                        "accuracy, % of baseline", y_spans=(100 - budget, 100)),
        charts_.line_chart("Slowest-1% user tok/s (95% interval)", curve("user_tps.p1"), users,
                           "tok/s per user", [Bound(slo, f"SLO {slo:g}")]),
        charts_.line_chart("Output tok/s, all users (95% interval; dashed: decode bound)",
                           curve("output_tps") + _bounds(run, levels), users, "tok/s",
                           log_y=None),
        charts_.line_chart("TTFT p99, ms (95% interval)", curve("ttft_ms.p99"), users, "ms"),
        *(charts_.bars(f"{task}: {metric} (± stderr)", values, metric)
          for (task, metric), values in _accuracy_groups(run).items()),
    ]


def _series(name: str, levels: list[LevelSummary], figure: str) -> Series:
    """A variant's curve of one figure over its levels, with a band where every point has an
    interval."""
    points = [(s, y) for s in levels if (y := s.value(figure)) is not None]
    bands = [s.interval(figure) for s, _ in points]
    return Series(name, [(s.concurrency, y) for s, y in points],
                  [b for b in bands if b] if all(bands) and bands else None)


def _bounds(run: StoredRun, levels: dict[str, list[LevelSummary]]) -> list[Series]:
    """Each variant's roofline bound at its measured levels, drawn dashed in its colour."""
    out = []
    for name, ls in levels.items():
        v = run.variant(name)
        pts = [(s.concurrency, b) for s in ls
               if (b := level_bound(v, s, run.primary_workload()).bound_tps) is not None]
        out.append(Series(f"{name} bound", pts, bound_of=name))
    return out


def _accuracy_groups(run: StoredRun) -> dict[tuple[str, str], dict[str, tuple[float, float | None]]]:
    """Per (task, primary metric): each evaluated variant's score and stderr."""
    groups: dict[tuple[str, str], dict[str, tuple[float, float | None]]] = {}
    for v in run.variants:
        for task in v.eval.tasks if v.eval else {}:
            metric, m = v.eval.primary(task)  # type: ignore[union-attr]
            if m.value is not None:
                groups.setdefault((task, metric), {})[v.name] = (m.value, m.stderr)
    return groups
