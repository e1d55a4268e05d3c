"""One number format per kind of figure, wherever people read it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qexplore.results.formats import cell, figure_of, kind_of, ms, pct, sig3

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("x", "text"), [
    (0.3, "0.300"), (5.213, "5.21"), (82.14, "82.1"), (1_043.3, "1,043"), (12_345.6, "12,346"),
    (0.006871, "0.00687"), (0.0, "0"), (-2.5, "-2.50"), (9.996, "10.0"), (99.96, "100")])
def test_three_significant_digits_keep_every_whole_digit(x: float, text: str) -> None:
    assert sig3(x) == text


def test_each_column_has_its_kind() -> None:
    # the defects of the first AVX-512 demo: "pct_of_bound 5.300", "user_tps_p1 5.210"
    assert cell(5.3, "pct_of_bound") == "5.3" and cell(0.3, "pct_of_bound") == "0.3"
    assert cell(5.21, "user_tps_p1") == "5.21" and cell(1_043.3, "output_tps_lo") == "1,043"
    assert cell(1_019.6, "ttft_ms_p99") == "1,020" and cell(12.4, "TTFT p99 ms") == "12"
    assert cell(99.44, "recovery_pct") == "99.4" and cell(99.44, "recovery_demo_add_mc") == "99.4"
    assert cell(99.44, "recovery %") == "99.4"
    assert (kind_of("weights_gb"), kind_of("speed_ratio")) == (sig3, sig3)
    assert (kind_of("change_pct"), kind_of("e2e_ms_p50_hi")) == (pct, ms)


def test_missing_counts_and_flags() -> None:
    assert [cell(v) for v in (None, float("nan"), pd.NA, np.float32("nan"))] == ["–"] * 4
    assert cell(np.int64(1_048_576)) == "1,048,576" and cell(16) == "16"
    assert (cell(True), cell(np.bool_(False)), cell("same")) == ("yes", "no", "same")
    assert cell(np.float64(0.3), "output_tps") == "0.300"


def test_a_comparisons_figure_is_its_last_name() -> None:
    assert figure_of("short@16 users: ttft_ms_p99") == "ttft_ms_p99"
    assert figure_of("gsm8k/exact_match") == "exact_match" and figure_of("acc") == "acc"
