"""The post-trade contracts on a real 6-node network, driven by the Python clients.

node1 = broker A, node2 = asset manager M, node3 = trust bank TB1 (trustee of fund A, SBL
lender), node4 = broker B (the outsider), node5 = trust bank TB2 (trustee of fund B only), node6 =
regulator R (a mandatory recipient of every private record). The
module runs the demo's scenario once (postrade/scenario.py) and checks:

- who sees what (DOMAIN.md §6): for every record kind the recipients read it, and broker B and the
  other fund's trustee get nothing over JSON-RPC, from their manager, in their database, or in
  the public chain (tests/helpers/privacy.py);
- the workflow's results equal the reference model's figures on every party's node;
- a wrong party's step is refused at send time with the contract's reason (PostTradeError), and
  no party's state moves.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import keccak

from postrade import reference as ref
from postrade.clients import (
    AllocState,
    BlockState,
    ExecutionNotice,
    FundInput,
    FundState,
    Instance,
    LoanState,
    NotAParty,
    Party,
    PostTradeError,
    Sent,
    SsiInput,
    SsiState,
    StatementFigures,
    StatementParams,
    StatementState,
    allocate_block,
    b16,
    breakdown_hash,
    fixed,
)
from postrade.scenario import (
    BROKER_LEGACY,
    CALENDAR,
    FILLS,
    FUND_ESTABLISHED,
    ISIN,
    LEIS,
    LOAN_START,
    ORDERS,
    PERIOD,
    PROFILE,
    SBL_PARAMS,
    SCHEDULE,
    STALE_RATE_E6,
    TAX,
    TRADE_DATE,
    yen,
)
from tests.helpers.network import NodeHandle, selector
from tests.helpers.postrade_world import World
from tests.helpers.privacy import (
    ExpectedLog,
    PrivateTx,
    assert_hidden_from,
    assert_visible_to,
)

pytestmark = pytest.mark.e2e

NOT_FOUND = "contract not found. cannot transact"


@pytest.fixture(scope="module")
def world(postrade_world: World) -> World:
    return postrade_world


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def abi_type(p: Mapping[str, Any]) -> str:
    t = str(p["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in p["components"]) + ")" + t[len("tuple"):]
    return t


def view_call(instance: Instance, fn: str, args: Sequence[Any], result: Sequence[Any]) -> tuple[bytes, bytes]:
    """(call data, the ABI encoding of the result the parties must return): an exact check of one view."""
    abi = next(e for e in instance.net.artifacts[instance.CONTRACT].abi if e["type"] == "function" and e["name"] == fn)
    data = selector(f"{fn}({','.join(abi_type(i) for i in abi['inputs'])})") + encode(
        [abi_type(i) for i in abi["inputs"]], list(args))
    return data, encode([abi_type(o) for o in abi["outputs"]], list(result))


def private_tx(instance: Instance, sent: Sent | None, call: tuple[bytes, bytes],
               secret_values: Sequence[bytes]) -> PrivateTx:
    """What the parties must see of a step sent to (or creating) `instance`: its payload, the exact
    view result, and the logs the sender's node holds, each an event of the contract's ABI (every
    party must hold the same ones; a step other than a deployment must have emitted some)."""
    assert sent is not None and sent.parties is not None and sent.contract == instance.address, sent
    creates = sent.action.startswith("deploy ")
    events = {keccak(text=f"{e['name']}({','.join(abi_type(i) for i in e['inputs'])})")
              for e in instance.net.artifacts[instance.CONTRACT].abi if e["type"] == "event"}
    logs = tuple(ExpectedLog(str(g["address"]), tuple("0x" + bytes(t).hex() for t in g["topics"]),
                             "0x" + bytes(g["data"]).hex()) for g in sent.logs)
    assert logs or creates, f"{sent.action} emitted no event"
    assert all(bytes.fromhex(g.topics[0][2:]) in events for g in logs), logs
    return PrivateTx(sent.tx_hash, sent.payload, sent.contract, creates=creates, call=call, logs=logs,
                     secrets=tuple(secret_values))


def parties_of(w: World, instance: Instance) -> list[NodeHandle]:
    assert instance.recipients is not None  # the instance's parties and the regulator
    return [w.e2e.node(n) for n in dict.fromkeys(p.node for p in instance.recipients)]


def refused(w: World, attempt: Callable[[], Sent], reason: str, actor: Party,
            state: Callable[[Party], Any], parties: Sequence[Party]) -> None:
    """`attempt` raises PostTradeError(reason) at send time: the actor's node sent nothing (nonce,
    manager store) and the record reads the same on every party's node before and after."""
    node = w.node(actor)
    before = {p.node: state(p) for p in parties}
    nonce, rows = node.pending_nonce(actor.address), node.manager_row_count()
    with pytest.raises(PostTradeError) as info:
        attempt()
    assert info.value.reason == reason, str(info.value)
    assert info.value.party == actor
    assert (node.pending_nonce(actor.address), node.manager_row_count()) == (nonce, rows), "something was sent"
    after = {p.node: state(p) for p in parties}
    assert after == before, f"state moved: {before} -> {after}"
    assert len({repr(v) for v in after.values()}) == 1, f"the parties disagree: {after}"


# ---------------------------------------------------------------------------------------------
# who sees what (DOMAIN.md §6)
# ---------------------------------------------------------------------------------------------


def record_checks(w: World, kind: str) -> tuple[Instance, list[PrivateTx]]:
    """The instance holding one record kind and the transactions that wrote it, as the parties see them."""
    s, c = w.s, w.cast
    tag = s.tag
    settle = s.settlement_date
    total, notional = ref.block_totals(s.fills)
    avg = ref.average_price(notional, total)
    if kind == "block trade":
        book = s.block_book
        block = (1, int(BlockState.SETTLED), ISIN.encode(), 0, 0, TRADE_DATE, settle, 100, total, avg, notional, 0,
                 0, "0x" + "00" * 20)
        call = view_call(book, "getBlock", [b16(s.block_id)], [block])
        exec_id = b16(s.fills[0].exec_id)  # the fills reach the broker and the investor only
        sents = [book.deployment, s.sent["block"], s.sent["block allocation"]]
        return book, [private_tx(book, x, call, [exec_id]) for x in sents]
    if kind in ("allocation A", "allocation B"):
        fund = kind[-1]
        book, code = s.alloc_book(fund), s.funds[fund]
        call = view_call(book, "allocationState", [b16(s.block_id), 1, b16(code)], [int(AllocState.SETTLED)])
        keys = [f"allocation {fund}", f"confirmation {fund} investor", f"confirmation {fund} broker 1"]
        return book, [private_tx(book, x, call, [b16(code)]) for x in [book.deployment, *(s.sent[k] for k in keys)]]
    if kind == "SBL statement":
        st = s.sbl.statements
        figures, _ = s.reference_statement()
        paid = (int(StatementState.PAID), 0b111, figures.as_tuple(), CALENDAR.business_day_on_or_after(
            ref.to_day("2025-05-10")), c.broker_a.address)
        call = view_call(st, "getStatement", [b16(s.loan_id), PERIOD], [paid])
        keys = ["statement lender", "statement manager", "statement borrower"]
        sents = [st.deployment, *(s.sent[k] for k in keys)]
        return st, [private_tx(st, x, call, [b16(s.loan_id)]) for x in sents]
    if kind == "SSI":
        ssi = s.ssi_registry("A")
        call = view_call(ssi, "ssiInForce", [b16(s.funds["A"]), fixed("EQU", 4), settle], [True, 1])
        account = f"TB1-A-{tag}".encode()  # the safekeeping account: manager, trustee and broker A only
        sents = [ssi.deployment, s.sent["ssi A"]]
        return ssi, [private_tx(ssi, x, call, [account, b16(s.funds["A"])]) for x in sents]
    if kind == "fund record":
        registry = s.fund_registry("A")
        call = view_call(registry, "statusOn", [b16(s.funds["A"]), TRADE_DATE], [int(FundState.ACTIVE)])
        sents = [registry.deployment, s.sent["fund A"]]
        return registry, [private_tx(registry, x, call, [b16(s.funds["A"])]) for x in sents]
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "recipients", "other_trustee"), [
    ("block trade", ("node1", "node2", "node6"), "node3"),  # no trustee sees block totals; the regulator does
    ("allocation A", ("node1", "node2", "node3", "node6"), "node5"),
    ("allocation B", ("node1", "node2", "node5", "node6"), "node3"),
    ("SBL statement", ("node1", "node2", "node3", "node6"), "node5"),
    ("SSI", ("node1", "node2", "node3", "node6"), "node5"),
    ("fund record", ("node1", "node2", "node3", "node6"), "node5"),
])
def test_each_record_is_seen_by_its_recipients_only(world: World, kind: str, recipients: tuple[str, ...],
                                                    other_trustee: str) -> None:
    instance, txs = record_checks(world, kind)
    parties = parties_of(world, instance)
    assert sorted(n.name for n in parties) == sorted(recipients)  # deployed privateFor exactly §6's set
    others = [n for n in world.e2e.nodes if n not in parties]
    assert {"node4", other_trustee} <= {n.name for n in others}  # broker B and the other fund's trustee
    for tx in txs:
        assert_visible_to(world.e2e, tx, parties)
        assert_hidden_from(world.e2e, tx, others)
    # through the client: a non-party's node holds no state, so a typed read is refused as such
    data = txs[0].call
    assert data is not None
    for node in others:
        reader = next(p for p in world.cast.per_node if p.node == node.name)
        assert not instance.visible_to(reader)
        with pytest.raises(NotAParty):
            world.net.call(reader, instance.CONTRACT, instance.address, *decoded_call(instance, data[0]))
    for node in parties:
        reader = next(p for p in world.cast.per_node if p.node == node.name)
        assert instance.visible_to(reader)


def decoded_call(instance: Instance, data: bytes) -> tuple[str, list[Any]]:
    """(function name, arguments) of call data for `instance`'s contract."""
    for e in instance.net.artifacts[instance.CONTRACT].abi:
        if e["type"] == "function":
            types = [abi_type(i) for i in e["inputs"]]
            if selector(f"{e['name']}({','.join(types)})") == data[:4]:
                return e["name"], list(decode(types, data[4:]))
    raise AssertionError("unknown selector")


def test_demo_table_shows_each_node_its_own_records(world: World) -> None:
    headers, rows = world.s.visibility()
    assert headers == ["node1 broker A", "node2 asset manager M", "node3 trust bank TB1", "node4 broker B",
                       "node5 trust bank TB2", "node6 regulator R"]
    seen = {label.split(" ")[0] + " " + label.split(" ")[1]: cells for label, cells in rows}
    s = world.s
    fa, fb = s.funds["A"], s.funds["B"]
    net_a, net_b = s.investor_figures("A").net_settlement_yen, s.investor_figures("B").net_settlement_yen
    figures, _ = s.reference_statement()
    dash = "—"
    # the last column is the regulator's: a mandatory recipient, it sees every private record
    assert seen["calendar: T+2"] == ["2025-03-21"] * 6
    assert seen[f"fund {fa}"] == ["ACTIVE", "ACTIVE", "ACTIVE", dash, dash, "ACTIVE"]
    assert seen[f"fund {fb}"] == ["ACTIVE", "ACTIVE", dash, dash, "ACTIVE", "ACTIVE"]
    assert seen[f"SSI {fa}/EQU"] == ["ACTIVE v1", "ACTIVE v1", "ACTIVE v1", dash, dash, "ACTIVE v1"]
    assert seen[f"SSI {fb}/EQU"] == ["ACTIVE v1", "ACTIVE v1", dash, dash, "ACTIVE v1", "ACTIVE v1"]
    assert seen[f"block {s.block_id}"] == ["SETTLED 30,000", "SETTLED 30,000", dash, dash, dash, "SETTLED 30,000"]
    assert seen[f"allocation {fa}"] == [f"SETTLED {yen(net_a)}"] * 3 + [dash, dash, f"SETTLED {yen(net_a)}"]
    assert seen[f"allocation {fb}"] == [f"SETTLED {yen(net_b)}"] * 2 + [dash, dash] + [f"SETTLED {yen(net_b)}"] * 2
    paid = f"PAID {yen(figures.net_yen)}"
    assert seen[f"SBL {s.loan_id}"] == [paid] * 3 + [dash, dash, paid]
    # the amended block: broker, manager and regulator see v2; fund A's v1 allocation SUPERSEDED at the
    # first price and v2 at the corrected one, on TB1's node too; broker B and TB2 see none of it
    assert seen[f"block {s.amend_id}"] == ["ALLOCATED v2", "ALLOCATED v2", dash, dash, dash, "ALLOCATED v2"]
    assert seen[f"allocation {s.amend_id}/v1"] == ["SUPERSEDED @ 2,853.0000"] * 3 + [dash, dash,
                                                                                   "SUPERSEDED @ 2,853.0000"]
    assert seen[f"allocation {s.amend_id}/v2"] == ["ALLOCATED @ 2,852.5000"] * 3 + [dash, dash,
                                                                                  "ALLOCATED @ 2,852.5000"]


# ---------------------------------------------------------------------------------------------
# the workflow, against the reference model
# ---------------------------------------------------------------------------------------------


def test_trade_workflow_results_equal_the_reference_model(world: World) -> None:
    s, c = world.s, world.cast
    total, notional = ref.block_totals(FILLS)
    avg = ref.average_price(notional, total, SCHEDULE.avg_price_digits, SCHEDULE.avg_price_rounding)
    settle = CALENDAR.add_business_days(TRADE_DATE, 2)
    codes = [s.funds["A"], s.funds["B"]]
    quantities = ref.allocate(codes, [ORDERS["A"], ORDERS["B"]], total, 100, SCHEDULE.alloc_method)
    assert (total, quantities, ref.to_iso(settle)) == (30_000, [17_100, 12_900], "2025-03-21")
    rate, tax = SCHEDULE.rate_by_order_type_e6[ref.OrderType.AGENCY], TAX.rate_on(TRADE_DATE)
    investor = {code: ref.fund_figures(q, avg, rate, tax, ref.Side.BUY, SCHEDULE)
                for code, q in zip(codes, quantities, strict=True)}

    for party in (c.broker_a, c.manager):  # the block, on both of its parties' nodes
        block = s.block_book.get_block(party, s.block_id)
        assert (block.state, block.total_quantity, block.avg_price_e4, block.notional_e4, block.settlement_date) == (
            BlockState.SETTLED, total, avg, notional, settle)
        lines = s.block_book.allocations_of(party, s.block_id, 1)
        assert [(ln.fund_code, ln.ordered_quantity, ln.allocated_quantity) for ln in lines] == [
            (codes[0], ORDERS["A"], quantities[0]), (codes[1], ORDERS["B"], quantities[1])]
        assert s.block_book.fund_figures(party, s.block_id) == investor  # the shared calculator = the model

    # fund A: the broker's rounded-up commission is within tolerance; the investor's figures are agreed
    broker_a = ref.fund_figures(quantities[0], avg, rate, tax, ref.Side.BUY, BROKER_LEGACY)
    status, diff, agreed = ref.compare_figures(broker_a, investor[codes[0]], PROFILE)
    assert status == ref.MatchStatus.MATCHED_WITH_TOLERANCE and diff.commission_yen == 1
    assert [(m.status, m.broker_minus_investor, m.agreed) for m in s.match_trail["A"]] == [(status, diff, agreed)]
    # fund B: a stale rate is out of tolerance, the corrected confirmation matches exactly
    stale = ref.fund_figures(quantities[1], avg, STALE_RATE_E6, tax, ref.Side.BUY, SCHEDULE)
    first = ref.compare_figures(stale, investor[codes[1]], PROFILE)
    assert first[0] == ref.MatchStatus.MISMATCHED
    assert [(m.status, m.broker_minus_investor, m.agreed) for m in s.match_trail["B"]] == [
        first, (ref.MatchStatus.MATCHED, ref.ZERO_FIGURES, investor[codes[1]])]

    for fund, code in s.funds.items():
        posted = s.posted[code]
        for party in (c.broker_a, c.manager, s.trustees[fund]):  # the allocation, on all three of its parties
            allocation = posted.book.get_allocation(party, posted.id)
            assert (allocation.state, allocation.input.quantity, allocation.input.avg_price_e4,
                    allocation.input.settlement_date, allocation.ssi_version) == (
                AllocState.SETTLED, quantities[codes.index(code)], avg, settle, 1)
            assert allocation.investor_affirmed
            assert posted.book.match_of(party, posted.id).agreed == investor[code]
            assert posted.book.confirmation_of(party, posted.id, broker_side=False).figures == investor[code]
        broker_side = posted.book.confirmation_of(c.broker_a, posted.id, broker_side=True)
        assert broker_side.version == (1 if fund == "A" else 2)


def test_sbl_statement_and_master_data_equal_the_reference_model(world: World) -> None:
    s, c = world.s, world.cast
    figures, hashed = s.reference_statement()
    model = ref.period_figures(s.reference_loan(), PERIOD, SBL_PARAMS, s.closes, CALENDAR)
    assert (model.accrual_days, model.net_yen) == (24, model.fee_yen - model.collateral_interest_yen)
    for party in (c.trust_bank, c.manager, c.broker_a):
        view = s.sbl.statements.period_figures(party, s.loan_id, PERIOD)  # the contract's own computation
        assert (view.figures, view.accrual_days, view.breakdown_hash) == (figures, 24, hashed)
        statement = s.sbl.statements.get_statement(party, s.loan_id, PERIOD)
        assert (statement.state, statement.agreed, ref.to_iso(statement.payment_date), statement.payer) == (
            StatementState.PAID, figures, "2025-05-12", c.broker_a.address)
        loan = s.sbl.loans.get_loan(party, s.loan_id)
        cash = ref.required_collateral(loan.shares, s.loan_terms().reference_price_e4, SBL_PARAMS.default_margin_e6)
        assert (loan.state, loan.initial_cash_yen, loan.lender_fund_code) == (LoanState.OPEN, cash, s.funds["A"])
    for fund, code in s.funds.items():
        trustee = s.trustees[fund]
        for party in (c.manager, trustee, c.broker_a):
            assert s.fund_registry(fund).status_on(party, code, TRADE_DATE) == FundState.ACTIVE
            assert s.fund_registry(fund).check_eligibility(party, code, TRADE_DATE, s.settlement_date,
                                                           trustee) == (True, "")
            assert s.ssi_registry(fund).ssi_in_force(party, code, s.settlement_date) == 1
            record = s.ssi_registry(fund).get_ssi(party, code, 1)
            assert (record.state, record.registered_by, record.approved_by, record.input.safekeeping_account) == (
                SsiState.ACTIVE, c.manager.address, c.broker_a.address, f"{trustee.label[-3:]}-{fund}-{s.tag}")
    # the public institution registry maps each account to its LEI, on every node
    for reader in c.per_node:
        assert s.infra.institutions.lei_of(reader, c.trust_bank.address) == LEIS["trust bank TB1"]


# ---------------------------------------------------------------------------------------------
# wrong parties
# ---------------------------------------------------------------------------------------------


def test_wrong_party_in_the_trade_workflow_is_refused_and_nothing_moves(world: World) -> None:
    s, c = world.s, world.cast
    book, alloc_book = s.block_book, s.alloc_book("A")
    block_id = f"R-{s.tag}"
    notice = ExecutionNotice(block_id, ISIN, ref.Side.SELL, TRADE_DATE)
    fills = [ref.Fill(1_000, 28_500_000)]
    book.post_execution_notice(c.broker_a, notice, fills)
    pair = [c.broker_a, c.manager]

    def block(p: Party) -> Any:
        return book.get_block(p, block_id)

    refused(world, lambda: book.accept_block(c.broker_a, block_id, 1, 1_000, 28_500_000),
            "acceptBlock: only investor", c.broker_a, block, pair)
    refused(world, lambda: book.amend_execution(c.manager, notice, fills), "amendExecution: only broker",
            c.manager, block, pair)
    for outsider in (c.trust_bank, c.broker_b):  # no state of the block book on their nodes
        refused(world, lambda o=outsider: book.accept_block(o, block_id, 1, 1_000, 28_500_000), NOT_FOUND,
                outsider, block, pair)
    book.accept_block(c.manager, block_id, 1, 1_000, 28_500_000)  # the right party, from the same state
    assert block(c.broker_a).state == BlockState.BLOCK_AGREED

    _, posted = allocate_block(book, c.manager, block_id, [(s.funds["A"], 1_000, alloc_book)])
    p = posted[s.funds["A"]]
    trio = [c.broker_a, c.manager, c.trust_bank]

    def allocation(party: Party) -> Any:
        return alloc_book.get_allocation(party, p.id), alloc_book.match_of(party, p.id)

    figures = ref.fund_figures(1_000, 28_500_000, 1_000, 10, ref.Side.SELL, SCHEDULE)
    refused(world, lambda: alloc_book.submit_confirmation(c.trust_bank, p.input, figures),
            "submitConfirmation: only broker or investor", c.trust_bank, allocation, trio)
    alloc_book.submit_confirmation(c.manager, p.input, figures)
    alloc_book.submit_confirmation(c.broker_a, p.input, figures)
    assert alloc_book.state_of(c.trust_bank, p.id) == AllocState.MATCHED
    refused(world, lambda: alloc_book.affirm(c.broker_a, p.id), "affirm: only investor", c.broker_a, allocation,
            trio)
    refused(world, lambda: alloc_book.affirm(c.trust_bank, p.id), "affirm: only investor", c.trust_bank,
            allocation, trio)
    refused(world, lambda: alloc_book.instruct_settlement(c.manager, p.id), "instructSettlement: only trustee",
            c.manager, allocation, trio)
    assert c.trust_bank_2 is not None
    for outsider in (c.trust_bank_2, c.broker_b):  # the other fund's trustee and broker B: not parties
        refused(world, lambda o=outsider: alloc_book.affirm(o, p.id), NOT_FOUND, outsider, allocation, trio)
    alloc_book.affirm(c.manager, p.id)
    assert {alloc_book.state_of(x, p.id) for x in trio} == {AllocState.MATCH_AGREED}


def test_wrong_party_in_lending_is_refused_and_nothing_moves(world: World) -> None:
    s, c = world.s, world.cast
    sbl, tb2 = s.sbl, c.trust_bank_2
    assert tb2 is not None
    lending = [c.trust_bank, c.manager, c.broker_a]
    loan_id = f"LR-{s.tag}"
    terms = replace(s.loan_terms(), loan_id=loan_id, shares=20_000, reference_price_e4=25_500_000)
    sbl.loans.propose_loan(c.broker_a, terms)

    def loan(p: Party) -> Any:
        return sbl.loans.get_loan(p, loan_id)

    for wrong in (c.broker_a, c.manager):  # the proposer itself, and the lender's manager
        refused(world, lambda w=wrong: sbl.loans.confirm_terms(w, loan_id, loan(w).terms_hash),
                "confirmTerms: only the other party", wrong, loan, lending)
    for outsider in (c.broker_b, tb2):
        refused(world, lambda o=outsider: sbl.loans.confirm_terms(o, loan_id, b"\1" * 32), NOT_FOUND, outsider,
                loan, lending)
    sbl.loans.confirm_terms(c.trust_bank, loan_id, loan(c.trust_bank).terms_hash)
    refused(world, lambda: sbl.loans.report_delivery(c.manager, loan_id), "reportDelivery: only lender", c.manager,
            loan, lending)
    sbl.loans.report_delivery(c.trust_bank, loan_id)
    assert {loan(p).state for p in lending} == {LoanState.OPEN}
    refused(world, lambda: sbl.market.post_prices(c.broker_a, ISIN, {LOAN_START: 1}),
            "postPrices: only price source", c.broker_a, lambda p: sbl.market.close_for(p, ISIN, LOAN_START), lending)

    # the loan's April statement: every submitter agrees, then only the payer pays and only the payee confirms
    st = sbl.statements
    cash = ref.required_collateral(terms.shares, terms.reference_price_e4, SBL_PARAMS.default_margin_e6)
    model = ref.LoanModel(ISIN, LOAN_START, ref.CollateralType.CASH, [(LOAN_START, terms.shares)],
                          [(LOAN_START, cash)], [(LOAN_START, terms.fee_rate_e6)], [(LOAN_START, terms.rebate_rate_e6)])
    figures = StatementFigures.of(ref.period_figures(model, PERIOD, SBL_PARAMS, s.closes, CALENDAR))
    hashed = breakdown_hash(ref.breakdown(model, PERIOD, SBL_PARAMS, s.closes, CALENDAR))
    assert figures.net_yen > 0  # the borrower pays

    def statement(p: Party) -> Any:
        return st.get_statement(p, loan_id, PERIOD)

    refused(world, lambda: st.submit_statement(tb2, loan_id, PERIOD, figures, hashed), NOT_FOUND, tb2, statement,
            lending)
    st.submit_computed_statement(c.trust_bank, loan_id, PERIOD)
    st.submit_statement(c.manager, loan_id, PERIOD, figures, hashed)
    st.submit_statement(c.broker_a, loan_id, PERIOD, figures, hashed)
    assert {(statement(p).state, statement(p).agreed) for p in lending} == {(StatementState.MATCHED, figures)}
    for wrong in (c.trust_bank, c.manager):
        refused(world, lambda w=wrong: st.instruct_payment(w, loan_id, PERIOD),
                "instructPayment: only the payer of the net amount", wrong, statement, lending)
    st.instruct_payment(c.broker_a, loan_id, PERIOD)
    for wrong in (c.broker_a, c.manager):
        refused(world, lambda w=wrong: st.confirm_payment(w, loan_id, PERIOD), "confirmPayment: only the payee",
                wrong, statement, lending)
    st.confirm_payment(c.trust_bank, loan_id, PERIOD)
    assert {statement(p).state for p in lending} == {StatementState.PAID}
    # a paid statement cannot be re-submitted with other figures
    other = replace(figures, fee_yen=figures.fee_yen + 1, net_yen=figures.net_yen + 1)
    refused(world, lambda: st.submit_statement(c.broker_a, loan_id, PERIOD, other, hashed),
            "submitStatement: statement already matched", c.broker_a, statement, lending)


def test_wrong_party_in_master_data_is_refused_and_nothing_moves(world: World) -> None:
    s, c = world.s, world.cast
    tb2 = c.trust_bank_2
    assert tb2 is not None
    registry, code = s.fund_registry("A"), f"FC-{s.tag}"
    members = [c.manager, c.trust_bank, c.broker_a]
    fund = FundInput(code, c.trust_bank, FUND_ESTABLISHED, LEIS["asset manager M"], LEIS["trust bank TB1"])

    def fund_state(p: Party) -> Any:
        return registry.status_on(p, code, TRADE_DATE)

    refused(world, lambda: registry.create_fund(c.broker_a, fund), "createFund: only asset manager", c.broker_a,
            fund_state, members)
    registry.create_fund(c.manager, fund)
    registry.submit_fund(c.manager, code)
    for wrong in (c.broker_a, c.manager):
        refused(world, lambda w=wrong: registry.confirm_fund(w, code), "confirmFund: only the fund's trustee", wrong,
                fund_state, members)
    refused(world, lambda: registry.confirm_fund(tb2, code), NOT_FOUND, tb2, fund_state, members)
    assert fund_state(c.trust_bank) == FundState.PENDING_TRUSTEE
    registry.confirm_fund(c.trust_bank, code)
    assert {fund_state(p) for p in members} == {FundState.ACTIVE}

    ssi, fund_a = s.ssi_registry("A"), s.funds["A"]
    ssi.register_ssi(c.manager, SsiInput(fund_a, ref.to_day("2025-10-01"), f"TB1-A2-{s.tag}", "CASH-2"))

    def ssi_v2(p: Party) -> Any:
        return ssi.get_ssi(p, fund_a, 2)

    for wrong in (c.manager, c.trust_bank):  # the fund side registered it: only the broker approves
        refused(world, lambda w=wrong: ssi.approve_ssi(w, fund_a, 2),
                "approveSsi: only the counterparty of the initiating side", wrong, ssi_v2, members)
    for outsider in (c.broker_b, tb2):
        refused(world, lambda o=outsider: ssi.approve_ssi(o, fund_a, 2), NOT_FOUND, outsider, ssi_v2, members)
    ssi.approve_ssi(c.broker_a, fund_a, 2)
    assert {ssi_v2(p).state for p in members} == {SsiState.ACTIVE}
    assert ssi.ssi_in_force(c.broker_a, fund_a, s.settlement_date) == 1  # v2 is dated later


def test_a_private_constructor_reads_the_senders_private_state(world: World) -> None:
    """SblStatementBook's constructor reads the (private) loan book. The sender's node simulates the
    creation on its private state first (party protection): on the lender's node it succeeds; on
    broker B's node, which has no loan book, it reverts and nothing is sent."""
    s, c = world.s, world.cast
    args = [s.sbl.loans.address, StatementParams().as_abi()]
    sent = world.net.deploy(c.trust_bank, "SblStatementBook", args, list(s.sbl.parties))
    for p in s.sbl.parties:
        assert world.net.call(p, "SblStatementBook", sent.contract, "borrower", []) == c.broker_a.address
    node = world.node(c.broker_b)
    nonce, rows = node.pending_nonce(c.broker_b.address), node.manager_row_count()
    with pytest.raises(PostTradeError) as info:
        world.net.deploy(c.broker_b, "SblStatementBook", args, [c.broker_b, c.trust_bank])
    assert info.value.reason == "execution reverted"
    assert (node.pending_nonce(c.broker_b.address), node.manager_row_count()) == (nonce, rows)


# ---------------------------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------------------------


def test_privnet_demo_runs_again_on_the_same_network(world: World) -> None:
    """`privnet demo` on a network that already ran the scenario: fresh instances, same day; the
    table it prints gives broker B nothing but the public calendar."""
    from devnet.demo import run_demo

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_demo(dict(world.net.spec))
    text = out.getvalue()
    table = text[text.index("What each node can see"):].splitlines()
    header = next(line for line in table if line.lstrip().startswith("node1"))
    column = header.index("node4")
    rows = [line for line in table[table.index(header) + 3:] if line.strip()]
    assert len(rows) == 12, rows
    for line in rows:
        cell = line[column:].split()[0]
        assert cell == ("2025-03-21" if line.startswith("calendar") else "—"), line
    assert text.count("  refused  → ") == 5
