"""The generated business calendar (postrade/calendar_data.py): the `holidays` package's Japan
calendar against the hand-kept 2019-2025 list, the year-end closure rule, the rolling horizon, the
refresh of a deployed calendar and the out-of-range error (reference model and contract)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postrade import reference as ref
from postrade.calendar_data import (
    CALENDAR_FROM,
    CALENDAR_UNTIL,
    HORIZON_YEARS,
    holiday_days,
    horizon_until,
    in_year_end_closure,
    japan_holidays,
    reference_calendar,
)
from postrade.clients import CalendarRangeError, Party
from tests.unit.postrade.conftest import JP_HOLIDAYS, Contract, EvmHarness, Reverted

HAND_UNTIL = "2025-12-31"  # the end of the hand-kept list (the unit harness's calendar)
REFRESH_UNTIL = "2029-12-31"


def days_of(year_list: dict[int, list[str]]) -> list[int]:
    return sorted(ref.to_day(f"{y}-{md}") for y, mds in year_list.items() for md in mds)


# ---- the generated data ---------------------------------------------------------------------


def test_generated_holidays_equal_the_hand_kept_list_for_2019_to_2025() -> None:
    """The hand list kept weekday holidays outside the year-end closure only; the generation keeps
    the same days, so there is no difference to explain, not even 2019's."""
    assert holiday_days(CALENDAR_FROM, HAND_UNTIL) == days_of(JP_HOLIDAYS)


def test_one_off_days_come_from_the_library() -> None:
    """2019's imperial succession (citizens' holidays 30 Apr and 2 May around the enthronement
    on 1 May, the enthronement ceremony on 22 Oct) and the Olympic moves of 2020 and 2021."""
    names = japan_holidays(2019, 2021)
    for day in ("2019-04-30", "2019-05-01", "2019-05-02", "2019-10-22", "2020-07-24", "2021-07-23"):
        assert dt.date.fromisoformat(day) in names, day
        assert ref.to_day(day) in holiday_days(CALENDAR_FROM, HAND_UNTIL), day
    assert dt.date(2019, 10, 14) in names and dt.date(2020, 10, 12) not in names  # Sports Day moved in 2020


def test_substitute_and_citizens_holidays_after_2025() -> None:
    stored = set(holiday_days(CALENDAR_FROM, REFRESH_UNTIL))
    assert ref.to_day("2026-05-06") in stored  # substitute for Constitution Day on a Sunday
    assert ref.to_day("2026-09-22") in stored  # citizens' holiday between two holidays
    assert ref.to_day("2027-03-22") in stored  # substitute for the vernal equinox on a Sunday
    assert ref.to_day("2026-05-03") not in stored  # a Sunday: the weekend mask closes it already


def test_year_end_closure_is_the_library_bank_holidays() -> None:
    """The library's bank-holiday category for Japan is exactly 31 Dec and 1-3 Jan: the calendar's
    `yearEndClosure` rule, so the stored list never repeats those days."""
    import holidays

    bank = holidays.country_holidays("JP", years=range(2019, 2031), categories=("bank",))
    assert {(d.month, d.day) for d in bank} == {(12, 31), (1, 1), (1, 2), (1, 3)}
    assert all(in_year_end_closure(d) for d in bank)
    cal = reference_calendar(CALENDAR_FROM, REFRESH_UNTIL)
    for year in range(2019, 2030):
        for day in (f"{year}-12-31", f"{year}-01-01", f"{year}-01-02", f"{year}-01-03"):
            assert not cal.is_business_day(ref.to_day(day))
            assert ref.to_day(day) not in cal.holidays
    assert all(ref.weekday(d) < 5 for d in cal.holidays)


def test_horizon_is_three_years_after_today() -> None:
    assert horizon_until(dt.date(2026, 12, 4)) == "2029-12-31"
    assert horizon_until(dt.date(2027, 1, 1)) == "2030-12-31"
    assert CALENDAR_UNTIL == f"{dt.date.today().year + HORIZON_YEARS}-12-31"
    last = ref.civil_from_days(ref.to_day(CALENDAR_UNTIL))[0]
    by_year = {y: 0 for y in range(2019, last + 1)}
    for d in holiday_days():
        by_year[ref.civil_from_days(d)[0]] += 1
    assert min(by_year.values()) >= 10, by_year  # every covered year has its holidays
    assert reference_calendar().add_business_days(ref.to_day("2026-12-04"), 2) == ref.to_day("2026-12-08")


def test_holiday_days_of_a_partial_range() -> None:
    assert holiday_days("2026-05-01", "2026-05-31") == [ref.to_day("2026-05-04"), ref.to_day("2026-05-05"),
                                                         ref.to_day("2026-05-06")]
    assert holiday_days(ref.to_day("2026-01-01"), ref.to_day("2025-12-31")) == []


# ---- the out-of-range error -------------------------------------------------------------------


def test_reference_calendar_names_the_loaded_range() -> None:
    cal = reference_calendar(CALENDAR_FROM, HAND_UNTIL)
    friday = ref.to_day("2025-12-26")
    with pytest.raises(ref.CalendarRangeError) as info:
        cal.add_business_days(friday, 3)  # 29 Dec, 30 Dec, the 31st is closed, then 2026: not loaded
    assert str(info.value) == "calendar: not maintained for 2026-01-01 (loaded range 2019-01-01 .. 2025-12-31)"
    assert (info.value.day, info.value.valid_from, info.value.valid_until) == (
        ref.to_day("2026-01-01"), ref.to_day(CALENDAR_FROM), ref.to_day(HAND_UNTIL))
    assert isinstance(info.value, ValueError)
    with pytest.raises(ref.CalendarRangeError, match="not maintained for 2018-12-31"):
        cal.previous_business_day(ref.to_day("2019-01-01"))


def test_client_range_error_keeps_the_contract_reason_and_adds_the_range() -> None:
    admin = Party("admin", "node1", "http://127.0.0.1:1", "0x" + "11" * 20, "a" * 44)
    exc = CalendarRangeError("calendar: not maintained for 2027-01-05", action="addBusinessDays", party=admin,
                             valid_from=ref.to_day("2019-01-01"), valid_until=ref.to_day("2025-12-31"))
    assert exc.reason == "calendar: not maintained for 2027-01-05"
    assert str(exc) == ("admin (node1) addBusinessDays: calendar: not maintained for 2027-01-05 (loaded range "
                        "2019-01-01 .. 2025-12-31; an administrator extends it with `privnet calendar refresh`)")


# ---- the contract with the generated data, and a refresh ---------------------------------------


def deploy_calendar(evm: EvmHarness, until: str) -> Contract:
    return evm.deploy("BusinessCalendar", evm.addr["admin"], ref.WEEKEND_SAT_SUN, True, ref.to_day(CALENDAR_FROM),
                      ref.to_day(until), holiday_days(CALENDAR_FROM, until))


@pytest.fixture(scope="module")
def refreshed(base_evm: tuple[EvmHarness, object]) -> tuple[Contract, Contract]:
    """(a calendar deployed with the 2019-2025 data, the same calendar after a refresh to 2029)."""
    evm = base_evm[0].clone()
    old = deploy_calendar(evm, HAND_UNTIL)
    with pytest.raises(Reverted) as info:
        old.call("addBusinessDays", ref.to_day("2027-03-19"), 2)
    assert info.value.reason == "calendar: not maintained for 2027-03-20"  # T+2 of a 2027 date, before
    evm2 = evm.clone()
    cal = Contract(evm2, old.address, old.artifact, old.name)
    # the refresh path (BusinessCalendar.refresh): the missing years' holidays, then the coverage
    cal.transact("setHolidays", holiday_days(ref.to_day(HAND_UNTIL) + 1, REFRESH_UNTIL), True, sender="admin")
    cal.transact("setCoverage", ref.to_day(CALENDAR_FROM), ref.to_day(REFRESH_UNTIL), sender="admin")
    return old, cal


def test_refresh_by_anyone_but_the_admin_is_refused(refreshed: tuple[Contract, Contract]) -> None:
    old, _ = refreshed
    evm = old.evm.clone()
    cal = Contract(evm, old.address, old.artifact, old.name)
    for fn, args in (("setHolidays", (holiday_days("2026-01-01", "2026-12-31"), True)),
                     ("setCoverage", (ref.to_day(CALENDAR_FROM), ref.to_day(REFRESH_UNTIL)))):
        with pytest.raises(Reverted, match="^calendar: only admin$"):
            cal.transact(fn, *args, sender="broker_a")
    assert cal.call("validUntil") == ref.to_day(HAND_UNTIL)


def test_refreshed_contract_equals_the_reference_on_the_new_years(refreshed: tuple[Contract, Contract]) -> None:
    _, cal = refreshed
    assert cal.call("addBusinessDays", ref.to_day("2027-03-19"), 2) == ref.to_day("2027-03-24")  # 22 Mar holiday
    assert cal.call("addBusinessDays", ref.to_day("2026-12-29"), 2) == ref.to_day("2027-01-04")  # across year end
    with pytest.raises(Reverted, match="^calendar: not maintained for 2030-01-01$"):
        cal.call("isBusinessDay", ref.to_day("2030-01-01"))


@settings(max_examples=40, deadline=None)
@given(st.integers(ref.to_day("2019-01-10"), ref.to_day(REFRESH_UNTIL) - 30), st.integers(0, 10))
def test_refreshed_calendar_matches_the_generated_reference(refreshed: tuple[Contract, Contract], day: int,
                                                            n: int) -> None:
    """Over the whole refreshed range (old years and new), the contract and the reference model
    built from the same generation agree on every query."""
    _, cal = refreshed
    model = reference_calendar(CALENDAR_FROM, REFRESH_UNTIL)
    assert cal.call("isBusinessDay", day) == model.is_business_day(day)
    assert cal.call("addBusinessDays", day, n) == model.add_business_days(day, n)
    assert cal.call("previousBusinessDay", day) == model.previous_business_day(day)
    assert cal.call("businessDayOnOrAfter", day) == model.business_day_on_or_after(day)
