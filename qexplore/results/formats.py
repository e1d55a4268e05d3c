"""How figures are written wherever people read them — the console, ``pareto.md``,
``report.html``, the recommendation, ``compare`` and ``history`` — one format per kind of
figure (``pareto.csv`` and ``results.json`` keep every digit):

- tok/s, sizes, ratios and scores: three significant digits, and never fewer digits than the
  whole part has (``0.300``, ``5.21``, ``82.1``, ``1,043``);
- percentages: one decimal (``99.4``);
- milliseconds: whole (``1,020``);
- counts: integers (``1,048,576``); a missing value: ``–``.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable
from typing import Any

MISSING = "–"


def sig3(x: float) -> str:
    """Three significant digits, thousands separated, whole digits kept."""
    rounded = float(f"{x:.3g}")  # 9.996 → 10.0: its decimals are those of the rounded value
    if rounded == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{x:,.{decimals}f}"


def pct(x: float) -> str:
    return f"{x:,.1f}"


def ms(x: float) -> str:
    return f"{x:,.0f}"


def kind_of(column: str) -> Callable[[float], str]:
    """The format of a column's floats, by its name: ``user_tps_p1``, ``ttft_ms_p99_lo``,
    ``recovery_pct``, ``pct_of_bound``, or a heading such as ``TTFT p99 ms`` or ``recovery %``."""
    base = column.removesuffix("_lo").removesuffix("_hi")
    if base.endswith(("_pct", " %")) or base.startswith(("recovery", "pct_")):
        return pct
    if "_ms" in base or base.endswith(" ms"):
        return ms
    return sig3


def figure_of(what: str) -> str:
    """The figure a comparison or trend names, as a column would ("short@16 users:
    ttft_ms_p99" → "ttft_ms_p99"; "gsm8k/exact_match" → "exact_match")."""
    return what.rpartition(": ")[2].rpartition("/")[2]


def cell(value: Any, column: str = "") -> str:
    """A value as a table cell shows it; ``column`` names its kind (see :func:`kind_of`)."""
    if value is None or value is _loaded("pandas", "NA"):
        return MISSING
    if isinstance(value, bool) or type(value) is _loaded("numpy", "bool_"):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):  # numpy's integers too
        return f"{value:,}"
    if isinstance(value, numbers.Real):  # numpy's floats too
        return MISSING if math.isnan(value) else kind_of(column)(float(value))
    return str(value)


def _loaded(module: str, name: str) -> Any:
    """``module.name`` if the module is loaded (a value of its types can exist only then), else
    a marker nothing is: so that formatting a number never imports pandas or numpy."""
    loaded = sys.modules.get(module)
    return getattr(loaded, name) if loaded is not None else _NOTHING


_NOTHING = object()
