"""AML/FATCA evidence (FundEvidenceBook), the AML flag as of a date, and the trustee change across
registries (TRANSFER out, `transferIn`, incoming trustee's confirmation) on the contracts (§4.4, §4.6, §6).

Each allowed step is paired with the wrong parties' attempt (refused with the contract's reason, no
state moved), and the derived readings (the AML flag, a fund's state on a date) are cross-checked
with the reference model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from postrade import reference as ref
from postrade.clients import (
    AmlStatus,
    EvidenceInput,
    FundInput,
    Party,
    TransferIn,
    transfer_value,
    trustee_value,
)
from tests.unit.postrade.conftest import (
    FUND_REGISTRY_DEFAULTS,
    TEST_LEI_AM,
    TEST_LEI_TB,
    Contract,
    EvmHarness,
    b16,
    fund_input,
    revert_reason,
)

D = ref.to_day
ZERO = b"\0" * 20
TRANSFER = b"TRANSFER".ljust(32, b"\0")
EFFECTIVE = "2025-07-01"
CHANGE_STATES = ["NONE", "PROPOSED", "APPROVED", "EFFECTIVE", "REJECTED", "WITHDRAWN"]
OUTSIDERS = ("broker_a", "broker_b", "outsider", "admin")


def hexa(raw: bytes) -> str:
    return "0x" + raw.hex()


def lower(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(v.lower() for v in values)


def party(evm: EvmHarness, name: str) -> Party:
    return Party(name, name, "", "0x" + evm.addr[name].hex(), "")


def refused(contract: Contract, fn: str, args: Sequence[Any], reason: str, senders: Sequence[str],
            state: Any) -> None:
    """Every sender's attempt reverts with `reason` and `state()` reads the same afterwards."""
    before = state()
    for sender in senders:
        assert revert_reason(lambda s=sender: contract.transact(fn, *args, sender=s)) == reason, sender
    assert state() == before


# ---------------------------------------------------------------------------------------------
# evidence
# ---------------------------------------------------------------------------------------------


@dataclass
class EvidenceWorld:
    evm: EvmHarness
    registry: Contract  # (investor, trustee1), broker A reads
    book: Contract  # (investor, trustee1) only


def registry_of(evm: EvmHarness, trustee: str) -> Contract:
    return evm.deploy("FundRegistry", evm.addr["investor"], [evm.addr[trustee]], FUND_REGISTRY_DEFAULTS,
                      sender="investor")


def register(reg: Contract, code: str, trustee: str, establishment: str = "2019-01-04", **over: Any) -> None:
    reg.transact("createFund", fund_input(code, reg.evm.addr[trustee], establishment, **over), sender="investor")
    reg.transact("submitFund", b16(code), sender="investor")
    reg.transact("confirmFund", b16(code), sender=trustee)


@pytest.fixture
def ew(evm: EvmHarness) -> EvidenceWorld:
    evm.set_today("2025-06-01")
    reg = registry_of(evm, "trustee1")
    register(reg, "FUND-E", "trustee1")
    book = evm.deploy("FundEvidenceBook", evm.addr["investor"], evm.addr["trustee1"], reg.address,
                      sender="investor")
    return EvidenceWorld(evm, reg, book)


def evidence(code: str = "FUND-E", kind: ref.EvidenceKind = ref.EvidenceKind.AML, reviewed: str | int = "2025-04-01",
             result: ref.EvidenceResult = ref.EvidenceResult.CLEARED, due: str | int = "2026-03-31",
             **over: Any) -> tuple[Any, ...]:
    x = EvidenceInput(code, kind, keccak(text=f"kyc-file:{code}:{reviewed}"), keccak(text="reviewer:0042"),
                      D(reviewed), result, D(due))
    raw = list(x.as_abi())
    for i, name in enumerate(("fundCode", "kind", "documentHash", "reviewerRef", "reviewedOn", "result",
                              "nextReviewDue")):
        raw[i] = over.get(name, raw[i])
    return tuple(raw)


def test_evidence_is_recorded_by_one_side_and_acknowledged_by_the_other(ew: EvidenceWorld) -> None:
    book, evm = ew.book, ew.evm
    assert [evm.name(book.call(role)) for role in ("assetManager", "trustee")] == ["investor", "trustee1"]
    assert book.call("fundRegistry").lower() == hexa(ew.registry.address)
    r = book.transact("recordEvidence", evidence(), sender="investor")
    assert r.output == 0 and r.named("EvidenceRecorded")[0].kind == ref.EvidenceKind.AML
    item = book.call("getEvidence", 0)
    assert (item.state, evm.name(item.recordedBy), item.input.documentHash) == (
        1, "investor", keccak(text="kyc-file:FUND-E:2025-04-01"))
    # recorded but not acknowledged: IN_REVIEW, nothing counts yet
    assert book.call("amlStatusOn", b16("FUND-E"), D("2025-06-01")) == (AmlStatus.IN_REVIEW, D("2025-04-01"))
    assert book.call("latestEvidence", b16("FUND-E"), 0, D("2025-06-01")) == (False, 0)
    state = lambda: book.call("getEvidence", 0)  # noqa: E731
    refused(book, "acknowledgeEvidence", [0], "acknowledgeEvidence: only the side that did not record it",
            ["investor", "trustee2", *OUTSIDERS], state)
    refused(book, "disputeEvidence", [0, "no"], "disputeEvidence: only the side that did not record it",
            ["investor", "broker_a"], state)
    book.transact("acknowledgeEvidence", 0, sender="trustee1")
    item = book.call("getEvidence", 0)
    assert (item.state, evm.name(item.answeredBy), item.answeredOn) == (2, "trustee1", D("2025-06-01"))
    assert book.call("latestEvidence", b16("FUND-E"), 0, D("2025-06-01")) == (True, 0)
    assert book.call("amlStatusOn", b16("FUND-E"), D("2025-06-01")) == (AmlStatus.APPROVED, D("2025-04-01"))
    assert book.call("amlStatusOn", b16("FUND-E"), D("2026-04-01")) == (AmlStatus.REVIEW_DUE, D("2025-04-01"))
    assert book.call("amlStatusOn", b16("FUND-E"), D("2025-03-31")) == (AmlStatus.NOT_STARTED, 0)
    assert "not RECORDED" in revert_reason(lambda: book.transact("acknowledgeEvidence", 0, sender="trustee1"))
    # the trustee's FATCA evidence, disputed by the manager
    book.transact("recordEvidence", evidence(kind=ref.EvidenceKind.FATCA), sender="trustee1")
    book.transact("disputeEvidence", 1, "wrong classification", sender="investor")
    item = book.call("getEvidence", 1)
    assert (item.state, item.disputeReason, evm.name(item.answeredBy)) == (3, "wrong classification", "investor")
    assert book.call("latestEvidence", b16("FUND-E"), 1, D("2025-06-01")) == (False, 0)
    assert book.call("evidenceOf", b16("FUND-E")) == [0, 1] and book.call("evidenceCount") == 2


def test_only_the_manager_and_the_trustee_write_evidence(ew: EvidenceWorld) -> None:
    refused(ew.book, "recordEvidence", [evidence()], "recordEvidence: only asset manager or trustee",
            ["broker_a", "broker_b", "trustee2", "outsider", "admin"], lambda: ew.book.call("evidenceCount"))


@pytest.mark.parametrize(("over", "reason"), [
    ({"fundCode": b16("FUND-X")}, "recordEvidence: unknown fund"),
    ({"fundCode": b16("fund-e")}, "recordEvidence: invalid fund code"),
    ({"documentHash": b"\0" * 32}, "recordEvidence: document hash required"),
    ({"reviewerRef": b"\0" * 32}, "recordEvidence: reviewer reference required"),
    ({"reviewedOn": 0}, "recordEvidence: review date required"),
    ({"result": 0}, "recordEvidence: result required"),
    ({"nextReviewDue": D("2025-04-01")}, "recordEvidence: next review must follow the review"),
])
def test_evidence_fields_are_checked(ew: EvidenceWorld, over: dict[str, Any], reason: str) -> None:
    assert revert_reason(lambda: ew.book.transact("recordEvidence", evidence(**over), sender="investor")) == reason


def test_a_fund_not_yet_established_on_the_review_date_is_known(ew: EvidenceWorld) -> None:
    """The registry check is existence (any state), not activity: reviews precede establishment."""
    register(ew.registry, "FUND-L", "trustee1", "2025-09-01")
    ew.book.transact("recordEvidence", evidence("FUND-L"), sender="investor")


AML_ITEMS = st.lists(st.tuples(
    st.sampled_from(list(ref.EvidenceKind)),
    st.integers(0, 12),  # reviewed on: day offset (a narrow range, so that ties occur)
    st.sampled_from([ref.EvidenceResult.CLEARED, ref.EvidenceResult.ESCALATED, ref.EvidenceResult.REJECTED]),
    st.integers(1, 20),  # next review due after the review
    st.sampled_from(["ack", "dispute", "open"]),
    st.booleans(),  # recorded by the manager (else the trustee)
), min_size=0, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=AML_ITEMS, probes=st.lists(st.integers(-3, 40), min_size=3, max_size=6))
@example(items=[(ref.EvidenceKind.AML, 3, ref.EvidenceResult.CLEARED, 9, "ack", True),  # same day: the later wins
                (ref.EvidenceKind.AML, 3, ref.EvidenceResult.REJECTED, 9, "ack", False),
                (ref.EvidenceKind.AML, 5, ref.EvidenceResult.CLEARED, 9, "open", True)], probes=[4])
def test_aml_flag_equals_the_reference_model(evm: EvmHarness, items: list[tuple], probes: list[int]) -> None:
    base = D("2025-01-01")
    book = evm.deploy("FundEvidenceBook", evm.addr["investor"], evm.addr["trustee1"], ZERO, sender="investor")
    model = []
    for i, (kind, offset, result, gap, answer, by_manager) in enumerate(items):
        recorder, other = ("investor", "trustee1") if by_manager else ("trustee1", "investor")
        book.transact("recordEvidence", evidence(kind=kind, reviewed=base + offset, result=result,
                                                 due=base + offset + gap), sender=recorder)
        if answer == "ack":
            book.transact("acknowledgeEvidence", i, sender=other)
        elif answer == "dispute":
            book.transact("disputeEvidence", i, "x", sender=other)
        if answer != "dispute":
            model.append(ref.EvidenceItem(kind, base + offset, result, base + offset + gap, answer == "ack"))
    # the random days and every boundary: each review's date and next-review date, and the day either side
    edges = {d + e for x in model for d in (x.reviewed_on, x.next_review_due) for e in (-1, 0, 1)}
    for day in sorted(edges | {base + p for p in probes}):
        assert book.call("amlStatusOn", b16("FUND-E"), day) == ref.aml_flag_on(model, day), day


def test_the_registry_flag_is_published_from_the_evidence_and_kept_as_of_dates(ew: EvidenceWorld) -> None:
    """Brokers read the flag and its as-of date (the registry), never the evidence (the book)."""
    reg, book = ew.registry, ew.book
    book.transact("recordEvidence", evidence(reviewed="2025-04-01"), sender="investor")
    book.transact("acknowledgeEvidence", 0, sender="trustee1")
    status, as_of = book.call("amlStatusOn", b16("FUND-E"), D("2025-06-01"))
    reg.transact("setAmlStatus", b16("FUND-E"), status, as_of, sender="investor")  # what publish_aml_status sends
    book.transact("recordEvidence", evidence(reviewed="2025-05-20", result=ref.EvidenceResult.REJECTED),
                  sender="trustee1")
    book.transact("acknowledgeEvidence", 1, sender="investor")
    status, as_of = book.call("amlStatusOn", b16("FUND-E"), D("2025-06-01"))
    assert (status, as_of) == (AmlStatus.REJECTED, D("2025-05-20"))
    reg.transact("setAmlStatus", b16("FUND-E"), status, as_of, sender="trustee1")
    fund = reg.call("getFund", b16("FUND-E"))
    assert (fund.amlStatus, fund.amlReviewedOn) == (AmlStatus.REJECTED, D("2025-05-20"))
    for day, want in (("2025-03-31", (AmlStatus.NOT_STARTED, 0)),
                      ("2025-04-01", (AmlStatus.APPROVED, D("2025-04-01"))),
                      ("2025-05-19", (AmlStatus.APPROVED, D("2025-04-01"))),
                      ("2025-05-20", (AmlStatus.REJECTED, D("2025-05-20")))):
        assert reg.call("amlStatusOn", b16("FUND-E"), D(day)) == want, day
    assert reg.call("checkEligibility", b16("FUND-E"), D("2025-06-02"), D("2025-06-04"), ew.evm.addr["trustee1"]) \
        == (False, "AML status blocks new allocations")
    refused(reg, "setAmlStatus", [b16("FUND-E"), AmlStatus.APPROVED, D("2025-05-19")],
            "setAmlStatus: as-of date before the current one", ["investor"], lambda: reg.call("getFund", b16("FUND-E")))
    refused(reg, "setAmlStatus", [b16("FUND-E"), AmlStatus.APPROVED, D("2025-06-01")],
            "setAmlStatus: only asset manager or the fund's trustee", ["broker_a", "trustee2", "outsider"],
            lambda: reg.call("getFund", b16("FUND-E")))


def test_client_tuples_are_what_the_contracts_take(ew: EvidenceWorld) -> None:
    x = EvidenceInput("FUND-E", ref.EvidenceKind.CRS, b"\x01" * 32, b"\x02" * 32, D("2025-04-01"),
                      ref.EvidenceResult.ESCALATED, D("2025-10-01"))
    ew.book.transact("recordEvidence", x.as_abi(), sender="trustee1")
    got = ew.book.call("getEvidence", 0).input
    assert tuple(got.values()) == x.as_abi()
    assert trustee_value(party(ew.evm, "trustee2")) == encode(["address"], [ew.evm.addr["trustee2"]])
    assert transfer_value(None, None) == b"\0" * 64


# ---------------------------------------------------------------------------------------------
# trustee change across registries
# ---------------------------------------------------------------------------------------------


@dataclass
class TransferWorld:
    evm: EvmHarness
    old: Contract  # (investor, trustee1): history stays here
    new: Contract  # (investor, trustee2)


@pytest.fixture
def tr(evm: EvmHarness) -> TransferWorld:
    evm.set_today("2025-06-01")
    old, new = registry_of(evm, "trustee1"), registry_of(evm, "trustee2")
    register(old, "FUND-T", "trustee1", giin="98Q96B.00000.LE.392")
    old.transact("setAmlStatus", b16("FUND-T"), AmlStatus.APPROVED, D("2025-04-01"), sender="trustee1")
    return TransferWorld(evm, old, new)


def status(reg: Contract, code: str, day: str) -> ref.FundStatus:
    return ref.FundStatus(reg.call("statusOn", b16(code), D(day)))


def propose_transfer(w: TransferWorld, effective: str = EFFECTIVE, sender: str = "investor") -> int:
    value = transfer_value(hexa(w.evm.addr["trustee2"]), hexa(w.new.address))
    return w.old.transact("proposeChange", b16("FUND-T"), TRANSFER, value, D(effective), sender=sender).output


def transfer_in(w: TransferWorld, **over: Any) -> None:
    carried = {"trustee": w.evm.addr["trustee2"], "trusteeLei": "5493004TRUSTBK200081",
               "giin": "98Q96B.00000.LE.392", **over}
    w.new.transact("transferIn", fund_input("FUND-T", w.evm.addr["trustee2"], "2019-01-04", **carried),
                   TransferIn(D(EFFECTIVE), hexa(w.old.address), 0, AmlStatus.APPROVED,
                              D("2025-04-01")).as_abi(), sender="investor")


def test_trustee_change_moves_the_fund_from_the_effective_date(tr: TransferWorld) -> None:
    old, new, evm = tr.old, tr.new, tr.evm
    # the incoming trustee is not a party of the old registry: a TRUSTEE change is refused there
    assert revert_reason(lambda: old.transact("proposeChange", b16("FUND-T"), b"TRUSTEE".ljust(32, b"\0"),
                                              trustee_value(hexa(evm.addr["trustee2"])), D(EFFECTIVE),
                                              sender="investor")) == "trustee is not a party of this registry"
    change = propose_transfer(tr)
    assert [evm.name(a) for a in old.call("getChange", change).approvers] == ["trustee1"]  # the outgoing trustee
    refused(old, "approveChange", [change], "approveChange: not a required approver",
            ["investor", "trustee2", "broker_a", "outsider"], lambda: old.call("getChange", change))
    old.transact("approveChange", change, sender="trustee1")
    assert CHANGE_STATES[old.call("changeStatusOn", change, D("2025-06-30"))] == "APPROVED"
    assert CHANGE_STATES[old.call("changeStatusOn", change, D(EFFECTIVE))] == "EFFECTIVE"
    # the old registry: unchanged before the effective date, TRANSFERRED from it
    t1, t2 = evm.addr["trustee1"], evm.addr["trustee2"]
    assert status(old, "FUND-T", "2025-06-30") == ref.FundStatus.ACTIVE
    assert status(old, "FUND-T", EFFECTIVE) == ref.FundStatus.TRANSFERRED
    assert old.call("checkEligibility", b16("FUND-T"), D("2025-06-27"), D("2025-07-01"), t1) == (True, "")
    assert old.call("checkEligibility", b16("FUND-T"), D(EFFECTIVE), D("2025-07-03"), t1) \
        == (False, "fund transferred to another trustee")
    assert evm.name(old.call("trusteeOn", b16("FUND-T"), D("2025-06-30"))) == "trustee1"
    assert evm.name(old.call("trusteeOn", b16("FUND-T"), D(EFFECTIVE))) is None
    assert lower(old.call("transferOn", b16("FUND-T"), D(EFFECTIVE))) == (hexa(t2), hexa(tr.new.address))
    # the new registry: carried over by the manager, confirmed by the incoming trustee only
    transfer_in(tr)
    assert status(new, "FUND-T", EFFECTIVE) == ref.FundStatus.PENDING_TRUSTEE
    refused(new, "confirmFund", [b16("FUND-T")], "confirmFund: only the fund's trustee",
            ["trustee1", "investor", "broker_a"], lambda: new.call("getFund", b16("FUND-T")))
    new.transact("confirmFund", b16("FUND-T"), sender="trustee2")
    assert status(new, "FUND-T", "2025-06-30") == ref.FundStatus.REGISTERED
    assert status(new, "FUND-T", EFFECTIVE) == ref.FundStatus.ACTIVE
    assert new.call("checkEligibility", b16("FUND-T"), D(EFFECTIVE), D("2025-07-03"), t2) == (True, "")
    assert new.call("checkEligibility", b16("FUND-T"), D("2025-06-30"), D("2025-07-02"), t2) \
        == (False, "fund not yet transferred to this trustee")
    fund = new.call("getFund", b16("FUND-T"))
    assert (fund.transferredInOn, fund.transferredFrom.lower(), fund.establishmentDate) == (
        D(EFFECTIVE), hexa(old.address), D("2019-01-04"))
    assert new.call("fieldOn", b16("FUND-T"), b"GIIN".ljust(32, b"\0"), D(EFFECTIVE)) == b"98Q96B.00000.LE.392"
    assert new.call("amlStatusOn", b16("FUND-T"), D(EFFECTIVE)) == (AmlStatus.APPROVED, D("2025-04-01"))
    # from the effective date the old trustee cannot act on the fund any more; the history stays
    evm.set_today(EFFECTIVE)
    refused(old, "suspendFund", [b16("FUND-T"), "x"], "suspendFund: fund transferred out", ["trustee1", "investor"],
            lambda: old.call("getFund", b16("FUND-T")))
    assert status(old, "FUND-T", "2025-06-30") == ref.FundStatus.ACTIVE
    assert old.call("amlStatusOn", b16("FUND-T"), D("2025-06-30")) == (AmlStatus.APPROVED, D("2025-04-01"))


@pytest.mark.parametrize("day", ["2025-06-01", "2025-06-30", EFFECTIVE, "2025-12-31"])
def test_fund_state_on_a_date_equals_the_reference_model(tr: TransferWorld, day: str) -> None:
    tr.old.transact("approveChange", propose_transfer(tr), sender="trustee1")
    transfer_in(tr)
    tr.new.transact("confirmFund", b16("FUND-T"), sender="trustee2")
    want_old = ref.fund_status_on(ref.FundStatus.REGISTERED, D(day), D("2019-01-04"), transferred_out_on=D(EFFECTIVE))
    want_new = ref.fund_status_on(ref.FundStatus.REGISTERED, D(day), D("2019-01-04"), transferred_in_on=D(EFFECTIVE))
    assert (status(tr.old, "FUND-T", day), status(tr.new, "FUND-T", day)) == (want_old, want_new)


def test_a_transfer_is_cancelled_before_its_effective_date(tr: TransferWorld) -> None:
    tr.old.transact("approveChange", propose_transfer(tr), sender="trustee1")
    cancel = tr.old.transact("proposeChange", b16("FUND-T"), TRANSFER, transfer_value(None, None), D(EFFECTIVE),
                             sender="investor").output
    tr.old.transact("approveChange", cancel, sender="trustee1")
    assert status(tr.old, "FUND-T", "2025-12-31") == ref.FundStatus.ACTIVE
    assert lower(tr.old.call("transferOn", b16("FUND-T"), D("2025-12-31"))) == (hexa(ZERO), hexa(ZERO))


@pytest.mark.parametrize(("value", "effective", "reason"), [
    (None, "2025-05-31", "proposeChange: a transfer cannot be backdated"),
    ("current", EFFECTIVE, "proposeChange: incoming trustee is the current trustee"),
    ("self", EFFECTIVE, "invalid transfer"),
    ("half", EFFECTIVE, "invalid transfer"),
    ("short", EFFECTIVE, "invalid transfer"),
])
def test_transfer_values_are_checked(tr: TransferWorld, value: str | None, effective: str, reason: str) -> None:
    t1, t2 = hexa(tr.evm.addr["trustee1"]), hexa(tr.evm.addr["trustee2"])
    raw = {None: transfer_value(t2, hexa(tr.new.address)), "current": transfer_value(t1, hexa(tr.new.address)),
           "self": transfer_value(t2, hexa(tr.old.address)), "half": transfer_value(t2, None),
           "short": trustee_value(t2)}[value]
    assert revert_reason(lambda: tr.old.transact("proposeChange", b16("FUND-T"), TRANSFER, raw, D(effective),
                                                 sender="investor")) == reason


def test_transfer_in_is_the_managers_and_keeps_a_confirmed_redemption(tr: TransferWorld) -> None:
    new, evm = tr.new, tr.evm
    x = fund_input("FUND-T", evm.addr["trustee2"], "2019-01-04")
    t = TransferIn(D(EFFECTIVE), hexa(tr.old.address), D("2025-12-30"), AmlStatus.APPROVED, D("2025-04-01"))
    refused(new, "transferIn", [x, t.as_abi()], "transferIn: only asset manager", ["trustee2", "broker_a"],
            lambda: new.call("fundCount"))
    assert revert_reason(lambda: new.transact("transferIn", x, TransferIn(D(EFFECTIVE), hexa(new.address))
                                              .as_abi(), sender="investor")) \
        == "transferIn: effective date and source registry required"
    with_t1 = fund_input("FUND-T", evm.addr["trustee1"], "2019-01-04")
    assert revert_reason(lambda: new.transact("transferIn", with_t1, t.as_abi(), sender="investor")) \
        == "trustee is not a party of this registry"
    new.transact("transferIn", x, t.as_abi(), sender="investor")
    new.transact("confirmFund", b16("FUND-T"), sender="trustee2")
    assert status(new, "FUND-T", EFFECTIVE) == ref.FundStatus.REDEMPTION_SCHEDULED
    assert status(new, "FUND-T", "2025-12-31") == ref.FundStatus.REDEEMED
    assert status(new, "FUND-T", "2025-06-30") == ref.FundStatus.REGISTERED
    assert revert_reason(lambda: new.transact("transferIn", x, t.as_abi(), sender="investor")) \
        == "transferIn: duplicate fund code"


def test_client_fund_input_round_trips(tr: TransferWorld) -> None:
    fund = FundInput("FUND-C", party(tr.evm, "trustee2"), D("2020-01-06"), TEST_LEI_AM, TEST_LEI_TB,
                     name_en="Carried Fund", giin="98Q96B.00000.LE.392")
    t = TransferIn(D(EFFECTIVE), hexa(tr.old.address), 0, AmlStatus.IN_REVIEW, D("2025-05-01"))
    tr.new.transact("transferIn", fund.as_abi(), t.as_abi(), sender="investor")
    got = tr.new.call("getFund", b16("FUND-C"))
    assert (got.transferredInOn, got.amlStatus, got.amlReviewedOn, got.state) == (
        D(EFFECTIVE), AmlStatus.IN_REVIEW, D("2025-05-01"), ref.FundStatus.PENDING_TRUSTEE)
    assert tr.new.call("fieldOn", b16("FUND-C"), b"NAME_EN".ljust(32, b"\0"), 0) == b"Carried Fund"
