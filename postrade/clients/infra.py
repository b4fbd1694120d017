"""The public infrastructure: calendar, tax table, calculators, identifier checker, institution registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from postrade import reference as ref
from postrade.calendar_data import CALENDAR_FROM, CALENDAR_UNTIL, TAX_TABLE, holiday_days
from postrade.clients.enums import Role
from postrade.clients.instance import Instance
from postrade.clients.network import Party, PostTradeNetwork, Sent


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


class BusinessCalendar(Instance):
    CONTRACT = "BusinessCalendar"

    def is_business_day(self, reader: Party, day: int) -> bool:
        return bool(self.read(reader, "isBusinessDay", day))

    def add_business_days(self, reader: Party, day: int, n: int) -> int:
        return int(self.read(reader, "addBusinessDays", day, n))

    def set_holidays(self, admin: Party, days: Sequence[int], holiday: bool = True) -> Sent:
        return self.send(admin, "setHolidays", list(days), holiday)


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
        days = holiday_days() if holidays is None else list(holidays)
        calendar = BusinessCalendar._deploy(net, admin, [admin.address, weekend_mask, year_end_closure,
                                                         ref.to_day(valid_from), ref.to_day(valid_until), days], None)
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
