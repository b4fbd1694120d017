"""Calendar and tax data the clients deploy by default (the administrator's data, DOMAIN.md §1.3).

The holidays are data, not code [A-CAL], generated from the `holidays` package (pinned in
pyproject.toml) rather than typed by hand, so the calendar does not run out: Japan's public
holidays — national holidays, substitute holidays (振替休日) and citizens' holidays (国民の休日),
including one-off days such as 2019's imperial-succession days and the 2020/2021 Olympic moves —
for `CALENDAR_FROM` through the end of the year `HORIZON_YEARS` after the current one. Only the
days that close an otherwise open exchange day are kept: weekends are the calendar's
`weekendMask`, and the exchange's 31 Dec - 3 Jan closure is its `yearEndClosure` rule (the
library's bank-holiday category lists exactly those four days, a test checks it).

Why a rolling horizon of three years and not more: the equinox days are fixed by the Cabinet
Office each February for the following year only (the library computes them astronomically), and
the law moves holidays at short notice (2019-2021), so far years are a forecast. A deployed
calendar is extended yearly with `privnet calendar refresh` (`BusinessCalendar.refresh`: the
missing years' holidays, then the new coverage).
"""

from __future__ import annotations

import datetime as dt

import holidays as holiday_library

from postrade import reference as ref

#: Years after the current one a new calendar covers (and a refresh extends to by default).
HORIZON_YEARS = 3
CALENDAR_FROM = "2019-01-01"


def horizon_until(today: dt.date | None = None) -> str:
    """The last day a calendar generated on `today` covers: 31 Dec of the current year + HORIZON_YEARS."""
    return f"{(today or dt.date.today()).year + HORIZON_YEARS}-12-31"


CALENDAR_UNTIL = horizon_until()
#: (effective from, consumption tax percent): 5 % from 1997-04-01, 8 % from 2014-04-01, 10 % from 2019-10-01.
TAX_TABLE: tuple[tuple[str, int], ...] = (("1997-04-01", 5), ("2014-04-01", 8), ("2019-10-01", 10))


def in_year_end_closure(day: dt.date) -> bool:
    """31 Dec - 3 Jan: the exchange's closure, the contract's `yearEndClosure` rule."""
    return (day.month == 12 and day.day == 31) or (day.month == 1 and day.day <= 3)


def japan_holidays(first_year: int, last_year: int) -> dict[dt.date, str]:
    """Every public holiday of Japan in the years, with its name, as the library has it."""
    return dict(holiday_library.country_holidays("JP", years=range(first_year, last_year + 1)).items())


def holiday_days(valid_from: str | int = CALENDAR_FROM, valid_until: str | int = CALENDAR_UNTIL) -> list[int]:
    """The holidays a calendar covering [valid_from, valid_until] (ISO dates or day numbers) stores,
    ascending: Japan's public holidays on weekdays outside the year-end closure."""
    first = valid_from if isinstance(valid_from, int) else ref.to_day(valid_from)
    last = valid_until if isinstance(valid_until, int) else ref.to_day(valid_until)
    if first > last:
        return []
    first_year, last_year = ref.civil_from_days(first)[0], ref.civil_from_days(last)[0]
    days = (ref.to_day(d.isoformat()) for d in japan_holidays(first_year, last_year)
            if d.weekday() < 5 and not in_year_end_closure(d))
    return sorted(d for d in days if first <= d <= last)


def reference_calendar(valid_from: str = CALENDAR_FROM, valid_until: str = CALENDAR_UNTIL) -> ref.Calendar:
    """The same calendar as the reference model's `Calendar` (what a default deployment holds)."""
    return ref.Calendar(holidays=set(holiday_days(valid_from, valid_until)), weekend_mask=ref.WEEKEND_SAT_SUN,
                        year_end_closure=True, valid_from=ref.to_day(valid_from),
                        valid_until=ref.to_day(valid_until))


def reference_tax_table() -> ref.TaxTable:
    return ref.TaxTable([(ref.to_day(day), pct) for day, pct in TAX_TABLE])
