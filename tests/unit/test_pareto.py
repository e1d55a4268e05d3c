"""Pareto flags and recommendations on hand-made tables."""

from __future__ import annotations

import math

import pytest

from qexplore.results.pareto import Constraints, VariantRow, pareto_flags, recommend

pytestmark = pytest.mark.unit
COLS = ["variant", "scheme", "status", "recovery_pct", "user_tps_p1", "output_tps", "weights_gb",
        "levels_p1", "accuracy_verdict"]


def table(*rows: tuple) -> list[VariantRow]:  # type: ignore[type-arg]
    def cell(v: object) -> object:
        return None if isinstance(v, float) and math.isnan(v) else v

    return [VariantRow(**{c: cell(v) for c, v in zip(COLS, r, strict=True)}) for r in rows]


# levels_p1: slowest-1 % user tok/s at each measured user count (100 is the target)
FP16 = ("fp16", "baseline", "ok", 100.0, 8.0, 800.0, 16.0, {1: 40, 50: 21, 100: 8}, "baseline")
INT8 = ("int8", "W8A8", "ok", 99.5, 12.0, 1100.0, 8.5, {1: 50, 50: 25, 100: 12}, "equivalent")
INT4 = ("int4", "W4A16", "ok", 97.0, 14.0, 1000.0, 5.0, {1: 60, 50: 30, 100: 14}, "worse")


def test_flags() -> None:
    # int8 beats fp16 on speed and size but not accuracy; int4 is smallest and fastest per user
    assert pareto_flags(table(FP16, INT8, INT4)) == [True, True, True]
    dominated = ("int8-bad", "W8A8", "ok", 99.0, 11.0, 1000.0, 8.5, {}, "equivalent")  # ≤ int8 on all
    assert pareto_flags(table(INT8, dominated)) == [True, False]


def test_ties_are_not_domination() -> None:
    twin = ("int8-copy", *INT8[1:])
    assert pareto_flags(table(INT8, twin)) == [True, True]


def test_one_variant_only_and_failed_rows() -> None:
    assert pareto_flags(table(FP16)) == [True]
    failed = ("int4", "W4A16", "failed", math.nan, math.nan, math.nan, 5.0, None, None)
    assert pareto_flags(table(FP16, failed)) == [True, False]


def test_unmeasured_objective_is_left_out() -> None:
    a = ("a", "baseline", "ok", math.nan, 10.0, 100.0, 16.0, {}, None)
    b = ("b", "W4A16", "ok", math.nan, 10.0, 100.0, 5.0, {}, None)
    assert pareto_flags(table(a, b)) == [False, True]  # b: same speed, smaller


def test_recommend_the_fastest_that_qualifies() -> None:
    rows = table(FP16, INT8, INT4)
    for row, flag in zip(rows, pareto_flags(rows), strict=True):
        row.pareto = flag
    rec = recommend(rows, Constraints(users=100, min_user_tps=10, max_accuracy_drop_pct=1))
    assert rec.winner == "int8"
    assert rec.reasons["fp16"] == "too slow at 100 users: slowest-1% user gets 8.00 tok/s < 10"
    assert rec.reasons["int4"] == "accuracy loss 3.0% (significant) exceeds the 1% budget"
    assert rec.summary.startswith("Deploy int8 (W8A8): at 100 users the slowest 1% get 12.0 tok/s")


def test_a_slower_qualifier_is_told_why_it_lost() -> None:
    rec = recommend(table(FP16, INT8, INT4), Constraints(100, 5, 5))
    assert rec.winner == "int4"
    assert rec.reasons["int8"].startswith("meets the constraints but is slower at 100 users")


def test_nothing_qualifies_says_what_would() -> None:
    rec = recommend(table(FP16, INT8, INT4), Constraints(users=100, min_user_tps=20,
                                                        max_accuracy_drop_pct=1))
    assert rec.winner is None
    assert rec.summary == "No variant meets every constraint at 100 users."
    assert rec.suggestions == [
        "fp16 would qualify with at most 50 users (its capacity at 20 tok/s)",
        "int8 would qualify with at most 50 users (its capacity at 20 tok/s)",
    ]  # int4 is too slow at 100 users *and* loses too much accuracy: no single change
    only_accuracy = recommend(table(FP16, INT4), Constraints(100, 13, 1))
    assert only_accuracy.suggestions == [
        "fp16 would qualify with at most 50 users (its capacity at 13 tok/s)",
        "int4 would qualify with --max-accuracy-drop 3"]


def test_counts_print_as_integers_beside_missing_values() -> None:
    from qexplore.report.write import cells as formatted
    from qexplore.results.table import frame

    rows = [VariantRow("a", "baseline", at_users=16, capacity_users=16, kv_cache_tokens=1_048_576,
                       user_tps_p1=12.3456),
            VariantRow("b", "W8A8", status="failed")]
    cells = formatted(frame(rows))
    assert cells["capacity_users"].tolist() == ["16", "–"]
    assert cells["kv_cache_tokens"].tolist() == ["1,048,576", "–"]
    assert cells["user_tps_p1"].tolist() == ["12.3", "–"]
    assert cells["stalls"].tolist() == ["0", "0"]
