"""The public infrastructure: calendar, tax table, calculators, identifier checker, institution registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from postrade import reference as ref
from postrade.calendar_data import CALENDAR_FROM, CALENDAR_UNTIL, TAX_TABLE, holiday_days, horizon_until
from postrade.clients.enums import Role
from postrade.clients.instance import Instance
from postrade.clients.network import Party, PostTradeError, PostTradeNetwork, Sent


@dataclass(frozen=True)
class Institution:
    """An InstitutionRegistry record: LEI ↔ accounts ↔ manager keys ↔ BICs / JASDEC code (§1.4)."""

    lei: str
    name_en: str
    roles: int
    parties: tuple[Party, ...]
    bics: tuple[str, ...] = ()
    jasdec_participant_code: str = ""
    corporate_number: str = ""
    name_ja: str = ""

    def as_abi(self) -> tuple[Any, ...]:
        return (self.lei, self.corporate_number, list(self.bics), self.jasdec_participant_code, self.name_ja,
                self.name_en, self.roles, [p.address for p in self.parties],
                list(dict.fromkeys(p.ptm_key_bytes for p in self.parties)))



# -- public infrastructure --------------------------------------------------------------------


class CalendarRangeError(PostTradeError):
    """A date outside the deployed calendar's loaded range. `reason` is the contract's revert
    reason; the message adds the range and the refresh path (docs/postrade.md, the calendar)."""

    def __init__(self, reason: str, *, action: str, party: Party, valid_from: int, valid_until: int) -> None:
        super().__init__(reason, action=action, party=party)
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.args = (f"{self.args[0]} (loaded range {ref.to_iso(valid_from)} .. {ref.to_iso(valid_until)}; "
                     "an administrator extends it with `privnet calendar refresh`)",)


#: the prefix of the contract's revert for a date it does not maintain (BusinessCalendar.isBusinessDay)
OUT_OF_RANGE = "calendar: not maintained for "
#: holidays per setHolidays transaction in a refresh (a year has ~15; the cap only bounds one step's gas)
REFRESH_CHUNK = 200


class BusinessCalendar(Instance):
    """The public business-day calendar (BusinessCalendar.sol): reads on any node, writes by its admin."""

    CONTRACT = "BusinessCalendar"

    @classmethod
    def deploy(cls, net: PostTradeNetwork, admin: Party, *, valid_from: str = CALENDAR_FROM,
               valid_until: str = CALENDAR_UNTIL, holidays: Sequence[int] | None = None,
               weekend_mask: int = ref.WEEKEND_SAT_SUN, year_end_closure: bool = True) -> BusinessCalendar:
        """Deploy publicly from `admin`; `holidays` default to the generated ones (calendar_data) of the range."""
        days = holiday_days(valid_from, valid_until) if holidays is None else list(holidays)
        return cls._deploy(net, admin, [admin.address, weekend_mask, year_end_closure, ref.to_day(valid_from),
                                        ref.to_day(valid_until), days], None)

    def _read_day(self, reader: Party, fn: str, *args: Any) -> Any:
        try:
            return self.read(reader, fn, *args)
        except PostTradeError as exc:
            if not exc.reason.startswith(OUT_OF_RANGE):
                raise
            valid_from, valid_until = self.coverage(reader)
            raise CalendarRangeError(exc.reason, action=fn, party=reader, valid_from=valid_from,
                                     valid_until=valid_until) from exc

    def is_business_day(self, reader: Party, day: int) -> bool:
        return bool(self._read_day(reader, "isBusinessDay", day))

    def add_business_days(self, reader: Party, day: int, n: int) -> int:
        """T+n (CalendarRangeError when a day it passes is outside the loaded range)."""
        return int(self._read_day(reader, "addBusinessDays", day, n))

    def previous_business_day(self, reader: Party, day: int) -> int:
        return int(self._read_day(reader, "previousBusinessDay", day))

    def business_day_on_or_after(self, reader: Party, day: int) -> int:
        return int(self._read_day(reader, "businessDayOnOrAfter", day))

    def coverage(self, reader: Party) -> tuple[int, int]:
        """(validFrom, validUntil): the loaded range, as day numbers."""
        return int(self.read(reader, "validFrom")), int(self.read(reader, "validUntil"))

    def is_holiday(self, reader: Party, day: int) -> bool:
        return bool(self.read(reader, "isHoliday", day))

    def _send_checked(self, admin: Party, fn: str, *args: Any) -> Sent:
        """A public step simulated first (eth_call as `admin`): a refusal raises the contract's reason
        and sends nothing, where a sent public transaction would only fail without one."""
        self.read(admin, fn, *args)
        return self.send(admin, fn, *args)

    def set_holidays(self, admin: Party, days: Sequence[int], holiday: bool = True) -> Sent:
        return self._send_checked(admin, "setHolidays", list(days), holiday)

    def set_coverage(self, admin: Party, valid_from: int, valid_until: int) -> Sent:
        return self._send_checked(admin, "setCoverage", valid_from, valid_until)

    def refresh(self, admin: Party, valid_until: str | None = None) -> list[Sent]:
        """Extend the loaded range to `valid_until` (default: the horizon, calendar_data.horizon_until):
        the generated holidays after the current end, then the new coverage — in that order, so no
        date is ever covered without its holidays. Nothing is sent when the range already reaches it."""
        start, end = self.coverage(admin)
        until = ref.to_day(valid_until or horizon_until())
        if until <= end:
            return []
        days = holiday_days(end + 1, until)
        sent = [self.set_holidays(admin, days[i:i + REFRESH_CHUNK]) for i in range(0, len(days), REFRESH_CHUNK)]
        sent.append(self.set_coverage(admin, start, until))
        return sent


class ConsumptionTaxTable(Instance):
    CONTRACT = "ConsumptionTaxTable"

    def rate_on(self, reader: Party, day: int) -> int:
        return int(self.read(reader, "rateOn", day))


class TradeCalculator(Instance):
    CONTRACT = "TradeCalculator"


class SblCalculator(Instance):
    CONTRACT = "SblCalculator"


class IdentifierChecker(Instance):
    CONTRACT = "IdentifierChecker"

    def is_valid(self, reader: Party, kind: str, value: str) -> bool:
        """kind: Isin, Lei, CorporateNumber, Bic, JasdecCode, Giin or FundCode."""
        return bool(self.read(reader, f"isValid{kind}", value))


class InstitutionRegistry(Instance):
    CONTRACT = "InstitutionRegistry"

    def register(self, admin: Party, institution: Institution) -> Sent:
        return self.send(admin, "register", institution.as_abi())

    def lei_of(self, reader: Party, account: str) -> str:
        return str(self.read(reader, "leiOfAccount", to_checksum_address(account)))

    def has_role(self, reader: Party, account: str, role: Role) -> bool:
        return bool(self.read(reader, "hasRole", to_checksum_address(account), int(role)))


@dataclass
class Infrastructure:
    """The public contracts every private instance reads (docs/postrade.md §7 step 1)."""

    admin: Party
    calendar: BusinessCalendar
    tax_table: ConsumptionTaxTable
    trade_calculator: TradeCalculator
    sbl_calculator: SblCalculator
    identifier_checker: IdentifierChecker
    institutions: InstitutionRegistry
    deployments: list[Sent] = field(default_factory=list)

    @classmethod
    def deploy(cls, net: PostTradeNetwork, admin: Party, *, holidays: Sequence[int] | None = None,
               valid_from: str = CALENDAR_FROM, valid_until: str = CALENDAR_UNTIL,
               tax_table: Sequence[tuple[str, int]] = TAX_TABLE, weekend_mask: int = ref.WEEKEND_SAT_SUN,
               year_end_closure: bool = True, institutions: Sequence[Institution] = ()) -> Infrastructure:
        """Deploy calendar, tax table, calculators, identifier checker and institution registry
        publicly from `admin`, then register `institutions`."""
        calendar = BusinessCalendar.deploy(net, admin, valid_from=valid_from, valid_until=valid_until,
                                           holidays=holidays, weekend_mask=weekend_mask,
                                           year_end_closure=year_end_closure)
        tax = ConsumptionTaxTable._deploy(net, admin, [admin.address, [ref.to_day(d) for d, _ in tax_table],
                                                       [p for _, p in tax_table]], None)
        infra = cls(admin, calendar, tax, TradeCalculator._deploy(net, admin, [], None),
                    SblCalculator._deploy(net, admin, [], None), IdentifierChecker._deploy(net, admin, [], None),
                    InstitutionRegistry._deploy(net, admin, [admin.address, True], None))
        infra.deployments = [c.deployment for c in (calendar, tax, infra.trade_calculator, infra.sbl_calculator,
                                                     infra.identifier_checker, infra.institutions)
                             if c.deployment is not None]
        for institution in institutions:
            infra.deployments.append(infra.institutions.register(admin, institution))
        return infra
