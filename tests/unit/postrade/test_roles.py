"""Role checks: every state transition attempted by a wrong party reverts with a clear reason, and
the right party then succeeds from the same state (so the revert was the role, not the state)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from postrade import reference as ref
from tests.unit.postrade.conftest import (
    Contract,
    Infra,
    SblWorld,
    TradeWorld,
    accept_block,
    allocate_block,
    b16,
    fills_abi,
    fund_input,
    notice,
    revert_reason,
    ssi_input,
)

EVERYONE = ("admin", "broker_a", "investor", "trustee1", "trustee2", "broker_b", "lender", "lender_manager",
            "borrower", "price_source", "outsider")


def check(contract: Contract, fn: str, args: Sequence[Any], reason: str, right: str | None,
          wrong: Sequence[str] | None = None) -> None:
    """Every party but `right` (or the listed ones) is refused with `reason`; then `right` succeeds."""
    for sender in wrong if wrong is not None else [p for p in EVERYONE if p != right]:
        got = revert_reason(lambda s=sender: contract.transact(fn, *args, sender=s))
        assert got == reason, (fn, sender, got)
    if right is not None:
        contract.transact(fn, *args, sender=right)


def test_trade_block_book_roles(tw: TradeWorld) -> None:
    bb = tw.block_book
    n = notice("B1", "JP3633400001", 0, "2025-03-18")
    fills = fills_abi([{"quantity": 1000, "price_e4": 28515000}])
    check(bb, "postExecutionNotice", [n, fills], "postExecutionNotice: only broker", "broker_a")
    check(bb, "appendFills", [b16("B1"), fills], "appendFills: only broker", "broker_a")
    check(bb, "disputeBlock", [b16("B1"), 1, "no"], "disputeBlock: only investor", "investor")
    check(bb, "amendExecution", [n, fills], "amendExecution: only broker", "broker_a")
    b = bb.call("getBlock", b16("B1"))
    check(bb, "acceptBlock", [b16("B1"), 2, b.totalQuantity, b.avgPrice_e4], "acceptBlock: only investor", "investor")
    book = tw.alloc_books["trustee1"].address
    check(bb, "postAllocation", [b16("B1"), 2, [b16("FUND-A")], [2000], [book]], "postAllocation: only investor",
          "investor")
    party_only = ["trustee1", "trustee2", "broker_b", "outsider", "admin"]
    check(bb, "refreshStatus", [b16("B1")], "refreshStatus: only broker or investor", "broker_a", party_only)
    check(bb, "proposeSettlementDate", [b16("B1"), ref.to_day("2025-03-24")],
          "proposeSettlementDate: only broker or investor", "investor", party_only)
    check(bb, "agreeSettlementDate", [b16("B1"), ref.to_day("2025-03-24")],
          "agreeSettlementDate: only broker or investor", None, party_only)
    check(bb, "proposeSchedule", [ref.Schedule(effective_from=ref.to_day("2026-01-01")).as_abi()],
          "proposeSchedule: only broker or investor", None, party_only)
    check(bb, "cancelBlock", [b16("B1"), "x"], "cancelBlock: only broker or investor", "investor", party_only)


def test_fund_allocation_book_roles(tw: TradeWorld) -> None:
    from tests.unit.postrade.conftest import confirmation, post_block

    post_block(tw, "B1", [{"quantity": 1000, "price_e4": 28515000}])
    accept_block(tw, "B1")
    run = allocate_block(tw, "B1", {"FUND-A": 1000}, post_to_books=False)
    book, aid = run.books["FUND-A"], run.alloc_ids["FUND-A"]
    check(book, "postAllocation", [run.alloc_inputs["FUND-A"]], "postAllocation: only investor", "investor")
    figs = ref.Figures(2_851_500, 2_851, 285, 2_854_636)
    conf = confirmation(run, "FUND-A", figs)
    others = ["trustee1", "trustee2", "broker_b", "outsider", "admin", "lender"]
    check(book, "submitConfirmation", [conf], "submitConfirmation: only broker or investor", "broker_a", others)
    book.transact("submitConfirmation", conf, sender="investor")
    check(book, "acknowledge", [aid], "acknowledge: only trustee", "trustee1")
    check(book, "trusteeApprove", [aid], "trusteeApprove: only trustee", "trustee1")
    check(book, "affirm", [aid], "affirm: only investor", "investor")
    check(book, "requestCancel", [aid], "requestCancel: only broker or investor", "investor", others)
    check(book, "agreeCancel", [aid], "agreeCancel: only the other party may agree", None, ["investor"])
    check(book, "agreeCancel", [aid], "agreeCancel: only broker or investor", None, others)
    check(book, "rejectCancel", [aid], "rejectCancel: only the other party may reject", "broker_a", ["investor"])
    check(book, "instructSettlement", [aid], "instructSettlement: only trustee", "trustee1")
    check(book, "reportSettled", [aid], "reportSettled: only trustee", "trustee1")
    check(book, "voidAllocation", [aid, True], "voidAllocation: only broker or investor", None, others)
    check(book, "proposeProfile", [ref.MatchingProfile(effective_from=9).as_abi()],
          "proposeProfile: only broker or investor", None, others)


def test_calendar_and_tax_table_admin_only(infra: Infra) -> None:
    cal, tax = infra.calendar, infra.tax
    check(cal, "setHolidays", [[ref.to_day("2025-03-19")], True], "calendar: only admin", "admin")
    check(cal, "setRules", [0x60, True], "calendar: only admin", "admin")
    check(cal, "setCoverage", [ref.to_day("2019-01-01"), ref.to_day("2026-12-31")], "calendar: only admin", "admin")
    check(tax, "addRate", [ref.to_day("2030-01-01"), 12], "tax table: only admin", "admin")
    check(cal, "transferAdmin", [infra.calendar.evm.addr["outsider"]], "calendar: only admin", "admin")


def test_master_data_roles(tw_md: TradeWorld) -> None:
    reg = tw_md.fund_registry
    assert reg is not None
    evm = tw_md.evm
    x = fund_input("FUND-N", evm.addr["trustee1"], "2025-04-01")
    check(reg, "createFund", [x], "createFund: only asset manager", "investor")
    check(reg, "submitFund", [b16("FUND-N")], "submitFund: only asset manager", "investor")
    check(reg, "rejectFund", [b16("FUND-N"), "no"], "rejectFund: only the fund's trustee", "trustee1")
    reg.transact("submitFund", b16("FUND-N"), sender="investor")
    check(reg, "confirmFund", [b16("FUND-N")], "confirmFund: only the fund's trustee", "trustee1")
    mgr_or_trustee = "suspendFund: only asset manager or the fund's trustee"
    check(reg, "suspendFund", [b16("FUND-N"), "aml"], mgr_or_trustee, "trustee1",
          ["trustee2", "broker_a", "broker_b", "outsider"])
    check(reg, "resumeFund", [b16("FUND-N")], "resumeFund: only asset manager or the fund's trustee", "investor",
          ["trustee2", "broker_a", "outsider"])
    day = ref.to_day("2025-12-30")
    check(reg, "scheduleRedemption", [b16("FUND-N"), day], "scheduleRedemption: only asset manager", "investor")
    check(reg, "confirmRedemption", [b16("FUND-N"), day], "confirmRedemption: only the fund's trustee", "trustee1")
    check(reg, "setAmlStatus", [b16("FUND-N"), 2, day], "setAmlStatus: only asset manager or the fund's trustee",
          "trustee1", ["broker_a", "trustee2", "outsider"])
    name = b"New name"
    check(reg, "proposeChange", [b16("FUND-N"), b"NAME_EN".ljust(32, b"\0"), name, day],
          "proposeChange: only asset manager or the fund's trustee", "investor", ["broker_a", "trustee2", "outsider"])
    check(reg, "approveChange", [0], "approveChange: not a required approver", None,
          ["investor", "trustee2", "broker_a", "outsider"])
    check(reg, "withdrawChange", [0], "withdrawChange: only the requester", "investor", ["trustee1", "broker_a"])

    ssi = tw_md.ssi_registries["trustee1"]
    check(ssi, "registerSsi", [ssi_input("FUND-A", "2025-10-01", "TB1-0002")], "registerSsi: only a settlement party",
          "investor", ["trustee2", "broker_b", "outsider", "admin"])
    side = "approveSsi: only the counterparty of the initiating side"
    check(ssi, "approveSsi", [b16("FUND-A"), b"EQU", 2], side, "broker_a", ["investor", "trustee1", "broker_b"])
    check(ssi, "requestTermination", [b16("FUND-A"), b"EQU", 2], "requestTermination: only a settlement party",
          "broker_a", ["broker_b", "trustee2", "outsider"])
    check(ssi, "confirmTermination", [b16("FUND-A"), b"EQU", 2],
          "confirmTermination: only the counterparty of the initiating side", "trustee1", ["broker_a", "broker_b"])

    inst = evm.deploy("InstitutionRegistry", evm.addr["admin"], True)
    rec = {"lei": "549300TESTFUNDJP0A93", "corporateNumber": "", "bics": ["JJSDJPJT"], "jasdecParticipantCode": "",
           "nameJa": "", "nameEn": "AM", "roles": 1, "accounts": [evm.addr["investor"]], "ptmPublicKeys": []}
    check(inst, "register", [rec], "institution registry: only admin", "admin")
    check(inst, "setStatus", ["549300TESTFUNDJP0A93", 2], "institution registry: only admin", "admin")


def test_sbl_roles(sw: SblWorld) -> None:
    loans, market, st = sw.loans, sw.market, sw.statements
    terms = {
        "loanId": b16("L1"), "lenderFundCode": b16("FUND-L1"), "isin": b"JP3633400001", "collateralType": 0,
        "tradeDate": ref.to_day("2025-04-07"), "startDate": ref.to_day("2025-04-07"), "termEndDate": 0,
        "shares": 100_000, "referencePrice_e4": 25_000_000, "feeRate_e6": 5000, "rebateRate_e6": 1000,
        "margin_e6": 0, "dividendRatio_e6": 0,
    }
    lender_side = ["lender_manager", "price_source", "broker_a", "outsider", "admin"]
    check(loans, "proposeLoan", [terms], "proposeLoan: only lender or borrower", "borrower", lender_side)
    h = loans.call("getLoan", b16("L1")).termsHash
    check(loans, "confirmTerms", [b16("L1"), h], "confirmTerms: only the other party", "lender",
          ["borrower", "lender_manager", "outsider"])
    check(loans, "reportDelivery", [b16("L1")], "reportDelivery: only lender", "lender")
    days = [ref.to_day("2025-04-07"), ref.to_day("2025-04-08")]
    check(market, "postPrices", [b"JP3633400001", days, [25_000_000, 25_100_000]], "postPrices: only price source",
          "price_source")
    check(market, "postDividend", [b"JP3633400001", days[0], days[1], 1], "postDividend: only lender or price source",
          "lender", ["borrower", "lender_manager", "outsider"])
    check(loans, "proposeRateChange", [b16("L1"), 0, days[1], 6000], "proposeRateChange: only lender or borrower",
          "lender", ["lender_manager", "outsider", "price_source"])
    check(loans, "confirmRateChange", [b16("L1")], "confirmRateChange: only the other party", "borrower",
          ["lender", "lender_manager", "outsider"])
    check(loans, "issueMarginCall", [b16("L1"), days[1], days[1]], "issueMarginCall: only lender", None,
          ["borrower", "lender_manager", "outsider"])
    check(loans, "requestCollateralReturn", [b16("L1"), days[1], days[1]], "requestCollateralReturn: only borrower",
          None, ["lender", "lender_manager", "outsider"])
    check(loans, "recall", [b16("L1"), 50_000, ref.to_day("2025-04-10")], "recall: only lender", "lender")
    check(loans, "reportReturn", [b16("L1"), 50_000, ref.to_day("2025-04-10")], "reportReturn: only borrower",
          "borrower")
    check(loans, "acknowledgeReturn", [b16("L1"), 131_250_000], "acknowledgeReturn: only lender", "lender")
    check(loans, "proposeLenderChange", [b16("L1"), b16("L2"), b16("FUND-L2"), ref.to_day("2025-04-15")],
          "proposeLenderChange: only lender", "lender")
    check(loans, "confirmLenderChange", [b16("L1")], "confirmLenderChange: only borrower", "borrower")
    period = 202504
    fig = (100, 20, 0, 80)
    check(st, "submitStatement", [b16("L2"), period, fig, b"\0" * 32],
          "submitStatement: only lender, lender's manager or borrower", "lender",
          ["price_source", "broker_a", "outsider", "admin"])
    st.transact("submitStatement", b16("L2"), period, fig, b"\0" * 32, sender="borrower")
    check(st, "instructPayment", [b16("L2"), period, 0], "instructPayment: only the payer of the net amount",
          "borrower", ["lender", "lender_manager", "outsider"])
    check(st, "confirmPayment", [b16("L2"), period], "confirmPayment: only the payee", "lender",
          ["borrower", "lender_manager", "outsider"])


def test_competitor_and_other_trustee_cannot_touch_anything(tw: TradeWorld) -> None:
    """Broker B and the trustee of another fund are not parties: every write is refused."""
    from tests.unit.postrade.conftest import post_block

    post_block(tw, "B1", [{"quantity": 1000, "price_e4": 28515000}])
    accept_block(tw, "B1")
    run = allocate_block(tw, "B1", {"FUND-A": 1000})
    book, aid = run.books["FUND-A"], run.alloc_ids["FUND-A"]
    for sender in ("broker_b", "trustee2"):
        for fn, args in (("acknowledge", [aid]), ("instructSettlement", [aid]), ("affirm", [aid]),
                         ("requestCancel", [aid]), ("voidAllocation", [aid, False])):
            assert "only" in revert_reason(lambda f=fn, a=args, s=sender: book.transact(f, *a, sender=s))
        assert "only" in revert_reason(lambda s=sender: tw.block_book.transact(
            "cancelBlock", b16("B1"), "x", sender=s))
