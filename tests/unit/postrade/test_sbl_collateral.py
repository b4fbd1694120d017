"""Non-cash collateral (issue 17): positions valued at the previous business day's close less the
haircut, margin calls, posts and returns on SblCollateralBook (§3.5 A-SBL-MARGIN).

Expected values come from the reference model (`collateral_value`, `non_cash_margin`) on the
closes the tests post themselves.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postrade import reference as ref
from tests.unit.postrade.conftest import (
    Contract,
    Infra,
    SblWorld,
    b16,
    open_loan,
    post_closes,
    reference_calendar,
    reference_closes,
    return_shares,
    revert_reason,
)

CAL = reference_calendar()
CLOSES = reference_closes()
D = ref.to_day
BOND = "JP110000000" + str(ref.isin_check_digit("JP110000000"))  # a collateral ISIN of its own
BOND_CLOSES = {d: 1_000_000 + (d % 7) * 1_000 for d in CLOSES}  # ¥100.0000-¥100.6000
EIP170_LIMIT = 24_576
DAY = D("2025-04-09")
MARGIN = 1_050_000


@pytest.fixture
def cw(sp: SblWorld) -> tuple[SblWorld, Contract]:
    """The priced SBL world with closes for BOND, a NON_CASH loan L1 and a collateral book."""
    post_closes(sp, BOND_CLOSES, BOND)
    book = sp.evm.deploy("SblCollateralBook", sp.loans.address, sender="lender")
    open_loan(sp, "L1", cash=False, shares=10_000)
    return sp, book


def state_of(book: Contract, loan: str) -> tuple[Any, ...]:
    return (book.call("positions", b16(loan)), book.call("pendingMove", b16(loan)), book.call("marginCall", b16(loan)))


def test_collateral_book_is_bound_to_the_agreement_and_fits(cw: tuple[SblWorld, Contract]) -> None:
    sw, book = cw
    assert (sw.evm.name(book.call("lender")), sw.evm.name(book.call("borrower"))) == ("lender", "borrower")
    assert bytes.fromhex(book.call("loanBook")[2:]) == sw.loans.address
    assert sw.evm.name(book.call("lenderManager")) == "lender_manager"
    assert 0 < sw.evm.code_size(book) <= EIP170_LIMIT
    assert 0 < sw.evm.code_size(sw.statements) <= EIP170_LIMIT


def test_margin_call_post_and_return_of_non_cash_collateral(cw: tuple[SblWorld, Contract]) -> None:
    sw, book = cw
    prev = CAL.previous_business_day(DAY)
    required, value, call, excess = book.call("marginStatus", b16("L1"), DAY)
    want = ref.non_cash_margin(10_000, CLOSES[prev], MARGIN, [])
    assert (required, value, call, excess) == want and call == required > 0
    # The borrower may not call; nothing moves.
    before = state_of(book, "L1")
    assert revert_reason(lambda: book.transact("callMargin", b16("L1"), DAY, DAY, sender="borrower")) \
        == "callMargin: only lender"
    assert state_of(book, "L1") == before
    r = book.transact("callMargin", b16("L1"), DAY, DAY + 1, sender="lender")
    assert r.named("MarginCalled")[0].amountYen == call
    assert book.call("marginCall", b16("L1")).open
    assert revert_reason(lambda: book.transact("callMargin", b16("L1"), DAY, DAY, sender="lender")) \
        == "callMargin: a margin call is open"
    # The borrower posts enough bonds at a 2 % haircut; only the lender confirms receipt.
    haircut = 20_000
    qty = -(-call * 10**10 // (BOND_CLOSES[prev] * (10**6 - haircut)))  # ceil: just enough
    assert revert_reason(lambda: book.transact("postCollateral", b16("L1"), BOND.encode(), qty, haircut, DAY + 1,
                                               sender="lender")) == "postCollateral: only borrower"
    book.transact("postCollateral", b16("L1"), BOND.encode(), qty, haircut, DAY + 1, sender="borrower")
    assert revert_reason(lambda: book.transact("postCollateral", b16("L1"), BOND.encode(), 1, haircut, DAY + 1,
                                               sender="borrower")) \
        == "collateral move: a move is awaiting confirmation"
    before = state_of(book, "L1")
    assert revert_reason(lambda: book.transact("confirmPost", b16("L1"), sender="borrower")) \
        == "confirmPost: only lender"
    assert state_of(book, "L1") == before
    r = book.transact("confirmPost", b16("L1"), sender="lender")
    assert r.named("MarginCallMet")[0].day == DAY and not book.call("marginCall", b16("L1")).open
    positions = book.call("positions", b16("L1"))
    assert [(p.isin.decode(), p.quantity, p.haircut_e6) for p in positions] == [(BOND, qty, haircut)]
    required, value, call, excess = book.call("marginStatus", b16("L1"), DAY)
    assert (required, value, call, excess) == ref.non_cash_margin(10_000, CLOSES[prev], MARGIN,
                                                                  [(qty, BOND_CLOSES[prev], haircut)])
    assert value == ref.collateral_value(qty, BOND_CLOSES[prev], haircut) >= required and call == 0
    # A haircut other than the held position's is refused; so is a return that leaves a shortfall.
    assert revert_reason(lambda: book.transact("postCollateral", b16("L1"), BOND.encode(), 10, 30_000, DAY,
                                               sender="borrower")) \
        == "postCollateral: haircut differs from the held position"
    assert revert_reason(lambda: book.transact("requestReturn", b16("L1"), BOND.encode(), qty // 2, DAY, DAY,
                                               sender="borrower")) == "requestReturn: would leave a shortfall"
    # Over-post, then ask the excess back; the lender returns it.
    book.transact("postCollateral", b16("L1"), BOND.encode(), 1_000, haircut, DAY + 1, sender="borrower")
    book.transact("confirmPost", b16("L1"), sender="lender")
    _, _, _, excess = book.call("marginStatus", b16("L1"), DAY)
    assert excess > 0
    book.transact("requestReturn", b16("L1"), BOND.encode(), 900, DAY, DAY + 1, sender="borrower")
    assert revert_reason(lambda: book.transact("confirmReturn", b16("L1"), sender="borrower")) \
        == "confirmReturn: only lender"
    assert revert_reason(lambda: book.transact("confirmPost", b16("L1"), sender="lender")) \
        == "confirmPost: nothing posted"
    book.transact("confirmReturn", b16("L1"), sender="lender")
    assert book.call("positions", b16("L1"))[0].quantity == qty + 100
    # Once the loan is closed everything may come back.
    return_shares(sw, "L1", 10_000, "2025-04-21", 0)
    assert book.call("marginStatus", b16("L1"), D("2025-04-21"))[0] == 0
    book.transact("requestReturn", b16("L1"), BOND.encode(), qty + 100, D("2025-04-21"), D("2025-04-21"),
                  sender="borrower")
    book.transact("confirmReturn", b16("L1"), sender="lender")
    assert book.call("collateralValue", b16("L1"), D("2025-04-21")) == 0


def test_prices_move_and_the_call_follows_the_previous_day_close(cw: tuple[SblWorld, Contract]) -> None:
    sw, book = cw
    book.transact("postCollateral", b16("L1"), BOND.encode(), 2_700_000, 50_000, DAY, sender="borrower")
    book.transact("confirmPost", b16("L1"), sender="lender")
    for day in range(D("2025-04-07"), D("2025-04-25")):
        if not CAL.is_business_day(day):
            continue
        prev = CAL.previous_business_day(day)
        got = book.call("marginStatus", b16("L1"), day)
        assert tuple(got) == ref.non_cash_margin(10_000, CLOSES[prev], MARGIN, [(2_700_000, BOND_CLOSES[prev], 50_000)])


def test_refusals_name_the_cause(cw: tuple[SblWorld, Contract]) -> None:
    sw, book = cw
    open_loan(sw, "CASH1")
    assert revert_reason(lambda: book.call("marginStatus", b16("CASH1"), DAY)) == "marginStatus: not a non-cash loan"
    assert revert_reason(lambda: book.transact("postCollateral", b16("CASH1"), BOND.encode(), 1, 0, DAY,
                                               sender="borrower")) == "postCollateral: not a non-cash loan"
    assert revert_reason(lambda: sw.loans.call("marginStatus", b16("L1"), DAY)) == "marginStatus: not a cash loan"
    assert revert_reason(lambda: book.call("marginStatus", b16("L1"), D("2025-04-12"))) \
        == "marginStatus: not a business day"
    assert revert_reason(lambda: book.transact("postCollateral", b16("L1"), b"JP1100000009", 1, 0, DAY,
                                               sender="borrower")) == "postCollateral: invalid ISIN"
    assert revert_reason(lambda: book.transact("postCollateral", b16("L1"), BOND.encode(), 1, 1_000_000, DAY,
                                               sender="borrower")) == "postCollateral: haircut must be below 100 %"
    assert revert_reason(lambda: book.transact("requestReturn", b16("L1"), BOND.encode(), 1, DAY, DAY,
                                               sender="borrower")) == "requestReturn: quantity exceeds the position"
    # A collateral ISIN without a close on the previous business day cannot be valued (error, not zero).
    other = "JP120000000" + str(ref.isin_check_digit("JP120000000"))
    book.transact("postCollateral", b16("L1"), other.encode(), 100, 0, DAY, sender="borrower")
    book.transact("confirmPost", b16("L1"), sender="lender")
    assert revert_reason(lambda: book.call("collateralValue", b16("L1"), DAY)) \
        == f"price missing for business day {ref.to_iso(CAL.previous_business_day(DAY))}"


@settings(max_examples=60, deadline=None)
@given(q=st.integers(0, 2**64 - 1), close=st.integers(1, 2**40), haircut=st.integers(0, 999_999))
def test_collateral_value_contract_and_model_agree(base_evm: tuple[Any, Infra], q: int, close: int,
                                                   haircut: int) -> None:
    assert base_evm[1].sbl_calc.call("collateralValue", q, close, haircut) == ref.collateral_value(q, close, haircut)
