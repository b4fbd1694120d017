"""Master data on the 6-node network: AML/FATCA evidence, the trustee change, redemption and change requests.

node1 = broker A, node2 = asset manager M, node3 = trust bank TB1, node4 = broker B, node5 = trust
bank TB2, node6 = regulator R (a mandatory recipient of every private record). The module deploys its
own registries (fresh ids) on the shared `postrade_world` and checks, through the typed clients:

- evidence (FundEvidenceBook of M and TB1): M, TB1 and R hold it; brokers A and B and TB2 hold
  nothing of it (JSON-RPC, manager API, database, public chain); broker A reads only the AML flag and
  its as-of date in the FundRegistry; a broker's write is refused;
- a trustee change TB1 → TB2: the old registry keeps the fund (and its history) before the effective
  date and reads TRANSFERRED from it; TB2's registry has it ACTIVE from it; TB2 holds nothing of the
  old registry, TB1 nothing of the new one; a non-trustee's approval is refused;
- redemption and a change request through their states.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest

from postrade import reference as ref
from postrade.clients import (
    AmlStatus,
    ChangeState,
    EvidenceInput,
    EvidenceState,
    FundEvidenceBook,
    FundInput,
    FundRegistry,
    FundState,
    NotAParty,
    Party,
    b16,
    complete_trustee_change,
    propose_trustee_change,
    publish_aml_status,
)
from postrade.scenario import FUND_ESTABLISHED, LEIS
from tests.e2e.test_postrade import NOT_FOUND, parties_of, private_tx, refused, view_call
from tests.helpers.postrade_world import World
from tests.helpers.privacy import assert_hidden_from, assert_visible_to

pytestmark = pytest.mark.e2e

D = ref.to_day
REVIEWED_ON = D("2026-11-20")
REVIEW_DAY = D("2026-12-01")
EFFECTIVE = D("2027-04-01")  # the trustee change: the start of a fiscal year, after today (no backdating)


@dataclass
class MasterData:
    world: World
    code: str
    old: FundRegistry  # (M, TB1, broker A)
    new: FundRegistry  # (M, TB2, broker A)
    evidence: FundEvidenceBook  # (M, TB1) only

    @property
    def tb2(self) -> Party:
        assert self.world.cast.trust_bank_2 is not None
        return self.world.cast.trust_bank_2


@pytest.fixture(scope="module")
def md(postrade_world: World) -> MasterData:
    w, c = postrade_world, postrade_world.cast
    assert c.trust_bank_2 is not None and c.regulator is not None
    code = f"MD-{w.fresh_tag()}"
    old = FundRegistry.deploy(w.net, c.manager, [c.trust_bank], [c.broker_a])
    new = FundRegistry.deploy(w.net, c.manager, [c.trust_bank_2], [c.broker_a])
    old.register_fund(c.manager, FundInput(code, c.trust_bank, FUND_ESTABLISHED, LEIS["asset manager M"],
                                           LEIS["trust bank TB1"], giin="98Q96B.00000.LE.392"))
    evidence = FundEvidenceBook.deploy(w.net, c.manager, c.trust_bank, old)
    return MasterData(w, code, old, new, evidence)


def nodes(w: World, *names: str) -> list[Any]:
    return [w.e2e.node(n) for n in names]


def test_evidence_is_the_manager_and_trustee_s_and_brokers_see_only_the_flag(md: MasterData) -> None:
    w, c, book, registry, code = md.world, md.world.cast, md.evidence, md.old, md.code
    document, reviewer = secrets.token_bytes(32), secrets.token_bytes(32)  # random: occur nowhere by chance
    item = EvidenceInput(code, ref.EvidenceKind.AML, document, reviewer, REVIEWED_ON, ref.EvidenceResult.CLEARED,
                         D("2027-11-19"))
    recorded = book.record_evidence(c.manager, item)
    pair = [c.manager, c.trust_bank]

    def evidence_state(p: Party) -> Any:
        return book.get_evidence(p, recorded.id)

    # a broker's node holds no state of the book: its write is refused before anything is sent
    refused(w, lambda: book.record_evidence(c.broker_a, item), NOT_FOUND, c.broker_a,
            lambda p: book.evidence_of(p, code), pair)
    refused(w, lambda: book.acknowledge_evidence(c.manager, recorded.id),
            "acknowledgeEvidence: only the side that did not record it", c.manager, evidence_state, pair)
    acknowledged = book.acknowledge_evidence(c.trust_bank, recorded.id)
    for p in pair:
        got = book.get_evidence(p, recorded.id)
        assert (got.input, got.state, got.recorded_by, got.answered_by) == (
            item, EvidenceState.ACKNOWLEDGED, c.manager.address, c.trust_bank.address)
        assert book.aml_status_on(p, code, REVIEW_DAY) == (AmlStatus.APPROVED, REVIEWED_ON)
    published = publish_aml_status(book, registry, c.trust_bank, code, REVIEW_DAY)

    # who holds the evidence: M, TB1 and the regulator; brokers A and B and TB2 nothing
    assert book.recipients is not None
    call = view_call(book, "latestEvidence", [b16(code), int(ref.EvidenceKind.AML), REVIEW_DAY], [True, recorded.id])
    txs = [private_tx(book, x, call, [document, reviewer])
           for x in (book.deployment, recorded.sent, acknowledged)]
    holders = parties_of(w, book)
    assert sorted(n.name for n in holders) == ["node2", "node3", "node6"]
    others = nodes(w, "node1", "node4", "node5")
    for tx in txs:
        assert_visible_to(w.e2e, tx, holders)
        assert_hidden_from(w.e2e, tx, others)
    for reader in (c.broker_a, c.broker_b, md.tb2):
        assert not book.visible_to(reader)
        with pytest.raises(NotAParty):
            book.aml_status_on(reader, code, REVIEW_DAY)

    # broker A reads the flag and its as-of date in the registry (as every registry party does)
    flag = private_tx(registry, published, view_call(registry, "amlStatusOn", [b16(code), REVIEW_DAY],
                                                     [int(AmlStatus.APPROVED), REVIEWED_ON]), [])
    assert_visible_to(w.e2e, flag, parties_of(w, registry))
    for p in (c.broker_a, c.manager, c.trust_bank):
        assert registry.aml_status(p, code) == (AmlStatus.APPROVED, REVIEWED_ON)
        assert registry.aml_status_on(p, code, REVIEWED_ON - 1) == (AmlStatus.NOT_STARTED, 0)


def test_trustee_change_moves_the_fund_and_each_trustee_keeps_only_its_own_registry(md: MasterData) -> None:
    w, c, old, new, code = md.world, md.world.cast, md.old, md.new, md.code
    tb2 = md.tb2
    aml = old.aml_status_on(c.manager, code, EFFECTIVE)  # what the transfer carries over
    proposal = propose_trustee_change(old, new, c.manager, tb2, code, EFFECTIVE)
    members = [c.manager, c.trust_bank, c.broker_a]

    def change(p: Party) -> Any:
        return old.get_change(p, proposal.id)

    assert change(c.broker_a).approvers == (c.trust_bank.address,)  # the outgoing trustee
    refused(w, lambda: old.approve_change(c.broker_a, proposal.id), "approveChange: not a required approver",
            c.broker_a, change, members)
    refused(w, lambda: old.approve_change(tb2, proposal.id), NOT_FOUND, tb2, change, members)  # not a party here
    done = complete_trustee_change(old, new, proposal, c.manager, c.trust_bank, tb2, code, EFFECTIVE,
                                   LEIS["trust bank TB2"])
    assert done.carried.giin == "98Q96B.00000.LE.392" and done.carried.trustee_lei == LEIS["trust bank TB2"]

    before = EFFECTIVE - 1
    for p in members:  # the old registry: with TB1 until the day before, TRANSFERRED from the effective date
        assert old.change_status_on(p, proposal.id, EFFECTIVE) == ChangeState.EFFECTIVE
        assert old.status_on(p, code, before) == FundState.ACTIVE
        assert old.status_on(p, code, EFFECTIVE) == FundState.TRANSFERRED
        assert old.check_eligibility(p, code, EFFECTIVE, EFFECTIVE + 2, c.trust_bank) == (
            False, "fund transferred to another trustee")
        assert old.trustee_on(p, code, before) == c.trust_bank.address
    for p in (c.manager, tb2, c.broker_a):  # the new registry: ACTIVE with TB2 from the effective date
        assert new.status_on(p, code, before) == FundState.REGISTERED
        assert new.status_on(p, code, EFFECTIVE) == FundState.ACTIVE
        assert new.check_eligibility(p, code, EFFECTIVE, EFFECTIVE + 2, tb2) == (True, "")
        assert new.check_eligibility(p, code, before, EFFECTIVE + 1, tb2) == (
            False, "fund not yet transferred to this trustee")
        assert new.aml_status_on(p, code, EFFECTIVE) == aml
        record = new.get_fund(p, code)
        assert (record.transferred_in_on, record.transferred_from) == (EFFECTIVE, old.address)

    # TB2 holds nothing of the old registry (the fund's history), TB1 nothing of the new one
    old_call = view_call(old, "statusOn", [b16(code), before], [int(FundState.ACTIVE)])
    new_call = view_call(new, "statusOn", [b16(code), EFFECTIVE], [int(FundState.ACTIVE)])
    for instance, sents, call, holders, outsiders in (
            (old, [old.deployment, done.proposed, done.approved], old_call, ["node1", "node2", "node3", "node6"],
             ["node4", "node5"]),
            (new, [new.deployment, done.transferred_in, done.confirmed], new_call, ["node1", "node2", "node5", "node6"],
             ["node3", "node4"])):
        assert sorted(n.name for n in parties_of(w, instance)) == holders
        for x in sents:
            tx = private_tx(instance, x, call, [])
            assert_visible_to(w.e2e, tx, parties_of(w, instance))
            assert_hidden_from(w.e2e, tx, nodes(w, *outsiders))
    assert not old.visible_to(tb2) and not new.visible_to(c.trust_bank)
    with pytest.raises(NotAParty):
        old.status_on(tb2, code, before)
    refused(w, lambda: new.suspend_fund(c.trust_bank, code, "x"), NOT_FOUND, c.trust_bank,
            lambda p: new.get_fund(p, code), [c.manager, tb2, c.broker_a])


def test_redemption_and_a_change_request_through_their_states(md: MasterData) -> None:
    w, c, registry = md.world, md.world.cast, md.old
    code = f"MR-{w.fresh_tag()}"  # a fund of its own: the transfer above does not touch it
    registry.register_fund(c.manager, FundInput(code, c.trust_bank, FUND_ESTABLISHED, LEIS["asset manager M"],
                                                LEIS["trust bank TB1"]))
    members = [c.manager, c.trust_bank, c.broker_a]
    redemption = D("2027-03-31")
    refused(w, lambda: registry.schedule_redemption(c.broker_a, code, redemption),
            "scheduleRedemption: only asset manager", c.broker_a, lambda p: registry.get_fund(p, code), members)
    registry.redeem_on(c.manager, c.trust_bank, code, redemption)
    for p in members:
        assert registry.get_fund(p, code).redemption_date == redemption
        assert registry.status_on(p, code, redemption) == FundState.REDEMPTION_SCHEDULED
        assert registry.status_on(p, code, redemption + 1) == FundState.REDEEMED
        assert registry.check_eligibility(p, code, redemption - 3, redemption + 1, c.trust_bank) == (
            False, "settlement after the redemption date")

    # a name change: PROPOSED → APPROVED → EFFECTIVE on its date; others REJECTED and WITHDRAWN
    effective = D("2027-01-04")
    renamed = registry.propose_change(c.trust_bank, code, "NAME_EN", "Renamed Fund", effective)

    def change(p: Party) -> Any:
        return registry.get_change(p, renamed.id)

    assert change(c.broker_a).state == ChangeState.PROPOSED
    refused(w, lambda: registry.approve_change(c.broker_a, renamed.id), "approveChange: not a required approver",
            c.broker_a, change, members)
    registry.approve_change(c.manager, renamed.id)
    rejected = registry.propose_change(c.manager, code, "NAME_EN", "Rejected Fund", effective)
    registry.reject_change(c.trust_bank, rejected.id)
    withdrawn = registry.propose_change(c.manager, code, "TAX_STATUS", "EXEMPT", effective)
    registry.withdraw_change(c.manager, withdrawn.id)
    for p in members:
        assert change(p).approved_by == (c.manager.address,)
        assert registry.change_status_on(p, renamed.id, effective - 1) == ChangeState.APPROVED
        assert registry.change_status_on(p, renamed.id, effective) == ChangeState.EFFECTIVE
        assert registry.field_on(p, code, "NAME_EN", effective - 1) == f"{code} Fund".encode()
        assert registry.field_on(p, code, "NAME_EN", effective) == b"Renamed Fund"
        assert registry.get_change(p, rejected.id).state == ChangeState.REJECTED
        assert registry.get_change(p, withdrawn.id).state == ChangeState.WITHDRAWN
        assert registry.field_on(p, code, "TAX_STATUS", effective) == b"TAXABLE"
    assert (change(c.manager).field, change(c.manager).new_value) == ("NAME_EN", b"Renamed Fund")
