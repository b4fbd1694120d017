"""Refreshing a deployed business calendar on the shared post-trade network (docs/postrade.md,
"the business calendar"): a calendar deployed with the 2019-2025 data cannot compute T+2 from a
2027 date (CalendarRangeError naming the loaded range); only its admin can extend it; after
`privnet calendar refresh` it computes T+2 on every node, as the reference model does."""

from __future__ import annotations

import pytest

from postrade import reference as ref
from postrade.calendar_data import CALENDAR_FROM, horizon_until, reference_calendar
from postrade.clients import BusinessCalendar, CalendarRangeError, Party, PostTradeError
from tests.helpers.network import privnet
from tests.helpers.postrade_world import World

pytestmark = pytest.mark.e2e

OLD_UNTIL = "2025-12-31"  # the hand-kept data's end: calendars deployed before the generation


@pytest.fixture(scope="module")
def world(postrade_world: World) -> World:
    return postrade_world


def test_the_default_calendar_covers_today_plus_three_years(world: World) -> None:
    cal, c = world.s.infra.calendar, world.cast
    assert cal.coverage(c.broker_b) == (ref.to_day(CALENDAR_FROM), ref.to_day(horizon_until()))
    assert cal.add_business_days(c.broker_b, ref.to_day("2026-12-04"), 2) == ref.to_day("2026-12-08")


def test_refresh_extends_a_calendar_that_ran_out(world: World) -> None:
    c = world.cast
    admin, readers = c.admin, [c.broker_a, c.broker_b, c.regulator or c.manager]
    cal = BusinessCalendar.deploy(world.net, admin, valid_until=OLD_UNTIL)  # public: every node holds it
    friday = ref.to_day("2027-03-19")

    # before: T+2 from a 2027 date is refused with the range, on every node
    for reader in readers:
        with pytest.raises(CalendarRangeError) as info:
            cal.add_business_days(reader, friday, 2)
        assert info.value.reason == "calendar: not maintained for 2027-03-20"
        assert (info.value.valid_from, info.value.valid_until) == (ref.to_day(CALENDAR_FROM), ref.to_day(OLD_UNTIL))
        assert "loaded range 2019-01-01 .. 2025-12-31" in str(info.value)
    with pytest.raises(CalendarRangeError, match="not maintained for 2026-12-05"):
        cal.add_business_days(c.manager, ref.to_day("2026-12-04"), 2)  # T+2 from today

    # only the admin extends it: anyone else's refresh is refused before anything is sent
    node = world.node(c.broker_a)
    nonce = node.pending_nonce(c.broker_a.address)
    with pytest.raises(PostTradeError) as refused:
        cal.refresh(c.broker_a)
    assert (refused.value.reason, refused.value.action) == ("calendar: only admin", "setHolidays")
    assert node.pending_nonce(c.broker_a.address) == nonce
    assert {cal.coverage(r) for r in readers} == {(ref.to_day(CALENDAR_FROM), ref.to_day(OLD_UNTIL))}

    # the documented path: `privnet calendar refresh` (a dry run first sends nothing)
    directory = world.e2e.directory
    dry = privnet(directory, "calendar", "refresh", "--address", cal.address, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "2027-03-22" in dry.stdout and cal.coverage(admin)[1] == ref.to_day(OLD_UNTIL)
    done = privnet(directory, "calendar", "refresh", "--address", cal.address)
    assert done.returncode == 0, done.stdout + done.stderr
    until = horizon_until()
    assert f"loaded 2019-01-01 .. {until}" in done.stdout.splitlines()[-1], done.stdout

    # after: every node computes T+2 from 2027 dates, as the reference model of the generated data
    model = reference_calendar(CALENDAR_FROM, until)
    for reader in readers:
        assert cal.coverage(reader) == (ref.to_day(CALENDAR_FROM), ref.to_day(until))
        assert cal.add_business_days(reader, friday, 2) == ref.to_day("2027-03-24")  # 22 Mar: substitute holiday
    samples = [ref.to_day(d) for d in ("2026-04-28", "2026-09-18", "2026-12-29", "2027-04-28", "2028-12-28",
                                       until[:4] + "-05-01")]
    for day in samples:
        assert cal.add_business_days(c.manager, day, 2) == model.add_business_days(day, 2), ref.to_iso(day)
        assert cal.is_business_day(c.manager, day) == model.is_business_day(day), ref.to_iso(day)
    assert cal.is_holiday(c.manager, ref.to_day("2026-09-22"))  # a citizens' holiday, loaded by the refresh
    assert cal.refresh(admin) == []  # already at the horizon: nothing sent


def test_out_of_range_beyond_the_horizon_names_it(world: World) -> None:
    cal, reader = world.s.infra.calendar, world.cast.broker_b
    until = horizon_until()
    last: Party = reader
    with pytest.raises(CalendarRangeError) as info:
        cal.is_business_day(last, ref.to_day(until) + 1)
    assert str(info.value).endswith(f"(loaded range 2019-01-01 .. {until}; an administrator extends it with "
                                    "`privnet calendar refresh`)")
