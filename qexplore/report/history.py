"""The history report: a self-contained HTML page of a recipe's runs — a trend chart per
variant and the table of every point."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd

from qexplore.report.charts import Series, line_chart
from qexplore.report.write import CSS, format_value
from qexplore.results.history import HistoryPoint

COLUMNS = ["run", "status", "variant", "recovery %", "user tok/s p1", "output tok/s"]


def history_frame(points: list[HistoryPoint]) -> pd.DataFrame:
    """One row per (run, variant): the run, its status and the variant's headline numbers."""
    rows = [[p.run_id, p.run_status, p.row.variant, p.row.recovery_pct, p.row.user_tps_p1,
             p.row.output_tps] for p in points]
    return pd.DataFrame(rows, columns=COLUMNS)


def write_history(points: list[HistoryPoint], path: Path, title: str = "") -> Path:
    """The page at ``path``: output tok/s at the target users by run, per variant, and the
    table."""
    series: dict[str, list[tuple[float, float]]] = {}
    for p in points:
        if p.row.output_tps is not None:
            series.setdefault(p.row.variant, []).append((p.index, p.row.output_tps))
    chart = line_chart("Output tok/s at the target users, by run",
                       [Series(n, pts) for n, pts in series.items()], "run #", "tok/s",
                       log_x=False)
    df = history_frame(points)
    table = df.to_html(index=False, border=0, formatters={c: format_value for c in df.columns})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>qexplore history</title><style>{CSS}</style></head><body>
<h1>qexplore history {escape(title)}</h1>{chart}<div class="scroll">{table}</div></body></html>
""")
    return path
