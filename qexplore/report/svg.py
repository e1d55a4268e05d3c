"""Small inline-SVG charts (no scripts, no network). Every label passes through html.escape."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 300, 60, 140, 20, 45
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def _scale(lo: float, hi: float, a: float, b: float, log: bool = False):  # type: ignore[no-untyped-def]
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = (hi - lo) or 1.0

    def f(x: float) -> float:
        v = math.log10(x) if log else x
        return a + (v - lo) / span * (b - a)

    return f


def _frame(title: str, x_label: str, y_label: str, body: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" '
        f'height="{H - PAD_T - PAD_B}" fill="none" stroke="#999"/>{body}'
        f'<text x="{(W - PAD_R + PAD_L) / 2}" y="{H - 8}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="14" y="{(H - PAD_B + PAD_T) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(H - PAD_B + PAD_T) / 2})">{escape(y_label)}</text></svg>'
    )


def precision(lo: float, hi: float) -> str:
    """A number format that tells ticks between ``lo`` and ``hi`` apart."""
    span = abs(hi - lo)
    if span == 0 or span >= 50:
        return ",.0f"
    return f".{min(4, max(1, math.ceil(-math.log10(span / 4)) + 1))}f"


def _ticks(xs: Sequence[float], sx, ys_lo: float, ys_hi: float, sy, y_fmt: str) -> str:  # type: ignore[no-untyped-def]
    out = []
    for x in sorted(set(xs)):
        out.append(f'<text x="{sx(x):.1f}" y="{H - PAD_B + 15}" text-anchor="middle" '
                   f'font-size="11">{x:g}</text>')
    for k in range(5):
        y = ys_lo + (ys_hi - ys_lo) * k / 4
        out.append(f'<text x="{PAD_L - 5}" y="{sy(y) + 4:.1f}" text-anchor="end" '
                   f'font-size="11">{y:{y_fmt}}</text>')
    return "".join(out)


def line_chart(title: str, series: dict[str, list[tuple[float, float]]], x_label: str,
               y_label: str, hline: float | None = None, hline_label: str = "") -> str:
    """Lines of (x, y) per series name, log x axis (users), optional horizontal SLO line."""
    pts = [(x, y) for s in series.values() for x, y in s if y is not None]
    if not pts:
        return f"<p>{escape(title)}: nothing measured.</p>"
    xs = [x for x, _ in pts]
    y_hi = max([y for _, y in pts] + ([hline] if hline else [])) * 1.1 or 1.0
    log = min(xs) > 0 and max(xs) / min(xs) >= 8
    sx = _scale(min(xs), max(xs), PAD_L + 10, W - PAD_R - 10, log)
    sy = _scale(0, y_hi, H - PAD_B, PAD_T)
    body = [_ticks(xs, sx, 0, y_hi, sy, precision(0, y_hi))]
    if hline is not None:
        body.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(hline):.1f}" y2="{sy(hline):.1f}" '
                    f'stroke="#444" stroke-dasharray="6 4"/><text x="{W - PAD_R - 4}" '
                    f'y="{sy(hline) - 4:.1f}" text-anchor="end" font-size="11">'
                    f'{escape(hline_label)}</text>')
    for i, (name, s) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        good = [(sx(x), sy(y)) for x, y in sorted(s) if y is not None]
        if good:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in good)
            body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in good]
        body.append(_legend(i, name, color))
    return _frame(title, x_label, y_label, "".join(body))


def _legend(i: int, name: str, color: str) -> str:
    y = PAD_T + 14 + 18 * i
    return (f'<rect x="{W - PAD_R + 10}" y="{y - 9}" width="12" height="12" fill="{color}"/>'
            f'<text x="{W - PAD_R + 28}" y="{y + 1}" font-size="12">{escape(name)}</text>')


def scatter(title: str, points: list[tuple[str, float | None, float | None, bool]], x_label: str,
            y_label: str) -> str:
    """Named points (name, x, y, on_front); front points are filled."""
    pts = [(n, x, y, f) for n, x, y, f in points if x is not None and y is not None]
    if not pts:
        return f"<p>{escape(title)}: needs both speed and accuracy measured.</p>"
    xs, ys = [p[1] for p in pts], [p[2] for p in pts]
    xpad = (max(xs) - min(xs)) * 0.15 or max(xs) * 0.1 or 1
    ypad = (max(ys) - min(ys)) * 0.15 or max(abs(max(ys)) * 0.001, 0.01)
    x_lo, x_hi = max(0.0, min(xs) - xpad), max(xs) + xpad  # speeds are never negative
    y_lo, y_hi = min(ys) - ypad, max(ys) + ypad
    sx = _scale(x_lo, x_hi, PAD_L, W - PAD_R)
    sy = _scale(y_lo, y_hi, H - PAD_B, PAD_T)
    body = [_ticks([], sx, y_lo, y_hi, sy, precision(y_lo, y_hi))]
    for k in range(5):
        x = x_lo + (x_hi - x_lo) * k / 4
        body.append(f'<text x="{sx(x):.1f}" y="{H - PAD_B + 15}" text-anchor="middle" '
                    f'font-size="11">{x:{precision(x_lo, x_hi)}}</text>')
    for i, (name, x, y, front) in enumerate(pts):
        color = COLORS[i % len(COLORS)]
        fill = color if front else "white"
        body.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="7" fill="{fill}" '
                    f'stroke="{color}" stroke-width="2"><title>{escape(name)}</title></circle>')
        body.append(_legend(i, name + ("" if front else " (dominated)"), color))
    return _frame(title, x_label, y_label, "".join(body))


def bars(title: str, groups: dict[str, dict[str, tuple[float, float | None]]], y_label: str
         ) -> str:
    """Grouped bars: groups[task][variant] = (value, stderr) with error bars."""
    vals = [v + (e or 0) for g in groups.values() for v, e in g.values() if v is not None]
    if not vals:
        return f"<p>{escape(title)}: nothing measured.</p>"
    names = list(dict.fromkeys(n for g in groups.values() for n in g))
    y_hi = max(vals) * 1.1 or 1.0
    sy = _scale(0, y_hi, H - PAD_B, PAD_T)
    gw = (W - PAD_L - PAD_R) / max(1, len(groups))
    bw = gw * 0.8 / max(1, len(names))
    body = [_ticks([], None, 0, y_hi, sy, precision(0, y_hi))]
    for gi, (task, g) in enumerate(groups.items()):
        x0 = PAD_L + gi * gw + gw * 0.1
        body.append(f'<text x="{x0 + gw * 0.4:.1f}" y="{H - PAD_B + 15}" text-anchor="middle" '
                    f'font-size="11">{escape(task)}</text>')
        for ni, name in enumerate(names):
            if name not in g or g[name][0] is None:
                continue
            v, e = g[name]
            x, color = x0 + ni * bw, COLORS[ni % len(COLORS)]
            body.append(f'<rect x="{x:.1f}" y="{sy(v):.1f}" width="{bw * 0.9:.1f}" '
                        f'height="{sy(0) - sy(v):.1f}" fill="{color}"><title>{escape(name)}: '
                        f'{v:.4f}</title></rect>')
            if e:
                cx = x + bw * 0.45
                body.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{sy(v - e):.1f}" '
                            f'y2="{sy(v + e):.1f}" stroke="#000"/>')
    body += [_legend(i, n, COLORS[i % len(COLORS)]) for i, n in enumerate(names)]
    return _frame(title, "task", y_label, "".join(body))
