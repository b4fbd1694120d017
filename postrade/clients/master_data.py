"""Fund and SSI master data: records and the FundRegistry and SsiRegistry clients."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from postrade.clients.enums import AmlStatus, FundState, FundType, SsiState
from postrade.clients.instance import Instance
from postrade.clients.network import Party, PostTradeNetwork, Sent, b16, fixed, text_of


@dataclass(frozen=True)
class FundInput:
    """Static data of a fund as the manager creates it (FundRegistry.FundInput)."""

    fund_code: str
    trustee: Party
    establishment_date: int
    asset_manager_lei: str
    trustee_lei: str
    name_ja: str = ""
    name_en: str = ""
    fund_type: FundType = FundType.INVESTMENT_TRUST
    fund_lei: str = ""
    fiscal_period_end: str = "0331"
    tax_status: str = "TAXABLE"
    giin: str = ""
    fatca_classification: str = "NFFE"
    crs_status: str = "REPORTABLE"

    def as_abi(self) -> tuple[Any, ...]:
        return (b16(self.fund_code), int(self.fund_type), self.name_ja or f"{self.fund_code} ファンド",
                self.name_en or f"{self.fund_code} Fund", self.asset_manager_lei, self.trustee_lei,
                self.trustee.address, self.fund_lei, self.establishment_date, self.fiscal_period_end,
                self.tax_status, self.giin, self.fatca_classification, self.crs_status)


@dataclass(frozen=True)
class FundRecord:
    fund_code: str
    fund_type: FundType
    state: FundState  # stored state; `FundRegistry.status_on` derives ACTIVE
    asset_manager_lei: str
    establishment_date: int
    redemption_date: int
    aml_status: AmlStatus
    version: int


@dataclass(frozen=True)
class SsiInput:
    """Standing settlement instruction of a fund for one security type (SsiRegistry.SsiInput)."""

    fund_code: str
    effective_date: int
    safekeeping_account: str
    cash_account: str
    security_type: str = "EQU"
    market: str = "JP"
    method: str = "JASDEC"
    pset: str = "JJSDJPJT"
    agent_bic: str = "MHCBJPJT"
    agent_jasdec_code: str = "12345"

    def as_abi(self) -> tuple[Any, ...]:
        return (b16(self.fund_code), fixed(self.security_type, 4), fixed(self.market, 2), fixed(self.method, 8),
                self.pset, self.agent_bic, self.agent_jasdec_code, fixed(self.safekeeping_account, 32),
                fixed(self.cash_account, 32), self.effective_date)


@dataclass(frozen=True)
class SsiRecord:
    input: SsiInput
    version: int
    state: SsiState
    registered_by: str
    approved_by: str
    termination_requested_by: str



# -- master data ----------------------------------------------------------------------------------

FUND_REGISTRY_DEFAULTS = (True, True, True, True, 0x18, True)  # FundRegistry.Params defaults (§5)


class FundRegistry(Instance):
    """The funds of one asset manager, private to the manager, the listed trustees and the brokers
    that trade the funds (read only)."""

    CONTRACT = "FundRegistry"

    @classmethod
    def deploy(cls, net: PostTradeNetwork, manager: Party, trustees: Sequence[Party], brokers: Sequence[Party],
               params: tuple[bool, bool, bool, bool, int, bool] = FUND_REGISTRY_DEFAULTS) -> FundRegistry:
        """Deployed by the manager, privateFor {manager, trustees, brokers}."""
        parties = [manager, *trustees, *brokers]
        return cls._deploy(net, manager, [manager.address, [t.address for t in trustees], params], parties)

    def create_fund(self, manager: Party, fund: FundInput) -> Sent:
        return self.send(manager, "createFund", fund.as_abi())

    def submit_fund(self, manager: Party, fund_code: str) -> Sent:
        return self.send(manager, "submitFund", b16(fund_code))

    def confirm_fund(self, trustee: Party, fund_code: str) -> Sent:
        return self.send(trustee, "confirmFund", b16(fund_code))

    def reject_fund(self, trustee: Party, fund_code: str, reason: str) -> Sent:
        return self.send(trustee, "rejectFund", b16(fund_code), reason)

    def suspend_fund(self, party: Party, fund_code: str, reason: str) -> Sent:
        return self.send(party, "suspendFund", b16(fund_code), reason)

    def resume_fund(self, party: Party, fund_code: str) -> Sent:
        return self.send(party, "resumeFund", b16(fund_code))

    def set_aml_status(self, party: Party, fund_code: str, status: AmlStatus, reviewed_on: int) -> Sent:
        return self.send(party, "setAmlStatus", b16(fund_code), int(status), reviewed_on)

    def register_fund(self, manager: Party, fund: FundInput) -> list[Sent]:
        """createFund → submitFund (manager) → confirmFund (the fund's trustee): REGISTERED."""
        return [self.create_fund(manager, fund), self.submit_fund(manager, fund.fund_code),
                self.confirm_fund(fund.trustee, fund.fund_code)]

    def get_fund(self, reader: Party, fund_code: str) -> FundRecord:
        f = self.read(reader, "getFund", b16(fund_code))
        return FundRecord(text_of(f.fundCode), FundType(f.fundType), FundState(f.state), f.assetManagerLei,
                          f.establishmentDate, f.redemptionDate, AmlStatus(f.amlStatus), f.version)

    def status_on(self, reader: Party, fund_code: str, day: int) -> FundState:
        return FundState(self.read(reader, "statusOn", b16(fund_code), day))

    def check_eligibility(self, reader: Party, fund_code: str, trade_date: int, settlement_date: int,
                          trustee: Party) -> tuple[bool, str]:
        ok, reason = self.read(reader, "checkEligibility", b16(fund_code), trade_date, settlement_date,
                               trustee.address)
        return bool(ok), str(reason)


class SsiRegistry(Instance):
    """SSIs of one (manager, trustee, broker), private to exactly those three."""

    CONTRACT = "SsiRegistry"

    @classmethod
    def deploy(cls, net: PostTradeNetwork, manager: Party, trustee: Party, broker: Party,
               effective_dating: bool = True, strict_identifier_case: bool = True) -> SsiRegistry:
        return cls._deploy(net, manager, [manager.address, trustee.address, broker.address, effective_dating,
                                          strict_identifier_case], [manager, trustee, broker])

    def register_ssi(self, party: Party, ssi: SsiInput) -> Sent:
        """By either settlement party → PENDING_COUNTERPARTY_APPROVAL (the new version is
        `version_count` afterwards)."""
        return self.send(party, "registerSsi", ssi.as_abi())

    def approve_ssi(self, party: Party, fund_code: str, version: int, security_type: str = "EQU") -> Sent:
        return self.send(party, "approveSsi", b16(fund_code), fixed(security_type, 4), version)

    def reject_ssi(self, party: Party, fund_code: str, version: int, security_type: str = "EQU") -> Sent:
        return self.send(party, "rejectSsi", b16(fund_code), fixed(security_type, 4), version)

    def request_termination(self, party: Party, fund_code: str, version: int, security_type: str = "EQU") -> Sent:
        return self.send(party, "requestTermination", b16(fund_code), fixed(security_type, 4), version)

    def confirm_termination(self, party: Party, fund_code: str, version: int, security_type: str = "EQU") -> Sent:
        return self.send(party, "confirmTermination", b16(fund_code), fixed(security_type, 4), version)

    def version_count(self, reader: Party, fund_code: str, security_type: str = "EQU") -> int:
        return int(self.read(reader, "versionCount", b16(fund_code), fixed(security_type, 4)))

    def get_ssi(self, reader: Party, fund_code: str, version: int, security_type: str = "EQU") -> SsiRecord:
        s = self.read(reader, "getSsi", b16(fund_code), fixed(security_type, 4), version)
        i = s.input
        ssi = SsiInput(text_of(i.fundCode), i.effectiveDate, text_of(i.safekeepingAccount), text_of(i.cashAccount),
                       text_of(i.securityType), text_of(i.market), text_of(i.method), i.pset, i.agentBic,
                       i.agentJasdecCode)
        return SsiRecord(ssi, s.version, SsiState(s.state), s.registeredBy, s.approvedBy, s.terminationRequestedBy)

    def state_on(self, reader: Party, fund_code: str, version: int, day: int, security_type: str = "EQU") -> SsiState:
        return SsiState(self.read(reader, "stateOn", b16(fund_code), fixed(security_type, 4), version, day))

    def ssi_in_force(self, reader: Party, fund_code: str, day: int, security_type: str = "EQU") -> int | None:
        found, version = self.read(reader, "ssiInForce", b16(fund_code), fixed(security_type, 4), day)
        return int(version) if found else None
