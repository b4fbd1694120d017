"""The clients' encoders against the contracts (in-process EVM) and their error handling.

What the clients compute off chain must be what the contracts compute: allocation ids, the SBL
breakdown hash, and every record tuple they send (notice, fills, allocation, confirmation, fund,
SSI, loan terms, statement parameters, institution). The network itself is exercised by
tests/e2e/test_postrade.py.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address
from web3.exceptions import ContractLogicError, Web3RPCError

from postrade import reference as ref
from postrade.calendar_data import holiday_days, reference_calendar
from postrade.clients import (
    AllocationBook,
    AllocationInput,
    AllocState,
    ExecutionNotice,
    FundInput,
    FundRegistry,
    FundState,
    Institution,
    LoanTerms,
    Party,
    SsiInput,
    SsiRegistry,
    SsiState,
    StatementParams,
    allocation_id,
    b16,
    breakdown_hash,
    fills_abi,
    fixed,
    revert_reason,
)
from tests.unit.postrade.conftest import (
    TEST_LEI_AM,
    TEST_LEI_TB,
    EvmHarness,
    SblWorld,
    TradeWorld,
    reference_closes,
)
from tests.unit.postrade.conftest import (
    holiday_days as harness_holidays,
)
from tests.unit.postrade.conftest import (
    reference_calendar as harness_calendar,
)
from tests.unit.postrade.conftest import revert_reason as harness_reason

PRICE = 28_515_000


def party(evm: EvmHarness, name: str, node: str = "node1") -> Party:
    key = base64.b64encode(name.encode().ljust(32, b"\0")).decode()
    return Party(name, node, "http://127.0.0.1:1", to_checksum_address(evm.addr[name]), key)


def test_calendar_data_is_the_tests_calendar() -> None:
    """Over the harness's range (2019-2025) the generated calendar is the harness's hand list
    (test_calendar.py cross-checks the generation in detail)."""
    until = ref.to_iso(harness_calendar().valid_until)
    assert holiday_days(valid_until=until) == harness_holidays()
    assert reference_calendar(valid_until=until) == harness_calendar()


def test_notice_fills_allocation_and_confirmation_tuples_are_what_the_contracts_take(tw: TradeWorld) -> None:
    fills = [ref.Fill(600, PRICE, b"E1"), ref.Fill(400, 28_520_000)]
    notice = ExecutionNotice("B-CLIENTS", "JP3633400001", ref.Side.BUY, ref.to_day("2025-03-18"))
    tw.block_book.transact("postExecutionNotice", notice.as_abi(), fills_abi(fills), sender="broker_a")
    block = tw.block_book.call("getBlock", b16("B-CLIENTS"))
    total, notional = ref.block_totals(fills)
    assert (block.totalQuantity, block.notional_e4, block.isin) == (total, notional, b"JP3633400001")
    stored = tw.block_book.call("fillsOf", b16("B-CLIENTS"), 1)
    assert [(f.execId, f.venueMic) for f in stored] == [(b16("E1"), b"XJPX"), (b16("X1"), b"XJPX")]
    tw.block_book.transact("acceptBlock", b16("B-CLIENTS"), 1, total, block.avgPrice_e4, sender="investor")

    book = tw.alloc_books["trustee1"]
    allocation = AllocationInput("B-CLIENTS", 1, "FUND-A", "JP3633400001", ref.Side.BUY, ref.OrderType.AGENCY,
                                 block.tradeDate, block.settlementDate, 1_000, 1_000, block.avgPrice_e4)
    assert book.call("allocationId", b16("B-CLIENTS"), 1, b16("FUND-A")) == allocation.allocation_id \
        == allocation_id("B-CLIENTS", 1, "FUND-A")
    book.transact("postAllocation", allocation.as_abi(), sender="investor")
    figures = ref.fund_figures(1_000, block.avgPrice_e4, 1_000, 10, ref.Side.BUY, ref.Schedule())
    book.transact("submitConfirmation", allocation.confirmation_abi(figures), sender="investor")
    off = ref.Figures(figures.principal_yen, figures.commission_yen + 2, figures.consumption_tax_yen,
                      figures.net_settlement_yen + 2)
    book.transact("submitConfirmation", allocation.confirmation_abi(off), sender="broker_a")
    assert book.call("getAllocation", allocation.allocation_id).state == AllocState.MISMATCHED
    # an L1 field that does not echo the allocation is refused by name
    wrong = AllocationInput(**{**allocation.__dict__, "quantity": 999})
    assert harness_reason(lambda: book.transact("submitConfirmation", wrong.confirmation_abi(figures),
                                                sender="broker_a")) == "L1 mismatch: quantity"


def test_fund_and_ssi_tuples_are_what_the_registries_take(tw_md: TradeWorld) -> None:
    evm, registry = tw_md.evm, tw_md.fund_registry
    assert registry is not None
    fund = FundInput("FUND-CL", party(evm, "trustee1"), ref.to_day("2024-01-04"), TEST_LEI_AM, TEST_LEI_TB)
    registry.transact("createFund", fund.as_abi(), sender="investor")
    registry.transact("submitFund", b16("FUND-CL"), sender="investor")
    registry.transact("confirmFund", b16("FUND-CL"), sender="trustee1")
    assert registry.call("statusOn", b16("FUND-CL"), ref.to_day("2025-03-18")) == FundState.ACTIVE
    assert registry.call("getFund", b16("FUND-CL")).assetManagerLei == TEST_LEI_AM

    ssi = tw_md.ssi_registries["trustee1"]
    record = SsiInput("FUND-CL", ref.to_day("2024-01-04"), "TB1-9999", "CASH-TB1-9999")
    ssi.transact("registerSsi", record.as_abi(), sender="investor")
    ssi.transact("approveSsi", b16("FUND-CL"), fixed("EQU", 4), 1, sender="broker_a")
    stored = ssi.call("getSsi", b16("FUND-CL"), fixed("EQU", 4), 1)
    assert (stored.state, stored.input.safekeepingAccount, stored.input.agentJasdecCode) == (
        SsiState.ACTIVE, fixed("TB1-9999", 32), "12345")
    assert ssi.call("ssiInForce", b16("FUND-CL"), fixed("EQU", 4), ref.to_day("2025-03-21")) == (True, 1)


def test_institution_tuple_is_what_the_registry_takes(evm: EvmHarness) -> None:
    registry = evm.deploy("InstitutionRegistry", evm.addr["admin"], True)
    bank = Institution(TEST_LEI_TB, "Trust bank", 2, (party(evm, "trustee1"),), ("TBONJPJT",), "20001")
    registry.transact("register", bank.as_abi(), sender="admin")
    stored = registry.call("getInstitution", TEST_LEI_TB)
    assert ([to_checksum_address(a) for a in stored.accounts], stored.ptmPublicKeys, stored.bics) == (
        [bank.parties[0].address], [bank.parties[0].ptm_key_bytes], ["TBONJPJT"])
    assert registry.call("hasRole", evm.addr["trustee1"], 2) is True


def test_breakdown_hash_and_loan_terms_match_the_statement_book(sp: SblWorld) -> None:
    terms = LoanTerms("L-CL", "FUND-L1", "JP3633400001", ref.to_day("2025-04-07"), 100_000, 25_000_000, 5_000,
                      1_000)
    sp.loans.transact("proposeLoan", terms.as_abi(), sender="borrower")
    loan = sp.loans.call("getLoan", b16("L-CL"))
    sp.loans.transact("confirmTerms", b16("L-CL"), loan.termsHash, sender="lender")
    sp.loans.transact("reportDelivery", b16("L-CL"), sender="lender")
    cash = ref.required_collateral(100_000, 25_000_000, 1_050_000)
    assert loan.initialCashYen == cash
    model = ref.LoanModel("JP3633400001", terms.start_date, ref.CollateralType.CASH, [(terms.start_date, 100_000)],
                          [(terms.start_date, cash)], [(terms.start_date, 5_000)], [(terms.start_date, 1_000)])
    days = ref.breakdown(model, 202504, ref.SblParams(), reference_closes(), harness_calendar())
    on_chain = sp.statements.call("periodFigures", b16("L-CL"), 202504)
    assert on_chain.breakdownHash == breakdown_hash(days)
    assert breakdown_hash(days[:-1]) != on_chain.breakdownHash


def test_statement_params_tuple_is_what_the_constructor_takes(sp: SblWorld) -> None:
    params = StatementParams(tol_fee_yen=3, require_manager_statement=True, payment_day_of_next_month=7)
    book = sp.evm.deploy("SblStatementBook", sp.loans.address, params.as_abi(), sender="lender")
    assert tuple(book.call("statementParams").values()) == params.as_abi()


def test_allocation_book_refuses_registries_its_parties_do_not_hold(evm: EvmHarness) -> None:
    """Recipe §6: every party of the book must be a party of the registries it reads (checked
    before anything is sent, so no network is needed here)."""
    broker, investor, trustee = party(evm, "broker_a", "node1"), party(evm, "investor", "node2"), \
        party(evm, "trustee1", "node3")
    net: Any = None
    without_broker = FundRegistry(net, evm.addr["admin"], [investor, trustee])
    with pytest.raises(ValueError, match="broker_a \\(node1\\)"):
        AllocationBook.deploy(net, broker, investor, trustee, without_broker, None)
    public = SsiRegistry(net, evm.addr["admin"], None)
    with pytest.raises(ValueError, match="every party of the allocation book"):
        AllocationBook.deploy(net, broker, investor, trustee, None, public)


ERROR_DATA = "0x08c379a0" + encode(["string"], ["affirm: only investor"]).hex()


@pytest.mark.parametrize(("error", "reason"), [
    (Web3RPCError("x", rpc_response={"jsonrpc": "2.0", "id": 1, "error": {
        "code": 3, "message": "execution reverted", "data": ERROR_DATA}}), "affirm: only investor"),
    (Web3RPCError("x", rpc_response={"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32000, "message": "contract not found. cannot transact"}}), "contract not found. cannot transact"),
    (ContractLogicError("execution reverted: calendar: not maintained for 2030-01-01", data="0x"),
     "calendar: not maintained for 2030-01-01"),
])
def test_revert_reason_is_the_contracts_reason_or_the_nodes_message(error: Exception, reason: str) -> None:
    assert revert_reason(error) == reason


def test_bytes_helpers() -> None:
    assert b16("FUND-A") == b"FUND-A" + b"\0" * 10
    with pytest.raises(ValueError, match="longer than bytes16"):
        b16("X" * 17)
    assert fixed("EQU", 4) == b"EQU\0"
