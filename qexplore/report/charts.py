"""The report's charts, drawn by matplotlib and inlined as SVG: no scripts, no network, text kept
as text (matplotlib escapes it), every chart with a title, axis units and a legend.

Each chart has its own id salt, so several of them can share one HTML page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

SIZE = (6.4, 3.6)  # inches
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


@dataclass(frozen=True)
class Series:
    """One line: ``(x, y)`` points, and optionally a band ``(lo, hi)`` per point, in the
    points' x order (a confidence interval). A series ``bound_of`` another is drawn dashed,
    without markers, in that series' colour (its roofline bound). ``marks`` are points drawn
    as a red cross on top (regressions)."""

    name: str
    points: Sequence[tuple[float, float]]
    band: Sequence[tuple[float, float]] | None = None
    bound_of: str | None = None
    marks: Sequence[tuple[float, float]] = ()


@dataclass(frozen=True)
class Bound:
    """A horizontal line on a chart: an SLO floor, a roofline bound."""

    y: float
    label: str


@contextmanager
def _figure(title: str, x_label: str, y_label: str) -> Iterator[tuple[Figure, Axes]]:
    # no offset notation ("+9.999e1" above ticks 0.010 … -0.002): every tick its own value
    with mpl.rc_context({"svg.fonttype": "none", "text.parse_math": False, "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False,
                         "axes.formatter.useoffset": False, "svg.hashsalt": title}):
        fig = Figure(figsize=SIZE, layout="constrained")
        ax = fig.add_subplot()
        ax.set(title=title, xlabel=x_label, ylabel=y_label)
        ax.grid(alpha=0.3)
        yield fig, ax


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1))
    return svg.replace("<svg ", '<svg class="chart" role="img" ', 1)


def nothing(title: str, why: str) -> str:
    return f"<p>{escape(title)}: {escape(why)}.</p>"


def line_chart(title: str, series: Sequence[Series], x_label: str, y_label: str,
               bounds: Sequence[Bound] = (), log_x: bool | None = None,
               log_y: bool | None = False) -> str:
    """Lines over x, with optional bands and horizontal bounds; x on a log scale when
    ``log_x``, by default when it spans 8× or more (as user counts do); y likewise when
    ``log_y`` is None and it spans 20× or more (a bound far above what was measured)."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return nothing(title, "nothing measured")
    xs = [x for s in drawn for x, _ in s.points]
    with _figure(title, x_label, y_label) as (fig, ax):
        colours: dict[str, str] = {}
        for s in sorted(drawn, key=lambda s: s.bound_of is not None):  # measured lines first
            pts = sorted(s.points)
            style = {"marker": "o"} if s.bound_of is None else {
                "linestyle": "--", "linewidth": 1, "color": colours.get(s.bound_of)}
            line, = ax.plot([x for x, _ in pts], [y for _, y in pts], label=s.name, **style)
            colours[s.name] = to_hex(line.get_color())
            if s.band:
                ax.fill_between([x for x, _ in pts], [lo for lo, _ in s.band],
                                [hi for _, hi in s.band], color=line.get_color(), alpha=0.2)
        marked = [xy for s in drawn for xy in s.marks]
        if marked:
            ax.scatter([x for x, _ in marked], [y for _, y in marked], marker="x", s=90,
                       linewidths=2.5, color="#c00", zorder=5, label="regression")
        for b in bounds:
            ax.axhline(b.y, color="#444", linestyle="--", linewidth=1, label=b.label)
        if log_x or (log_x is None and min(xs) > 0 and max(xs) / min(xs) >= 8):
            ax.set_xscale("log")
        ax.set_xticks(sorted(set(xs)), [f"{x:g}" for x in sorted(set(xs))])
        ys = [y for s in drawn for _, y in s.points]
        if log_y or (log_y is None and min(ys) > 0 and max(ys) / min(ys) >= 20):
            ax.set_yscale("log")  # ticks as plain numbers: the page's text is not math
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.12g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(bottom=0)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        return _svg(fig)


def scatter(title: str, points: Sequence[tuple[str, float | None, float | None, bool]],
            x_label: str, y_label: str, y_spans: tuple[float, float] | None = None) -> str:
    """Named points ``(name, x, y, on_front)``: front points filled, dominated ones hollow.
    The y axis spans at least ``y_spans`` (an accuracy budget: differences far inside it then
    look as small as they are, not stretched to fill the chart)."""
    shown = [(n, x, y, f) for n, x, y, f in points if x is not None and y is not None]
    if not shown:
        return nothing(title, "needs both speed and accuracy measured")
    with _figure(title, x_label, y_label) as (fig, ax):
        for i, (name, x, y, front) in enumerate(shown):
            color = f"C{i % 10}"
            ax.scatter([x], [y], s=60, color=color if front else "white", edgecolors=color,
                       linewidths=2, label=name + ("" if front else " (dominated)"), zorder=3)
        ax.margins(0.15)
        if y_spans is not None:
            lo, hi = ax.get_ylim()
            pad = 0.1 * (y_spans[1] - y_spans[0])
            ax.set_ylim(min(lo, y_spans[0] - pad), max(hi, y_spans[1] + pad))
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        return _svg(fig)


def bars(title: str, values: dict[str, tuple[float, float | None]], y_label: str) -> str:
    """One bar per name, ``(value, stderr)``, with ±stderr error bars."""
    if not values:
        return nothing(title, "nothing measured")
    names = list(values)
    with _figure(title, "variant", y_label) as (fig, ax):
        ax.bar(names, [v for v, _ in values.values()],
               yerr=[e or 0.0 for _, e in values.values()], capsize=4,
               color=[f"C{i % 10}" for i in range(len(names))])
        return _svg(fig)
