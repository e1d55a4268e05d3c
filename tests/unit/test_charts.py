"""The report's line charts: a bound far above what was measured goes on a log axis whose
ticks read as numbers, and a bound series wears its variant's colour."""

from __future__ import annotations

import re

import pytest

from qexplore.report.charts import Series, line_chart

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
