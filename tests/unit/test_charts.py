"""The report's line charts: a bound far above what was measured goes on a log axis whose
ticks read as numbers, and a bound series wears its variant's colour."""

from __future__ import annotations

import re

import pytest

from qexplore.report.charts import Series, line_chart, scatter

pytestmark = pytest.mark.unit


def test_a_bound_far_above_the_measurement_goes_on_a_log_axis() -> None:
    measured = Series("bf16", [(1, 100.0), (4, 250.0)])
    bound = Series("bf16 bound", [(1, 4_000.0), (4, 15_000.0)], bound_of="bf16")
    svg = line_chart("t", [bound, measured], "users", "tok/s", log_y=None)
    ticks = re.findall(r">([\d,]+)<", svg)
    assert "10,000" in ticks and "1,000" in ticks  # decades, written as plain numbers
    assert "mathdefault" not in svg
    linear = line_chart("t", [measured], "users", "tok/s", log_y=None)  # a 2.5× span
    assert "10,000" not in re.findall(r">([\d,]+)<", linear)


def test_a_bound_is_drawn_dashed_in_its_variants_colour() -> None:
    measured = Series("bf16", [(1, 100.0), (4, 250.0)])
    bound = Series("bf16 bound", [(1, 400.0), (4, 900.0)], bound_of="bf16")
    svg = line_chart("t", [bound, measured], "users", "tok/s")
    styles = re.findall(r'style="fill: none; stroke-dasharray: [^"]*stroke: (#[0-9a-f]{6})', svg)
    solid = re.findall(r'style="fill: none; stroke: (#[0-9a-f]{6}); stroke-width: 1\.5', svg)
    assert styles and solid and styles[0] == solid[0]


def _tick_values(svg: str) -> list[float]:
    return [float(t.replace(",", "").replace("−", "-"))
            for t in re.findall(r">(−?[\d,]+(?:\.\d+)?)<", svg)]


def test_an_accuracy_axis_spans_the_budget_and_has_no_offset() -> None:
    # The demo on an AVX-512 CPU: recoveries 100.0 and 99.99 (noise) drew an axis reading
    # "+9.999e1" with ticks 0.010 … -0.002, a 0.01-point span stretched to fill the chart.
    # Against a 2-point budget the axis reaches at least 98 … 100, every tick its own value.
    points = [("bf16", 82.1, 100.0, True), ("int8", 30.3, 99.99, False)]
    svg = scatter("t", points, "tok/s", "accuracy, % of baseline", y_spans=(98.0, 100.0))
    texts = [t.strip() for t in re.findall(r">([^<>]+)<", svg) if t.strip()]
    assert not [t for t in texts if t.startswith("+") or re.search(r"\de[+-]?\d", t)], texts
    ys = [v for v in _tick_values(svg) if 90 < v < 110]  # the y ticks (x ticks are 30 … 80)
    assert ys and min(ys) <= 98.0 and max(ys) >= 100.0
    assert all(abs(v) >= 1 for v in _tick_values(svg))  # no tick reads as an offset's remainder
