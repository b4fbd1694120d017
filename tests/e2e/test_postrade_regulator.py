"""The regulator as a mandatory recipient (DOMAIN.md §6, docs/postrade.md "Regulator / mandatory
recipients"), on the shared post-trade network: node6 = regulator R.

- The regulator's node reads every private record kind of the demo's day through the typed
  clients, the same as the business parties; broker B (node4) reads none.
- A step to one of those instances that leaves the regulator out is refused at send time with
  GoQuorum's message (privacy flag 2 checks, docs/privacy.md), nothing is sent to anyone and no
  party's state moves; the same step with the regulator goes through, seen by the parties and the
  regulator and by no one else (privacy helpers).
- The regulator cannot write business steps: each is refused with the contract's role reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from web3.exceptions import ContractLogicError, Web3RPCError

from postrade import reference as ref
from postrade.clients import (
    AllocState,
    BlockBook,
    BlockState,
    ExecutionNotice,
    FundInput,
    Instance,
    NotAParty,
    Party,
    PostTradeError,
    PostTradeNetwork,
    Sent,
    allocate_block,
    b16,
    revert_reason,
)
from postrade.scenario import FUND_ESTABLISHED, ISIN, LEIS, LOAN_START, SCHEDULE, TRADE_DATE
from tests.helpers.postrade_world import World
from tests.helpers.privacy import ExpectedLog, PrivateTx, assert_hidden_from, assert_visible_to

pytestmark = pytest.mark.e2e

FLAG_MISMATCH = "sent privacy flag doesn't match all affected contract flags"
MR_NOT_INCLUDED = "403 status: One or more mandatory recipients not included in the participant list"
MR_METADATA = "403 status: Privacy metadata mismatched with Affected Txn "


@pytest.fixture(scope="module")
def world(postrade_world: World) -> World:
    return postrade_world


def regulator_of(w: World) -> Party:
    assert w.cast.regulator is not None and w.cast.regulator.node == "node6"
    return w.cast.regulator


def refused(w: World, attempt: Callable[[], Any], reason: str, actor: Party, state: Callable[[Party], Any],
            readers: Sequence[Party], *, prefix: bool = False) -> PostTradeError:
    """`attempt` raises PostTradeError(reason) at send time; the actor sent nothing (nonce), no
    manager of the network stored anything, and the record reads the same on every reader's node."""
    before = {p.node: state(p) for p in readers}
    nonce = w.node(actor).pending_nonce(actor.address)
    rows = {n.name: n.manager_row_count() for n in w.e2e.nodes}
    with pytest.raises(PostTradeError) as info:
        attempt()
    got = info.value.reason
    assert got.startswith(reason) if prefix else got == reason, str(info.value)
    assert w.node(actor).pending_nonce(actor.address) == nonce, "the actor's node sent a transaction"
    assert {n.name: n.manager_row_count() for n in w.e2e.nodes} == rows, "a manager stored a payload"
    after = {p.node: state(p) for p in readers}
    assert after == before, f"state moved: {before} -> {after}"
    assert len({repr(v) for v in after.values()}) == 1, f"the readers disagree: {after}"
    return info.value


def private_tx(sent: Sent, secrets: Sequence[bytes]) -> PrivateTx:
    """What the recipients of a client step must see of it: payload, logs, code."""
    assert sent.parties is not None
    logs = tuple(ExpectedLog(str(g["address"]), tuple("0x" + bytes(t).hex() for t in g["topics"]),
                             "0x" + bytes(g["data"]).hex()) for g in sent.logs)
    return PrivateTx(sent.tx_hash, sent.payload, sent.contract, creates=sent.action.startswith("deploy "),
                     logs=logs, secrets=tuple(secrets))


def privacy_pair(w: World, sent: Sent, secrets: Sequence[bytes]) -> None:
    """The step's recipients (its parties and the regulator) see it; every other node cannot."""
    assert sent.parties is not None
    holders = {p.node for p in sent.parties}
    assert "node6" in holders and "node4" not in holders
    tx = private_tx(sent, secrets)
    assert_visible_to(w.e2e, tx, [n for n in w.e2e.nodes if n.name in holders])
    assert_hidden_from(w.e2e, tx, [n for n in w.e2e.nodes if n.name not in holders])


# ---------------------------------------------------------------------------------------------
# what the regulator reads
# ---------------------------------------------------------------------------------------------


def test_the_regulator_reads_every_record_kind_and_broker_b_none(world: World) -> None:
    s, c, reg = world.s, world.cast, regulator_of(world)
    reads: dict[str, tuple[Instance, Callable[[Party], Any]]] = {
        "block": (s.block_book, lambda p: s.block_book.get_block(p, s.block_id)),
        "SBL loan": (s.sbl.loans, lambda p: s.sbl.loans.get_loan(p, s.loan_id)),
        "SBL statement": (s.sbl.statements, lambda p: s.sbl.statements.get_statement(p, s.loan_id, 202504)),
    }
    for fund in ("A", "B"):
        posted, code = s.posted[s.funds[fund]], s.funds[fund]
        reads[f"allocation {fund}"] = (posted.book, lambda p, x=posted: (x.book.get_allocation(p, x.id),
                                                                         x.book.match_of(p, x.id)))
        reads[f"fund {fund}"] = (s.fund_registry(fund), lambda p, f=fund, cd=code: s.fund_registry(f).get_fund(p, cd))
        reads[f"SSI {fund}"] = (s.ssi_registry(fund), lambda p, f=fund, cd=code: s.ssi_registry(f).get_ssi(p, cd, 1))
    for label, (instance, read) in reads.items():
        assert instance.parties is not None and reg not in instance.parties, label  # not a business party...
        assert instance.recipients is not None and reg in instance.recipients, label  # ...but a recipient
        seen = read(reg)
        for party in instance.parties:
            assert read(party) == seen, f"{label}: {party} reads otherwise than the regulator"
        assert instance.visible_to(reg), label
        assert not instance.visible_to(c.broker_b), label
        with pytest.raises(NotAParty):
            read(c.broker_b)
    block = reads["block"][1](reg)
    assert (block.state, block.total_quantity) == (BlockState.SETTLED, 30_000)
    assert reads["allocation A"][1](reg)[0].state == AllocState.SETTLED


# ---------------------------------------------------------------------------------------------
# the regulator cannot be left out
# ---------------------------------------------------------------------------------------------


def raw_send(w: World, sender: Party, instance: Instance, fn: str, args: Sequence[Any],
             private_for: Sequence[Party], mandatory_for: Sequence[Party]) -> str:
    """`fn(*args)` to `instance` with privacy flag 2 and exactly these keys, bypassing the clients'
    recipient sets (as a hand-written client could); the node's refusal as PostTradeError."""
    w3 = w.net.web3(sender)
    data = w.net.contract(sender, instance.CONTRACT, instance.address).encode_abi(fn, list(args))
    tx: dict[str, Any] = {"from": sender.address, "to": instance.address, "data": data, "gas": 20_000_000,
                          "privateFor": [p.ptm_public_key for p in private_for], "privacyFlag": 2,
                          "mandatoryFor": [p.ptm_public_key for p in mandatory_for]}
    try:
        return "0x" + bytes(w3.eth.send_transaction(tx)).hex()  # type: ignore[arg-type]
    except (Web3RPCError, ContractLogicError) as exc:
        raise PostTradeError(revert_reason(exc), action=fn, party=sender) from exc


def test_a_step_leaving_the_regulator_out_is_refused_and_nothing_moves(world: World) -> None:
    s, c, reg = world.s, world.cast, regulator_of(world)
    book = BlockBook.deploy(world.net, s.infra, c.broker_a, c.manager, SCHEDULE)
    tag = world.fresh_tag()
    block_id, exec_id = f"RG-{tag}", f"E{tag}".encode()
    notice = ExecutionNotice(block_id, ISIN, ref.Side.BUY, TRADE_DATE)
    fills = [ref.Fill(2_000, 28_500_000, exec_id)]
    posted = book.post_execution_notice(c.broker_a, notice, fills)
    privacy_pair(world, posted, [b16(exec_id)])  # broker A, M and the regulator; not broker B, TB1, TB2
    total, notional = ref.block_totals(fills)
    avg = ref.average_price(notional, total)
    readers = [c.broker_a, c.manager, reg]

    def block(p: Party) -> Any:
        return book.get_block(p, block_id)

    # a client on a network without mandatory recipients: flag 1 to a flag-2 instance
    plain = BlockBook(PostTradeNetwork(world.net.spec, world.net.artifacts), book.address, book.parties)
    assert plain.recipients == (c.broker_a, c.manager)
    refused(world, lambda: plain.accept_block(c.manager, block_id, 1, total, avg), FLAG_MISMATCH, c.manager,
            block, readers)
    # flag 2 naming the regulator as mandatory but not sending to it
    refused(world, lambda: raw_send(world, c.manager, book, "acceptBlock", [b16(block_id), 1, total, avg],
                                    [c.broker_a], [reg]), MR_NOT_INCLUDED, c.manager, block, readers)
    # flag 2 with another mandatory recipient (broker A) instead of the regulator
    other = BlockBook(PostTradeNetwork(world.net.spec, world.net.artifacts, mandatory=[c.broker_a]), book.address,
                      book.parties)
    refused(world, lambda: other.accept_block(c.manager, block_id, 1, total, avg), MR_METADATA, c.manager, block,
            readers, prefix=True)
    assert block(c.manager).state == BlockState.NOE_POSTED
    # the same step through the scenario's network (the regulator added) goes through
    accepted = book.accept_block(c.manager, block_id, 1, total, avg)
    assert {block(p).state for p in readers} == {BlockState.BLOCK_AGREED}
    privacy_pair(world, accepted, [b16(block_id)])


# ---------------------------------------------------------------------------------------------
# the regulator reads, it does not act
# ---------------------------------------------------------------------------------------------


def test_the_regulator_cannot_write_business_steps(world: World) -> None:
    s, c, reg = world.s, world.cast, regulator_of(world)
    book, alloc_book, code = s.block_book, s.alloc_book("A"), s.funds["A"]
    block_id = f"RW-{world.fresh_tag()}"
    fills = [ref.Fill(1_000, 28_500_000)]
    book.post_execution_notice(c.broker_a, ExecutionNotice(block_id, ISIN, ref.Side.SELL, TRADE_DATE), fills)
    pair = [c.broker_a, c.manager, reg]
    refused(world, lambda: book.accept_block(reg, block_id, 1, 1_000, 28_500_000), "acceptBlock: only investor",
            reg, lambda p: book.get_block(p, block_id), pair)
    book.accept_block(c.manager, block_id, 1, 1_000, 28_500_000)
    _, posted = allocate_block(book, c.manager, block_id, [(code, 1_000, alloc_book)])
    p = posted[code]
    figures = ref.fund_figures(1_000, 28_500_000, 1_000, 10, ref.Side.SELL, SCHEDULE)
    trio = [c.broker_a, c.manager, c.trust_bank, reg]

    def allocation(party: Party) -> Any:
        return alloc_book.get_allocation(party, p.id), alloc_book.match_of(party, p.id)

    refused(world, lambda: alloc_book.submit_confirmation(reg, p.input, figures),
            "submitConfirmation: only broker or investor", reg, allocation, trio)
    alloc_book.submit_confirmation(c.manager, p.input, figures)
    alloc_book.submit_confirmation(c.broker_a, p.input, figures)
    refused(world, lambda: alloc_book.affirm(reg, p.id), "affirm: only investor", reg, allocation, trio)
    assert {alloc_book.state_of(x, p.id) for x in trio} == {AllocState.MATCHED}

    registry, fund_code = s.fund_registry("A"), f"FR-{world.fresh_tag()}"[:16]
    fund = FundInput(fund_code, c.trust_bank, FUND_ESTABLISHED, LEIS["asset manager M"], LEIS["trust bank TB1"])
    refused(world, lambda: registry.create_fund(reg, fund), "createFund: only asset manager", reg,
            lambda q: registry.get_fund(q, s.funds["A"]), [c.manager, c.trust_bank, c.broker_a, reg])
    market = s.sbl.market
    refused(world, lambda: market.post_prices(reg, ISIN, {LOAN_START: 1}), "postPrices: only price source", reg,
            lambda q: market.close_for(q, ISIN, LOAN_START), [c.trust_bank, c.manager, c.broker_a, reg])


def test_mandatory_recipient_metadata_names_the_regulator(world: World) -> None:
    """Every private instance of the day was created with flag 2 and the regulator's key as its
    mandatory recipient (eth_getContractPrivacyMetadata on the regulator's node)."""
    s, reg = world.s, regulator_of(world)
    instances: list[Instance] = [s.block_book, s.sbl.loans, s.sbl.statements, s.sbl.market,
                                 *s.alloc_books.values(), *s.fund_registries.values(), *s.ssi_registries.values()]
    node = world.node(reg)
    for instance in instances:
        metadata = node.rpc("eth_getContractPrivacyMetadata", instance.address)
        assert metadata["privacyFlag"] == 2, (instance, metadata)
        assert metadata["mandatoryFor"] == [reg.ptm_public_key], (instance, metadata)
