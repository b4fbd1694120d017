"""Amendments that supersede and percentage tolerances on the 6-node network (issue 17), through
the typed clients.

Blocks of their own (fresh ids) in the scenario's block book (broker A node1, manager M node2) and
allocation books (fund A: TB1 node3; fund B: TB2 node5); the regulator (node6) is a mandatory
recipient of each. Broker B (node4) sees nothing; a trustee sees nothing of the other fund.

- an amendment after allocation: the old allocations SUPERSEDED on every party's node, their
  confirmations void, and every step of the old version refused with the contract's reason
  without any state moving; the supersede steps are private to each book's parties;
- an amendment once an allocation is MATCH_AGREED: refused before anything is sent;
- a tolerance profile with percentages: a breach (MISMATCHED) then a match within the percentage
  (MATCHED_WITH_TOLERANCE), equal to the reference model on every party's node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from postrade import reference as ref
from postrade.clients import (
    AllocationBook,
    AllocationInput,
    AllocState,
    BlockState,
    ExecutionNotice,
    Party,
    PostedAllocation,
    Sent,
    allocate_block,
    amend_block,
    b16,
)
from postrade.scenario import ISIN, SCHEDULE, TAX, TRADE_DATE
from tests.e2e.test_postrade import parties_of, private_tx, refused, view_call
from tests.helpers.postrade_world import World
from tests.helpers.privacy import assert_hidden_from, assert_visible_to

pytestmark = pytest.mark.e2e

PRICE = 28_515_000
AMENDED_PRICE = 28_520_000
STALE = "allocation superseded by a newer block version"
Kind = ref.TradeToleranceKind
# commission within 0.1 % of the investor's figure; net within 0.05 %, capped at 3 yen; others as default
PERCENT_PROFILE = ref.MatchingProfile(tol_kinds=(Kind.YEN, Kind.PERCENT, Kind.YEN, Kind.CAPPED_PERCENT),
                                      tol_rates_e6=(0, 1_000, 0, 500), tol_net_yen=3)


def investor_figures(allocation: AllocationInput) -> ref.Figures:
    """What M's system (the reference model) computes for an allocation."""
    return ref.fund_figures(allocation.quantity, allocation.avg_price_e4,
                            SCHEDULE.rate_by_order_type_e6[ref.OrderType.AGENCY], TAX.rate_on(TRADE_DATE),
                            ref.Side.BUY, SCHEDULE)


def readers(w: World, trustee: Party) -> list[Party]:
    """The allocation book's parties and the regulator: every node that holds it."""
    c = w.cast
    assert c.regulator is not None
    return [c.broker_a, c.manager, trustee, c.regulator]


def book_block(w: World, block_id: str, orders: dict[str, int]) -> dict[str, PostedAllocation]:
    """Broker A posts a block of the scenario's security, M accepts and allocates it (fund codes
    of the scenario: "A" in TB1's book, "B" in TB2's)."""
    s, c = w.s, w.cast
    total = sum(orders.values())
    s.block_book.post_execution_notice(c.broker_a, ExecutionNotice(block_id, ISIN, ref.Side.BUY, TRADE_DATE),
                                       [ref.Fill(total, PRICE)])
    s.block_book.accept_block(c.manager, block_id, 1, total, PRICE)
    _, posted = allocate_block(s.block_book, c.manager, block_id,
                               [(s.funds[f], q, s.alloc_book(f)) for f, q in orders.items()])
    return {f: posted[s.funds[f]] for f in orders}


def state_reader(p: PostedAllocation) -> Callable[[Party], Any]:
    """All of an allocation a step could move, as one party's node reads it."""
    return lambda r: (p.book.get_allocation(r, p.id), p.book.match_of(r, p.id),
                      p.book.confirmation_of(r, p.id, True), p.book.confirmation_of(r, p.id, False))


def test_amendment_supersedes_the_old_allocations_on_every_partys_node(postrade_world: World) -> None:
    w, s, c = postrade_world, postrade_world.s, postrade_world.cast
    tag = w.fresh_tag()
    block_id = f"AM1-{tag}"
    amended_fill = ref.Fill(3_000, AMENDED_PRICE, exec_id=f"XA{tag}".encode())  # fills reach A, M (and R) only
    posted = book_block(w, block_id, {"A": 2_000, "B": 1_000})
    a, b = posted["A"], posted["B"]
    for p in (a, b):
        p.book.submit_confirmation(c.manager, p.input, investor_figures(p.input))
    a.book.submit_confirmation(c.broker_a, a.input, investor_figures(a.input))
    assert a.book.state_of(c.broker_a, a.id) == AllocState.MATCHED  # the stale price could be affirmed

    amendment = amend_block(s.block_book, c.broker_a, ExecutionNotice(block_id, ISIN, ref.Side.BUY, TRADE_DATE),
                            [amended_fill], [s.alloc_book("A"), s.alloc_book("B")])
    assert amendment.version == 2 and len(amendment.superseded) == 2
    for party in (c.broker_a, c.manager):
        block = s.block_book.get_block(party, block_id)
        assert (block.version, block.state, block.avg_price_e4) == (2, BlockState.NOE_POSTED, AMENDED_PRICE)
    for fund, p in posted.items():
        for reader in readers(w, s.trustees[fund]):  # each reads its own node
            assert p.book.state_of(reader, p.id) == AllocState.SUPERSEDED, (fund, reader)
            assert p.book.block_version(reader, block_id) == 2
            assert p.book.confirmation_of(reader, p.id, broker_side=False).voided
            assert p.book.match_of(reader, p.id).agreed == ref.ZERO_FIGURES

    # nothing of version 1 moves: each step refused at send time, no party's state moved
    tb1 = s.trustees["A"]
    attempts: list[tuple[Party, Callable[[], Sent], str, PostedAllocation]] = [
        (c.manager, lambda: a.book.affirm(c.manager, a.id), f"affirm: {STALE}", a),
        (tb1, lambda: a.book.acknowledge(tb1, a.id), f"acknowledge: {STALE}", a),
        (tb1, lambda: a.book.instruct_settlement(tb1, a.id), f"instructSettlement: {STALE}", a),
        (c.broker_a, lambda: b.book.submit_confirmation(c.broker_a, b.input, investor_figures(b.input)),
         f"submitConfirmation: {STALE}", b),
    ]
    for actor, attempt, reason, p in attempts:
        fund = "A" if p is a else "B"
        refused(w, attempt, reason, actor, state_reader(p), readers(w, s.trustees[fund]))

    # who saw the amendment: each supersede step only its book's parties and the regulator
    for fund, sent in zip(("A", "B"), amendment.superseded, strict=True):
        p = posted[fund]
        call = view_call(p.book, "allocationState", [b16(block_id), 1, b16(s.funds[fund])],
                         [int(AllocState.SUPERSEDED)])
        # the block id is no secret from the other fund's trustee (it holds its own fund's line)
        tx = private_tx(p.book, sent, call, [p.id, b16(s.funds[fund])])
        holders = parties_of(w, p.book)
        other_trustee = "node5" if fund == "A" else "node3"
        assert sorted(n.name for n in holders) == sorted({"node1", "node2", s.trustees[fund].node, "node6"})
        others = [n for n in w.e2e.nodes if n not in holders]
        assert {n.name for n in others} == {"node4", other_trustee}
        assert_visible_to(w.e2e, tx, holders)
        assert_hidden_from(w.e2e, tx, others)
    # the new price goes to the block's parties (and the regulator) only: no trustee sees block totals
    exec_id = b16(amended_fill.exec_id)
    call = view_call(s.block_book, "fillsOf", [b16(block_id), 2], [[(exec_id, 3_000, AMENDED_PRICE, b"XJPX")]])
    tx = private_tx(s.block_book, amendment.sent, call, [exec_id])
    holders = parties_of(w, s.block_book)
    assert sorted(n.name for n in holders) == ["node1", "node2", "node6"]
    assert_visible_to(w.e2e, tx, holders)
    assert_hidden_from(w.e2e, tx, [n for n in w.e2e.nodes if n not in holders])


def test_amendment_refused_once_an_allocation_is_match_agreed(postrade_world: World) -> None:
    """TC-13: nothing is sent (the books' steps are simulated first); cancel bilaterally and re-book."""
    w, s, c = postrade_world, postrade_world.s, postrade_world.cast
    block_id = f"AM2-{w.fresh_tag()}"
    a = book_block(w, block_id, {"A": 1_000})["A"]
    figures = investor_figures(a.input)
    a.book.submit_confirmation(c.manager, a.input, figures)
    a.book.submit_confirmation(c.broker_a, a.input, figures)
    a.book.affirm(c.manager, a.id)
    notice = ExecutionNotice(block_id, ISIN, ref.Side.BUY, TRADE_DATE)
    fills = [ref.Fill(1_000, AMENDED_PRICE)]
    assert c.regulator is not None
    block_readers = [c.broker_a, c.manager, c.regulator]  # no trustee holds the block book

    def block(r: Party) -> Any:
        return s.block_book.get_block(r, block_id)

    before = {r.node: block(r) for r in block_readers}
    refused(w, lambda: amend_block(s.block_book, c.broker_a, notice, fills, [a.book]).sent,
            "supersedeBlockVersion: an allocation is MATCH_AGREED, cancel bilaterally and re-book", c.broker_a,
            state_reader(a), readers(w, s.trustees["A"]))
    assert {r.node: block(r) for r in block_readers} == before
    refused(w, lambda: s.block_book.amend_execution(c.broker_a, notice, fills),
            "amendExecution: an allocation is MATCH_AGREED, cancel instead", c.broker_a, block, block_readers)
    assert a.book.state_of(s.trustees["A"], a.id) == AllocState.MATCH_AGREED


def test_percentage_tolerance_breach_then_match(postrade_world: World) -> None:
    """A book whose profile has percentages: the broker's commission 3 yen above the investor's
    2,851 (0.105 %) is a breach; 2 yen (0.070 %) is within 0.1 %, though above the default 1-yen
    band; the investor's figures are agreed."""
    w, s, c = postrade_world, postrade_world.s, postrade_world.cast
    tb1 = s.trustees["A"]
    book = AllocationBook.deploy(w.net, c.broker_a, c.manager, tb1, s.fund_registry("A"), s.ssi_registry("A"),
                                 PERCENT_PROFILE)
    allocation = AllocationInput(f"AM3-{w.fresh_tag()}", 1, s.funds["A"], ISIN, ref.Side.BUY,
                                 ref.OrderType.AGENCY, TRADE_DATE, s.settlement_date, 1_000, 1_000, PRICE)
    book.post_allocation(c.manager, allocation)
    investor = investor_figures(allocation)
    assert (investor.commission_yen, investor.net_settlement_yen) == (2_851, 2_854_636)
    book.submit_confirmation(c.manager, allocation, investor)
    outcomes = []
    for delta in (3, 2):
        broker = ref.Figures(investor.principal_yen, investor.commission_yen + delta, investor.consumption_tax_yen,
                             investor.net_settlement_yen + delta)
        sent = book.submit_confirmation(c.broker_a, allocation, broker)
        want = ref.compare_figures(broker, investor, PERCENT_PROFILE)
        for reader in readers(w, tb1):
            got = book.match_of(reader, allocation.allocation_id)
            assert (got.status, got.broker_minus_investor, got.agreed) == want, reader
        outcomes.append(want[0])
    assert outcomes == [ref.MatchStatus.MISMATCHED, ref.MatchStatus.MATCHED_WITH_TOLERANCE]
    assert book.state_of(tb1, allocation.allocation_id) == AllocState.MATCHED_WITH_TOLERANCE
    # the default yen profile would have refused the 2-yen difference: the percentage decided
    assert ref.compare_figures(broker, investor, ref.MatchingProfile())[0] == ref.MatchStatus.MISMATCHED
    # the match is private to the book's parties and the regulator
    call = view_call(book, "allocationState", [b16(allocation.block_id), 1, b16(allocation.fund_code)],
                     [int(AllocState.MATCHED_WITH_TOLERANCE)])
    tx = private_tx(book, sent, call, [b16(allocation.block_id)])
    holders = parties_of(w, book)
    assert sorted(n.name for n in holders) == ["node1", "node2", "node3", "node6"]
    assert_visible_to(w.e2e, tx, holders)
    assert_hidden_from(w.e2e, tx, [n for n in w.e2e.nodes if n not in holders])
