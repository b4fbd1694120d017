"""The reference model on its own: rounding primitives, dates, calendar and selection rules.

These pin the model to DOMAIN.md's arithmetic so that a contract/model agreement in the
hypothesis tests cannot come from both being wrong the same way.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import postrade
from postrade import reference as ref


def test_public_surface() -> None:
    assert postrade.__all__ == ["reference"]


@pytest.mark.parametrize(("a", "b", "trunc", "floor"), [
    (-712329, 100, -7123, -7124),  # −7,123.29: the §1.2 example
    (712329, 100, 7123, 7123),
    (-7, 7, -1, -1),
    (0, 5, 0, 0),
    (7, -2, -3, -4),
])
def test_trunc_versus_floor(a: int, b: int, trunc: int, floor: int) -> None:
    assert ref.trunc_div(a, b) == trunc
    assert a // b == floor
    if b > 0:
        assert ref.div_signed(a, b, ref.SignedRounding.TOWARD_ZERO) == trunc
        assert ref.div_signed(a, b, ref.SignedRounding.FLOOR) == floor


@pytest.mark.parametrize(("a", "b", "floor", "half_up", "half_even", "ceil"), [
    (5, 2, 2, 3, 2, 3),
    (7, 2, 3, 4, 4, 4),
    (10, 4, 2, 3, 2, 3),
    (11, 4, 2, 3, 3, 3),
    (9, 4, 2, 2, 2, 3),
    (8, 4, 2, 2, 2, 2),
])
def test_div_round_modes(a: int, b: int, floor: int, half_up: int, half_even: int, ceil: int) -> None:
    got = [ref.div_round(a, b, m) for m in ref.Rounding]
    assert got == [floor, half_up, half_even, ceil]
    assert ref.half_up_div(a, b) == half_up
    assert ref.ceil_div(a, b) == ceil


def test_invalid_divisions_raise() -> None:
    for bad in (lambda: ref.trunc_div(1, 0), lambda: ref.div_round(-1, 2, ref.Rounding.FLOOR),
                lambda: ref.div_signed(1, 0, ref.SignedRounding.FLOOR), lambda: ref.ceil_div(1, 0)):
        with pytest.raises((ValueError, ZeroDivisionError)):
            bad()


@settings(max_examples=200)
@given(st.dates(dt.date(1970, 1, 1), dt.date(2400, 12, 31)))
def test_day_numbers_agree_with_datetime(d: dt.date) -> None:
    day = (d - dt.date(1970, 1, 1)).days
    assert ref.days_from_civil(d.year, d.month, d.day) == day == ref.to_day(d.isoformat())
    assert ref.civil_from_days(day) == (d.year, d.month, d.day)
    assert ref.weekday(day) == d.weekday()
    assert ref.to_iso(day) == d.isoformat()


def test_period_bounds_and_leap_years() -> None:
    assert ref.period_bounds(202402) == (ref.to_day("2024-02-01"), ref.to_day("2024-03-01"))
    assert ref.period_bounds(202412) == (ref.to_day("2024-12-01"), ref.to_day("2025-01-01"))
    assert [ref.days_in_year(y) for y in (1900, 2000, 2024, 2025)] == [365, 366, 366, 365]
    assert ref.accrual_days(ref.to_day("2025-04-07"), ref.to_day("2025-04-21")) == 14
    assert ref.accrual_days(ref.to_day("2025-04-07"), ref.to_day("2025-04-21"), include_end=True) == 15
    assert ref.accrual_days(5, 5) == 0
    with pytest.raises(ValueError):
        ref.period_bounds(202413)


def test_calendar_rules() -> None:
    cal = ref.Calendar(holidays={ref.to_day("2025-03-20")}, valid_from=ref.to_day("2024-01-01"),
                       valid_until=ref.to_day("2025-12-31"))
    assert not cal.is_business_day(ref.to_day("2025-03-20"))
    assert not cal.is_business_day(ref.to_day("2025-03-22"))  # Saturday
    assert not cal.is_business_day(ref.to_day("2024-12-31"))  # year-end closure
    assert not cal.is_business_day(ref.to_day("2025-01-03"))
    assert cal.is_business_day(ref.to_day("2024-12-30"))
    assert cal.add_business_days(ref.to_day("2025-03-18"), 2) == ref.to_day("2025-03-21")
    with pytest.raises(ValueError, match="not maintained"):
        cal.is_business_day(ref.to_day("2026-01-05"))


def test_tax_table_boundaries() -> None:
    t = ref.TaxTable([(ref.to_day("2014-04-01"), 8), (ref.to_day("2019-10-01"), 10)])
    assert t.rate_on(ref.to_day("2019-09-30")) == 8
    assert t.rate_on(ref.to_day("2019-10-01")) == 10
    with pytest.raises(ValueError):
        t.rate_on(ref.to_day("2014-03-31"))


def test_domain_vectors_in_the_model() -> None:
    """TC-01 and SBL-01 arithmetic straight from DOMAIN.md's notes."""
    qty, notional = ref.block_totals([ref.Fill(30000, 28515000), ref.Fill(20000, 28520000),
                                      ref.Fill(10000, 28505000)])
    assert (qty, notional // 10_000, ref.average_price(notional, qty)) == (60000, 171_090_000, 28515000)
    f = ref.fund_figures(60000, 28515000, 1000, 10, ref.Side.BUY, ref.Schedule())
    assert f == ref.Figures(171_090_000, 171_090, 17_109, 171_278_199)
    days = [ref.DayAccrual(d, 100_000, 25_000_000, 262_500_000, 5000, 1000) for d in range(14)]
    assert ref.accrue(days) == (47_945, 10_068)
    assert ref.required_collateral(100_000, 25_000_000, 1_050_000) == 262_500_000
    assert ref.dividend_equivalent(30_000, 375_000, 846_850) == 952_706


def test_allocation_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        ref.allocate(["A"], [100], 150, 100)
    with pytest.raises(ValueError):
        ref.allocate(["A", "B"], [150, 150], 150, 100)
    with pytest.raises(ValueError):
        ref.allocate(["A", "A"], [100, 100], 100, 100)


def test_selection_rules() -> None:
    versions = [ref.SsiVersion(1, 10, True), ref.SsiVersion(2, 20, True), ref.SsiVersion(3, 15, False)]
    assert [ref.ssi_in_force(versions, d) for d in (9, 10, 19, 20)] == [None, 1, 1, 2]
    history = [(0, b"a"), (5, b"b"), (5, b"c"), (9, b"d")]
    assert [ref.field_on(history, d) for d in (0, 4, 5, 8, 9)] == [b"a", b"a", b"c", b"c", b"d"]
    assert ref.return_allocation([("N", 9, 1, 50), ("O", 3, 0, 30)], 40) == [("O", 30), ("N", 10)]
    assert ref.return_allocation([("N", 9, 1, 50), ("O", 3, 0, 30)], 40, ref.ReturnPriority.NEWEST_FIRST) \
        == [("N", 40), ("O", 0)]


def test_statement_comparison() -> None:
    base = (100, 20, 5, 80)
    assert ref.compare_statements(base, [base]) == ref.StatementStatus.MATCHED
    assert ref.compare_statements(base, [(101, 20, 5, 81)], tol_fee=1) == ref.StatementStatus.MATCHED_WITH_TOLERANCE
    assert ref.compare_statements(base, [(101, 20, 5, 81)]) == ref.StatementStatus.MISMATCHED
    assert ref.compare_statements(base, [base, (100, 21, 5, 79)], tol_interest=1) \
        == ref.StatementStatus.MATCHED_WITH_TOLERANCE
