"""Fund and SSI master data: records and the FundRegistry, FundEvidenceBook and SsiRegistry clients,
and the trustee change across registries (`change_trustee`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from postrade import reference as ref
from postrade.clients.enums import AmlStatus, ChangeState, EvidenceState, FundState, FundType, SsiState
from postrade.clients.instance import Instance
from postrade.clients.network import ZERO_ADDRESS, Party, PostTradeError, PostTradeNetwork, Sent, b16, fixed, text_of


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
    state: FundState  # stored state; `FundRegistry.status_on` derives ACTIVE and TRANSFERRED
    asset_manager_lei: str
    establishment_date: int
    redemption_date: int
    aml_status: AmlStatus
    version: int
    aml_reviewed_on: int = 0  # the flag's as-of date
    transferred_in_on: int = 0  # effective date of the transfer that brought the fund here, or 0
    transferred_from: str = ZERO_ADDRESS  # the registry it came from


@dataclass(frozen=True)
class TransferIn:
    """What a fund brings into the incoming trustee's registry besides its static data."""

    effective_date: int
    from_registry: str
    redemption_date: int = 0
    aml_status: AmlStatus = AmlStatus.NOT_STARTED
    aml_reviewed_on: int = 0

    def as_abi(self) -> tuple[Any, ...]:
        return (self.effective_date, to_checksum_address(self.from_registry), self.redemption_date,
                int(self.aml_status), self.aml_reviewed_on)


@dataclass(frozen=True)
class ChangeRecord:
    """A FundRegistry change request (§4.4, MD-07); `state` is the stored one (see `change_status_on`)."""

    change_id: int
    fund_code: str
    field: str
    new_value: bytes
    effective_date: int
    requested_by: str
    approvers: tuple[str, ...]  # required approvals besides the requester
    approved_by: tuple[str, ...]
    state: ChangeState


@dataclass(frozen=True)
class Numbered:
    """A step that created a numbered record (a change request, an evidence item): its id and the step."""

    id: int
    sent: Sent


@dataclass(frozen=True)
class EvidenceInput:
    """One review of a fund (FundEvidenceBook.EvidenceInput): the document and reviewer by reference only."""

    fund_code: str
    kind: ref.EvidenceKind
    document_hash: bytes  # 32 bytes: the review file, kept off chain
    reviewer_ref: bytes  # 32 bytes: an internal reference of the reviewer, never a name
    reviewed_on: int
    result: ref.EvidenceResult
    next_review_due: int

    def as_abi(self) -> tuple[Any, ...]:
        return (b16(self.fund_code), int(self.kind), fixed(self.document_hash, 32), fixed(self.reviewer_ref, 32),
                self.reviewed_on, int(self.result), self.next_review_due)


@dataclass(frozen=True)
class EvidenceRecord:
    input: EvidenceInput
    state: EvidenceState
    recorded_by: str
    answered_by: str  # who acknowledged or disputed it
    answered_on: int
    dispute_reason: str


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
        """The flag brokers see and its as-of date (never earlier than the current one)."""
        return self.send(party, "setAmlStatus", b16(fund_code), int(status), reviewed_on)

    def amend_draft(self, manager: Party, fund: FundInput) -> Sent:
        return self.send(manager, "amendDraft", fund.as_abi())

    # -- redemption (§4.4): the manager schedules (or moves) the date, the trustee confirms it ------

    def schedule_redemption(self, manager: Party, fund_code: str, redemption_date: int) -> Sent:
        return self.send(manager, "scheduleRedemption", b16(fund_code), redemption_date)

    def confirm_redemption(self, trustee: Party, fund_code: str, redemption_date: int) -> Sent:
        return self.send(trustee, "confirmRedemption", b16(fund_code), redemption_date)

    def redeem_on(self, manager: Party, trustee: Party, fund_code: str, redemption_date: int) -> list[Sent]:
        """scheduleRedemption (manager) → confirmRedemption (trustee): REDEMPTION_SCHEDULED."""
        return [self.schedule_redemption(manager, fund_code, redemption_date),
                self.confirm_redemption(trustee, fund_code, redemption_date)]

    def mark_redeemed(self, party: Party, fund_code: str) -> Sent:
        """After the redemption date (block time, JST); the caller attests no trade is unsettled."""
        return self.send(party, "markRedeemed", b16(fund_code))

    # -- change requests (§4.4, MD-07) ----------------------------------------------------------------

    def propose_change(self, party: Party, fund_code: str, field: str, value: bytes | str,
                       effective_date: int) -> Numbered:
        """By the manager or the fund's trustee; `value` as the field stores it (text fields as str,
        TRUSTEE / TRANSFER via `trustee_value` / `transfer_value`). Returns the change id."""
        raw = value.encode() if isinstance(value, str) else bytes(value)
        sent = self.send(party, "proposeChange", b16(fund_code), fixed(field, 32), raw, effective_date)
        return Numbered(_indexed_id(sent, _CHANGE_PROPOSED), sent)

    def approve_change(self, party: Party, change_id: int) -> Sent:
        return self.send(party, "approveChange", change_id)

    def reject_change(self, party: Party, change_id: int) -> Sent:
        return self.send(party, "rejectChange", change_id)

    def withdraw_change(self, party: Party, change_id: int) -> Sent:
        return self.send(party, "withdrawChange", change_id)

    def get_change(self, reader: Party, change_id: int) -> ChangeRecord:
        c = self.read(reader, "getChange", change_id)
        approvers = tuple(to_checksum_address(a) for a in c.approvers)
        approved = tuple(a for i, a in enumerate(approvers) if c.approvedMask >> i & 1)
        return ChangeRecord(change_id, text_of(c.fundCode), text_of(c.field), bytes(c.newValue), c.effectiveDate,
                            to_checksum_address(c.requestedBy), approvers, approved, ChangeState(c.state))

    def change_status_on(self, reader: Party, change_id: int, day: int) -> ChangeState:
        """APPROVED reads EFFECTIVE from the effective date."""
        return ChangeState(self.read(reader, "changeStatusOn", change_id, day))

    def change_count(self, reader: Party) -> int:
        return int(self.read(reader, "changeCount"))

    def field_on(self, reader: Party, fund_code: str, field: str, day: int) -> bytes:
        """The attribute as of `day`: the latest approved value dated <= day (MD-07)."""
        return bytes(self.read(reader, "fieldOn", b16(fund_code), fixed(field, 32), day))

    def trustee_on(self, reader: Party, fund_code: str, day: int) -> str:
        """The trustee in office on `day` (the zero address once the fund has been transferred out)."""
        return to_checksum_address(self.read(reader, "trusteeOn", b16(fund_code), day))

    def transfer_on(self, reader: Party, fund_code: str, day: int) -> tuple[str, str] | None:
        """(incoming trustee, its registry) of the transfer in force on `day`, None when none."""
        incoming, registry = self.read(reader, "transferOn", b16(fund_code), day)
        return None if int(incoming, 16) == 0 else (to_checksum_address(incoming), to_checksum_address(registry))

    # -- the AML flag (brokers' view of the evidence) ---------------------------------------------------

    def aml_status(self, reader: Party, fund_code: str) -> tuple[AmlStatus, int]:
        """The current flag and its as-of date."""
        f = self.read(reader, "getFund", b16(fund_code))
        return AmlStatus(f.amlStatus), int(f.amlReviewedOn)

    def aml_status_on(self, reader: Party, fund_code: str, day: int) -> tuple[AmlStatus, int]:
        """The flag as of `day` and the as-of date of the review it reflects ((NOT_STARTED, 0) before any)."""
        status, as_of = self.read(reader, "amlStatusOn", b16(fund_code), day)
        return AmlStatus(status), int(as_of)

    # -- transfer in (the incoming trustee's registry) --------------------------------------------

    def transfer_in(self, manager: Party, fund: FundInput, transfer: TransferIn) -> Sent:
        """The manager re-creates a fund transferred from another registry: PENDING_TRUSTEE until the
        incoming trustee confirms it (`confirm_fund`), ACTIVE here from the effective date."""
        return self.send(manager, "transferIn", fund.as_abi(), transfer.as_abi())

    def carried_input(self, reader: Party, fund_code: str, day: int, trustee: Party, trustee_lei: str) -> FundInput:
        """The fund's static data in force on `day`, for `trustee` (what a transfer carries over)."""
        f = self.get_fund(reader, fund_code)

        def text(field: str) -> str:
            return self.field_on(reader, fund_code, field, day).decode()

        return FundInput(fund_code, trustee, f.establishment_date, f.asset_manager_lei, trustee_lei,
                         name_ja=text("NAME_JA"), name_en=text("NAME_EN"), fund_type=f.fund_type,
                         fund_lei=text("FUND_LEI"), fiscal_period_end=text("FISCAL_PERIOD_END"),
                         tax_status=text("TAX_STATUS"), giin=text("GIIN"), fatca_classification=text("FATCA"),
                         crs_status=text("CRS"))

    def register_fund(self, manager: Party, fund: FundInput) -> list[Sent]:
        """createFund → submitFund (manager) → confirmFund (the fund's trustee): REGISTERED."""
        return [self.create_fund(manager, fund), self.submit_fund(manager, fund.fund_code),
                self.confirm_fund(fund.trustee, fund.fund_code)]

    def get_fund(self, reader: Party, fund_code: str) -> FundRecord:
        f = self.read(reader, "getFund", b16(fund_code))
        return FundRecord(text_of(f.fundCode), FundType(f.fundType), FundState(f.state), f.assetManagerLei,
                          f.establishmentDate, f.redemptionDate, AmlStatus(f.amlStatus), f.version,
                          f.amlReviewedOn, f.transferredInOn, to_checksum_address(f.transferredFrom))

    def status_on(self, reader: Party, fund_code: str, day: int) -> FundState:
        return FundState(self.read(reader, "statusOn", b16(fund_code), day))

    def check_eligibility(self, reader: Party, fund_code: str, trade_date: int, settlement_date: int,
                          trustee: Party) -> tuple[bool, str]:
        ok, reason = self.read(reader, "checkEligibility", b16(fund_code), trade_date, settlement_date,
                               trustee.address)
        return bool(ok), str(reason)


def trustee_value(trustee: Party | str) -> bytes:
    """The value of a TRUSTEE change (a trustee that is a party of the same registry)."""
    return abi_encode(["address"], [to_checksum_address(trustee.address if isinstance(trustee, Party) else trustee)])


def transfer_value(incoming: Party | str | None, registry: Instance | str | None) -> bytes:
    """The value of a TRANSFER change: the incoming trustee and its registry; None, None cancels."""
    who = ZERO_ADDRESS if incoming is None else incoming.address if isinstance(incoming, Party) else incoming
    where = ZERO_ADDRESS if registry is None else registry.address if isinstance(registry, Instance) else registry
    return abi_encode(["address", "address"], [to_checksum_address(who), to_checksum_address(where)])


_CHANGE_PROPOSED = keccak(text="ChangeProposed(uint256,bytes16,bytes32,uint32)")
_EVIDENCE_RECORDED = keccak(text="EvidenceRecorded(uint256,bytes16,uint8,uint8,address)")


def _indexed_id(sent: Sent, topic0: bytes) -> int:
    """The id a step's event carries as its first indexed argument, from the sender's private logs."""
    for log in sent.logs:
        topics = [bytes(t) for t in log["topics"]]
        if topics and topics[0] == topic0:
            return int.from_bytes(topics[1], "big")
    raise PostTradeError("the step emitted no numbered event", action=sent.action, party=sent.sender)


class FundEvidenceBook(Instance):
    """AML/FATCA/CRS review evidence of one (manager, trustee): private to exactly those two (and a
    regulator when configured). Brokers never hold it; they read the flag in the FundRegistry."""

    CONTRACT = "FundEvidenceBook"

    @classmethod
    def deploy(cls, net: PostTradeNetwork, manager: Party, trustee: Party,
               fund_registry: FundRegistry | None = None) -> FundEvidenceBook:
        """Deployed by the manager, privateFor {manager, trustee}. With `fund_registry` (the registry of
        the same pair) a fund must exist there to get evidence; every party of the book is one of the
        registry's, so the read is the same on every node."""
        holders = {(p.node, p.address) for p in (fund_registry.parties or ())} if fund_registry else set()
        if fund_registry is not None and fund_registry.parties is not None and not {
                (p.node, p.address) for p in (manager, trustee)} <= holders:
            raise ValueError("the fund registry must have the manager and the trustee as parties")
        registry = fund_registry.address if fund_registry is not None else ZERO_ADDRESS
        return cls._deploy(net, manager, [manager.address, trustee.address, registry], [manager, trustee])

    def record_evidence(self, party: Party, evidence: EvidenceInput) -> Numbered:
        """By the manager or the trustee: RECORDED until the other side acknowledges or disputes it."""
        sent = self.send(party, "recordEvidence", evidence.as_abi())
        return Numbered(_indexed_id(sent, _EVIDENCE_RECORDED), sent)

    def acknowledge_evidence(self, party: Party, evidence_id: int) -> Sent:
        return self.send(party, "acknowledgeEvidence", evidence_id)

    def dispute_evidence(self, party: Party, evidence_id: int, reason: str) -> Sent:
        return self.send(party, "disputeEvidence", evidence_id, reason)

    def get_evidence(self, reader: Party, evidence_id: int) -> EvidenceRecord:
        e = self.read(reader, "getEvidence", evidence_id)
        i = e.input
        x = EvidenceInput(text_of(i.fundCode), ref.EvidenceKind(i.kind), bytes(i.documentHash), bytes(i.reviewerRef),
                          i.reviewedOn, ref.EvidenceResult(i.result), i.nextReviewDue)
        return EvidenceRecord(x, EvidenceState(e.state), to_checksum_address(e.recordedBy),
                              to_checksum_address(e.answeredBy), e.answeredOn, e.disputeReason)

    def evidence_of(self, reader: Party, fund_code: str) -> list[int]:
        return [int(i) for i in self.read(reader, "evidenceOf", b16(fund_code))]

    def latest_evidence(self, reader: Party, fund_code: str, kind: ref.EvidenceKind, day: int) -> int | None:
        """The latest acknowledged review of `kind` dated <= day, None when none."""
        found, evidence_id = self.read(reader, "latestEvidence", b16(fund_code), int(kind), day)
        return int(evidence_id) if found else None

    def aml_status_on(self, reader: Party, fund_code: str, day: int) -> tuple[AmlStatus, int]:
        """The AML flag the evidence supports as of `day`, and its as-of date (ref.aml_flag_on)."""
        status, as_of = self.read(reader, "amlStatusOn", b16(fund_code), day)
        return AmlStatus(status), int(as_of)


def publish_aml_status(evidence: FundEvidenceBook, registry: FundRegistry, party: Party, fund_code: str,
                       day: int) -> Sent:
    """Set the registry's flag (what brokers see) to what the evidence supports as of `day`, read on
    `party`'s node. Two steps because the registry's brokers must not hold the evidence: the flag
    and its as-of date travel as plain arguments."""
    status, as_of = evidence.aml_status_on(party, fund_code, day)
    return registry.set_aml_status(party, fund_code, status, as_of)


@dataclass(frozen=True)
class TrusteeChange:
    """The steps of a trustee change across registries (`change_trustee`)."""

    change_id: int  # the TRANSFER change in the outgoing trustee's registry
    proposed: Sent
    approved: Sent
    transferred_in: Sent
    confirmed: Sent
    carried: FundInput


def change_trustee(old: FundRegistry, new: FundRegistry, manager: Party, outgoing: Party, incoming: Party,
                   fund_code: str, effective_date: int, incoming_lei: str) -> TrusteeChange:
    """Move a fund from the (manager, outgoing trustee) registry to the (manager, incoming trustee)
    registry from `effective_date` [A-MD-TRUSTEE-CHG, §4.6]: `propose_trustee_change`, then
    `complete_trustee_change`."""
    proposal = propose_trustee_change(old, new, manager, incoming, fund_code, effective_date)
    return complete_trustee_change(old, new, proposal, manager, outgoing, incoming, fund_code, effective_date,
                                   incoming_lei)


def propose_trustee_change(old: FundRegistry, new: FundRegistry, manager: Party, incoming: Party, fund_code: str,
                           effective_date: int) -> Numbered:
    """The manager proposes, in the old registry, TRANSFER to the incoming trustee and its registry
    (not backdated); the outgoing trustee is the required approver."""
    return old.propose_change(manager, fund_code, "TRANSFER", transfer_value(incoming, new), effective_date)


def complete_trustee_change(old: FundRegistry, new: FundRegistry, proposal: Numbered, manager: Party,
                            outgoing: Party, incoming: Party, fund_code: str, effective_date: int,
                            incoming_lei: str) -> TrusteeChange:
    """1. old registry: the outgoing trustee approves the TRANSFER: from the effective date the old
       registry reads TRANSFERRED and refuses new allocations; reads before it are unchanged (the
       history stays with the outgoing trustee);
    2. new registry: the manager copies the attributes in force on the effective date (read on its
       own node), the redemption date and the AML flag as of that date (`transfer_in`), and the
       incoming trustee confirms: ACTIVE there from the effective date.

    The incoming trustee never holds the old registry, the outgoing trustee never the new one. If the
    incoming trustee rejects the transfer, `cancel_transfer` undoes step 1 before the effective date."""
    approved = old.approve_change(outgoing, proposal.id)
    carried = old.carried_input(manager, fund_code, effective_date, incoming, incoming_lei)
    fund = old.get_fund(manager, fund_code)
    aml, aml_as_of = old.aml_status_on(manager, fund_code, effective_date)
    transfer = TransferIn(effective_date, old.address, fund.redemption_date, aml, aml_as_of)
    moved = new.transfer_in(manager, carried, transfer)
    confirmed = new.confirm_fund(incoming, fund_code)
    return TrusteeChange(proposal.id, proposal.sent, approved, moved, confirmed, carried)


def cancel_transfer(old: FundRegistry, manager: Party, outgoing: Party, fund_code: str,
                    effective_date: int) -> Numbered:
    """Before its effective date: a TRANSFER of zeros on the same date (the later approval wins)."""
    proposal = old.propose_change(manager, fund_code, "TRANSFER", transfer_value(None, None), effective_date)
    old.approve_change(outgoing, proposal.id)
    return proposal


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
