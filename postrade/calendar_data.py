"""Calendar and tax data the clients deploy by default (the administrator's data, DOMAIN.md §1.3).

The holiday list is data, not code [A-CAL]: national holidays including substitute holidays for
2019-2025 (the years the tests and the demo use); the Dec 31 - Jan 3 exchange closure is the
calendar's `yearEndClosure` rule. Verify against the Cabinet Office list before using these for
anything but tests and demos, and extend the coverage yearly (`BusinessCalendar.setHolidays` and
`setCoverage`, admin only).
"""

from __future__ import annotations

from postrade import reference as ref

JP_HOLIDAYS: dict[int, tuple[str, ...]] = {
    2019: ("01-14", "02-11", "03-21", "04-29", "04-30", "05-01", "05-02", "05-03", "05-06", "07-15",
           "08-12", "09-16", "09-23", "10-14", "10-22", "11-04"),
    2020: ("01-13", "02-11", "02-24", "03-20", "04-29", "05-04", "05-05", "05-06", "07-23", "07-24",
           "08-10", "09-21", "09-22", "11-03", "11-23"),
    2021: ("01-11", "02-11", "02-23", "04-29", "05-03", "05-04", "05-05", "07-22", "07-23", "08-09",
           "09-20", "09-23", "11-03", "11-23"),
    2022: ("01-10", "02-11", "02-23", "03-21", "04-29", "05-03", "05-04", "05-05", "07-18", "08-11",
           "09-19", "09-23", "10-10", "11-03", "11-23"),
    2023: ("01-09", "02-23", "03-21", "05-03", "05-04", "05-05", "07-17", "08-11", "09-18", "10-09",
           "11-03", "11-23"),
    2024: ("01-08", "02-12", "02-23", "03-20", "04-29", "05-03", "05-06", "07-15", "08-12", "09-16",
           "09-23", "10-14", "11-04"),
    2025: ("01-13", "02-11", "02-24", "03-20", "04-29", "05-05", "05-06", "07-21", "08-11", "09-15",
           "09-23", "10-13", "11-03", "11-24"),
}
CALENDAR_FROM = "2019-01-01"
CALENDAR_UNTIL = "2025-12-31"
#: (effective from, consumption tax percent): 5 % from 1997-04-01, 8 % from 2014-04-01, 10 % from 2019-10-01.
TAX_TABLE: tuple[tuple[str, int], ...] = (("1997-04-01", 5), ("2014-04-01", 8), ("2019-10-01", 10))


def holiday_days() -> list[int]:
    """Every holiday of `JP_HOLIDAYS` as a day number, ascending."""
    return sorted(ref.to_day(f"{year}-{md}") for year, mds in JP_HOLIDAYS.items() for md in mds)


def reference_calendar() -> ref.Calendar:
    """The same calendar as the reference model's `Calendar` (what the deployed contract holds)."""
    return ref.Calendar(holidays=set(holiday_days()), weekend_mask=ref.WEEKEND_SAT_SUN, year_end_closure=True,
                        valid_from=ref.to_day(CALENDAR_FROM), valid_until=ref.to_day(CALENDAR_UNTIL))


def reference_tax_table() -> ref.TaxTable:
    return ref.TaxTable([(ref.to_day(day), pct) for day, pct in TAX_TABLE])
