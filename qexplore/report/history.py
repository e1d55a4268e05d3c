"""The history report: a self-contained HTML page of a recipe's runs — the runs with their gate,
what regressed and what changed; one trend chart per figure (a line per variant, its 95 %
interval as a band, regressions as red crosses); the table of every point. No scripts."""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

import pandas as pd

from qexplore.report.charts import Series, line_chart
from qexplore.report.write import CSS
from qexplore.results.formats import cell, figure_of
from qexplore.results.history import Figure, History

COLUMNS = ["run", "status", "variant", "recovery %", "user tok/s p1", "output tok/s",
           "TTFT p99 ms", "regressed"]
MARK = ".reg{color:#c00;font-weight:600}"
UNITS = {"output_tps": "tok/s", "user_tps_p1": "tok/s", "ttft_ms_p99": "ms",
         "pct_of_bound": "% of bound"}


def history_frame(h: History) -> pd.DataFrame:
    """One row per (run, variant): the run, its status, the variant's headline numbers at the
    target users and the figures that regressed against the run before."""
    regressed: dict[tuple[str, str], list[str]] = {}
    for f in h.figures:
        if f.regression:
            regressed.setdefault((f.run_id, f.variant), []).append(f.what.split(": ")[-1])
    rows = [[p.run_id, p.run_status, p.row.variant, p.row.recovery_pct, p.row.user_tps_p1,
             p.row.output_tps, p.row.ttft_ms_p99,
             ", ".join(regressed.get((p.run_id, p.row.variant), [])) or None] for p in h.points]
    return pd.DataFrame(rows, columns=COLUMNS)


def _runs_table(h: History) -> str:
    rows = "".join(
        f"<tr><td>{r.index}</td><td>{escape(r.run_id)}</td>"
        f"<td>{time.strftime('%Y-%m-%d %H:%M', time.localtime(r.started_at))}</td>"
        f"<td>{escape(r.status)}</td><td>{escape(r.gate or '–')}</td>"
        f"<td class=\"left\">{_list(r.regressions, 'reg')}</td>"
        f"<td class=\"left\">{_list(r.changes)}</td></tr>" for r in h.runs)
    return ("<table><tr><th>#</th><th>run</th><th>started</th><th>status</th><th>gate</th>"
            "<th>regressed against the run before</th><th>what changed since the run before</th>"
            f"</tr>{rows}</table>")


def _list(items: list[str], cls: str = "") -> str:
    if not items:
        return "–"
    attr = f' class="{cls}"' if cls else ""
    return "<ul>" + "".join(f"<li{attr}>{escape(x)}</li>" for x in items) + "</ul>"


def _chart(what: str, figures: list[Figure]) -> str:
    by_variant: dict[str, list[Figure]] = {}
    for f in figures:
        by_variant.setdefault(f.variant, []).append(f)
    series = []
    for name, fs in by_variant.items():
        fs = sorted(fs, key=lambda f: f.index)
        known = [(f.lo, f.hi) for f in fs if f.lo is not None and f.hi is not None]
        band = known if len(known) == len(fs) else None  # a band only where every point has one
        series.append(Series(name, [(f.index, f.value) for f in fs], band,
                             marks=[(f.index, f.value) for f in fs if f.regression]))
    return line_chart(what, series, "run #", UNITS.get(figure_of(what), "score"), log_x=False)


def _points_table(h: History) -> str:
    df = pd.DataFrame([[cell(f.index), f.run_id, f.variant, f.what,
                        *(cell(x, figure_of(f.what)) for x in (f.value, f.lo, f.hi)),
                        f.regression or ""] for f in h.figures],
                      columns=["#", "run", "variant", "figure", "value", "95% lo", "95% hi",
                               "regression against the run before"])
    return str(df.to_html(index=False, border=0))


def write_history(h: History, path: Path, title: str = "") -> Path:
    """The page at ``path``."""
    whats = list(dict.fromkeys(f.what for f in h.figures))
    charts = "".join(_chart(w, [f for f in h.figures if f.what == w]) for w in whats)
    marked = sum(1 for f in h.figures if f.regression)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>qexplore history {escape(title)}</title><style>{CSS}{MARK}
td.left{{text-align:left}}td ul{{margin:0;padding-left:16px}}</style></head><body>
<h1>qexplore history {escape(title)}</h1>
<p class="muted">{len(h.runs)} runs · {marked} regressed figure(s) marked ✕ · each run is
compared with the run of its recipe before it (the gate's rules: a significant change beyond
the limits); bands are 95 % intervals</p>
<h2>Runs</h2><div class="scroll">{_runs_table(h)}</div>
<h2>Trends at the target users</h2><div class="charts">{charts}</div>
<h2>Every point</h2><div class="scroll">{_points_table(h)}</div></body></html>
""")
    return path
