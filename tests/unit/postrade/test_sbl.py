"""SBL on the contracts: loan events, day counts, rounding, dividends, margin, statements (§3.4-§3.7).

Expected figures come from the reference model built from the same events (never from the
contract's own views), plus hand-checked numbers where DOMAIN.md gives the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from postrade import reference as ref
from tests.unit.postrade.conftest import (
    SBL_ISIN,
    SblWorld,
    b16,
    change_rate,
    loan_terms,
    open_loan,
    period_figures,
    reference_calendar,
    reference_closes,
    return_shares,
    revert_reason,
)

CAL = reference_calendar()
CLOSES = reference_closes()
D = ref.to_day
LOAN_STATES = ["NONE", "PROPOSED", "CONFIRMED", "OPEN", "RECALL_PENDING", "CLOSED"]
STATEMENT_STATES = ["NONE", "LENDER_SUBMITTED", "MANAGER_SUBMITTED", "BORROWER_SUBMITTED", "MATCHED",
                    "MATCHED_WITH_TOLERANCE", "MISMATCHED", "PAYMENT_INSTRUCTED", "PAID"]


def model(start: str, shares: list[tuple[str, int]], cash: list[tuple[str, int]], fees: list[tuple[str, int]],
          rebates: list[tuple[str, int]], *, collateral: ref.CollateralType = ref.CollateralType.CASH,
          ratio: int = 1_000_000) -> ref.LoanModel:
    def dated(xs: list[tuple[str, int]]) -> list[tuple[int, int]]:
        return [(D(d), v) for d, v in xs]

    return ref.LoanModel(SBL_ISIN, D(start), collateral, dated(shares), dated(cash), dated(fees), dated(rebates),
                         ratio)


def expect(sw: SblWorld, loan_id: str, period: int, m: ref.LoanModel, params: ref.SblParams | None = None,
           dividends=()) -> ref.PeriodFigures:
    """Contract figures == reference figures; returns them."""
    want = ref.period_figures(m, period, params or sw.params, CLOSES, CAL, dividends)
    got = period_figures(sw, loan_id, period)
    f = got.figures
    assert (f.feeYen, f.collateralInterestYen, f.dividendEquivalentYen, f.netYen, got.accrualDays) == (
        want.fee_yen, want.collateral_interest_yen, want.dividend_equivalent_yen, want.net_yen, want.accrual_days)
    return want


def loan_state(sw: SblWorld, loan_id: str) -> str:
    return LOAN_STATES[sw.loans.call("getLoan", b16(loan_id)).state]


# ---- lifecycle ---------------------------------------------------------------------------------


def test_terms_are_confirmed_by_hash_then_delivered(sp: SblWorld) -> None:
    sp.loans.transact("proposeLoan", loan_terms("L1"), sender="lender")
    loan = sp.loans.call("getLoan", b16("L1"))
    assert loan_state(sp, "L1") == "PROPOSED"
    assert loan.terms.margin_e6 == 1_050_000 and loan.terms.dividendRatio_e6 == 1_000_000  # agreement defaults
    assert loan.initialCashYen == ref.required_collateral(100_000, 25_000_000, 1_050_000) == 262_500_000
    assert revert_reason(lambda: sp.loans.transact("confirmTerms", b16("L1"), b"\1" * 32, sender="borrower")) \
        == "confirmTerms: terms differ"
    sp.loans.transact("confirmTerms", b16("L1"), loan.termsHash, sender="borrower")
    assert loan_state(sp, "L1") == "CONFIRMED"
    assert "not delivered" in revert_reason(lambda: sp.statements.call("periodFigures", b16("L1"), 202504))
    sp.loans.transact("reportDelivery", b16("L1"), sender="lender")
    assert loan_state(sp, "L1") == "OPEN"


def test_recall_partial_returns_then_close(sp: SblWorld) -> None:
    open_loan(sp, "L1")
    sp.loans.transact("recall", b16("L1"), 60_000, D("2025-04-14"), sender="lender")
    assert loan_state(sp, "L1") == "RECALL_PENDING"
    return_shares(sp, "L1", 20_000, "2025-04-10", 210_000_000)
    assert loan_state(sp, "L1") == "RECALL_PENDING"  # 40,000 still recalled
    return_shares(sp, "L1", 40_000, "2025-04-14", 105_000_000)
    assert loan_state(sp, "L1") == "OPEN"
    assert "collateral must be returned in full" in revert_reason(lambda: return_shares(sp, "L1", 40_000,
                                                                                        "2025-04-21", 5))
    sp.loans.transact("acknowledgeReturn", b16("L1"), 0, sender="lender")
    assert loan_state(sp, "L1") == "CLOSED"
    assert sp.loans.call("positionOn", b16("L1"), D("2025-04-13")) == 80_000
    assert sp.loans.call("positionOn", b16("L1"), D("2025-04-14")) == 40_000
    m = model("2025-04-07", [("2025-04-07", 100_000), ("2025-04-10", 80_000), ("2025-04-14", 40_000),
                             ("2025-04-21", 0)],
              [("2025-04-07", 262_500_000), ("2025-04-10", 210_000_000), ("2025-04-14", 105_000_000),
               ("2025-04-21", 0)], [("2025-04-07", 5000)], [("2025-04-07", 1000)])
    assert expect(sp, "L1", 202504, m).accrual_days == 14
    assert "loan not open" in revert_reason(lambda: sp.loans.transact(
        "reportReturn", b16("L1"), 1, D("2025-04-22"), sender="borrower"))


def test_loan_spanning_month_end_with_partial_return(sp: SblWorld) -> None:
    open_loan(sp, "L1", start="2025-03-24", shares=50_000)
    return_shares(sp, "L1", 30_000, "2025-04-15", 60_000_000)
    m = model("2025-03-24", [("2025-03-24", 50_000), ("2025-04-15", 20_000)],
              [("2025-03-24", 131_250_000), ("2025-04-15", 60_000_000)], [("2025-03-24", 5000)],
              [("2025-03-24", 1000)])
    assert expect(sp, "L1", 202503, m).accrual_days == 8  # 24..31 March
    assert expect(sp, "L1", 202504, m).accrual_days == 30
    assert expect(sp, "L1", 202505, m).accrual_days == 31  # still open


def test_zero_day_loan_accrues_nothing_even_with_a_minimum_fee(make_sbl: Callable[..., SblWorld]) -> None:
    sw = make_sbl(ref.SblParams(minimum_fee_yen=500))
    open_loan(sw, "L1", start="2025-04-08")
    return_shares(sw, "L1", 100_000, "2025-04-08", 0)
    got = period_figures(sw, "L1", 202504)
    assert (got.accrualDays, got.figures.feeYen, got.figures.collateralInterestYen) == (0, 0, 0)


def test_minimum_fee_applies_per_period_after_rounding(make_sbl: Callable[..., SblWorld]) -> None:
    params = ref.SblParams(minimum_fee_yen=50_000)
    sw = make_sbl(params)
    open_loan(sw, "L1", start="2025-04-07", fee=100)
    m = model("2025-04-07", [("2025-04-07", 100_000)], [("2025-04-07", 262_500_000)], [("2025-04-07", 100)],
              [("2025-04-07", 1000)])
    assert expect(sw, "L1", 202504, m, params).fee_yen == 50_000


# ---- day counts and rounding -------------------------------------------------------------------


@pytest.mark.parametrize("basis", [ref.DayBasis.ACT365F, ref.DayBasis.ACT_ACT])
def test_leap_day_accrues_and_divisor_follows_the_basis(make_sbl: Callable[..., SblWorld], basis: ref.DayBasis) -> None:
    """SBL-02: Feb 2024 has 29 accrual days; ACT/365F keeps 365, ACT/ACT uses 366."""
    params = ref.SblParams(day_basis=basis)
    sw = make_sbl(params)
    open_loan(sw, "L1", start="2024-02-01", fee=4000, rebate=500, price=26_000_000)
    cash = ref.required_collateral(100_000, 26_000_000, 1_050_000)
    m = model("2024-02-01", [("2024-02-01", 100_000)], [("2024-02-01", cash)], [("2024-02-01", 4000)],
              [("2024-02-01", 500)])
    want = expect(sw, "L1", 202402, m, params)
    assert want.accrual_days == 29
    days = sw.statements.call("breakdown", b16("L1"), 202402)
    assert days[-1].date == D("2024-02-29")
    num = sum(d.shares * d.price_e4 * d.feeRate_e6 for d in days)
    divisor = 365 if basis == ref.DayBasis.ACT365F else 366
    assert want.fee_yen == num // (divisor * 10**10)


def test_both_ends_counts_the_return_date(make_sbl: Callable[..., SblWorld]) -> None:
    """SBL-09: 両端 adds the return day, on the shares and cash held the day before."""
    results = {}
    for both in (False, True):
        params = ref.SblParams(include_end_date=both)
        sw = make_sbl(params)
        open_loan(sw, "L1")
        return_shares(sw, "L1", 100_000, "2025-04-21", 0)
        m = model("2025-04-07", [("2025-04-07", 100_000), ("2025-04-21", 0)], [("2025-04-07", 262_500_000),
                                                                                ("2025-04-21", 0)],
                  [("2025-04-07", 5000)], [("2025-04-07", 1000)])
        results[both] = expect(sw, "L1", 202504, m, params)
    assert (results[False].accrual_days, results[True].accrual_days) == (14, 15)
    assert results[True].fee_yen > results[False].fee_yen


def test_negative_rebate_truncates_toward_zero(sp: SblWorld) -> None:
    """SBL-07 [A-SBL-NEG]: -0.10 % on 262.5M for 14 days = -10,068.49 -> -10,068 (not -10,069)."""
    open_loan(sp, "L1", rebate=-1000, price=25_000_000)
    return_shares(sp, "L1", 100_000, "2025-04-21", 0)
    f = period_figures(sp, "L1", 202504).figures
    assert f.collateralInterestYen == -10_068
    assert f.netYen == f.feeYen + 10_068  # the flow reverses: borrower pays the interest too
    assert ref.trunc_div(262_500_000 * -1000 * 14, 365 * 10**6) == -10_068
    assert (262_500_000 * -1000 * 14) // (365 * 10**6) == -10_069  # Python's floor would break


def test_floor_rounding_parameter_for_negative_amounts(make_sbl: Callable[..., SblWorld]) -> None:
    params = ref.SblParams(signed_rounding=ref.SignedRounding.FLOOR)
    sw = make_sbl(params)
    open_loan(sw, "L1", rebate=-1000, price=25_000_000)
    return_shares(sw, "L1", 100_000, "2025-04-21", 0)
    assert period_figures(sw, "L1", 202504).figures.collateralInterestYen == -10_069


@pytest.mark.parametrize("loc", list(ref.RoundingLocation))
def test_rate_change_mid_period_and_rounding_location(make_sbl: Callable[..., SblWorld],
                                                      loc: ref.RoundingLocation) -> None:
    """SBL-04/06: the truncation point is a parameter; every location matches the reference."""
    params = ref.SblParams(rounding_location=loc)
    sw = make_sbl(params)
    open_loan(sw, "L1", shares=123_456, fee=3333, rebate=777)
    change_rate(sw, "L1", 0, "2025-04-16", 4444)
    change_rate(sw, "L1", 1, "2025-04-23", 888)
    cash = ref.required_collateral(123_456, 25_000_000, 1_050_000)
    m = model("2025-04-07", [("2025-04-07", 123_456)], [("2025-04-07", cash)],
              [("2025-04-07", 3333), ("2025-04-16", 4444)], [("2025-04-07", 777), ("2025-04-23", 888)])
    expect(sw, "L1", 202504, m, params)
    assert sw.loans.call("rateOn", b16("L1"), 0, D("2025-04-15")) == 3333
    assert sw.loans.call("rateOn", b16("L1"), 0, D("2025-04-16")) == 4444


def test_rounding_locations_can_disagree_by_a_yen() -> None:
    """The reason the location is a parameter: the same inputs give different yen."""
    days = [ref.DayAccrual(i, 123_457, 25_015_000, 0, 3333 if i < 9 else 4444, 0) for i in range(24)]
    results = {loc: ref.accrue(days, 365, ref.FeeBasis.MARKET_VALUE, loc)[0] for loc in ref.RoundingLocation}
    assert len(set(results.values())) > 1


def test_rate_change_lag_parameter(make_sbl: Callable[..., SblWorld]) -> None:
    params = ref.SblParams(rate_change_lag_days=1)
    sw = make_sbl(params)
    open_loan(sw, "L1")
    change_rate(sw, "L1", 0, "2025-04-16", 6000)
    assert sw.loans.call("rateOn", b16("L1"), 0, D("2025-04-16")) == 5000
    assert sw.loans.call("rateOn", b16("L1"), 0, D("2025-04-17")) == 6000
    m = model("2025-04-07", [("2025-04-07", 100_000)], [("2025-04-07", 262_500_000)],
              [("2025-04-07", 5000), ("2025-04-16", 6000)], [("2025-04-07", 1000)])
    expect(sw, "L1", 202504, m, params)


def test_negative_rates_can_be_forbidden(make_sbl: Callable[..., SblWorld]) -> None:
    sw = make_sbl(ref.SblParams(allow_negative_rates=False))
    assert revert_reason(lambda: open_loan(sw, "L1", rebate=-1)) == "proposeLoan: negative rates not allowed"


def test_collateral_fee_basis_needs_no_prices(make_sbl: Callable[..., SblWorld]) -> None:
    params = ref.SblParams(fee_basis=ref.FeeBasis.COLLATERAL)
    sw = make_sbl(params)
    open_loan(sw, "L1", start="2025-08-04")  # no closes are posted for August
    m = model("2025-08-04", [("2025-08-04", 100_000)], [("2025-08-04", 262_500_000)], [("2025-08-04", 5000)],
              [("2025-08-04", 1000)])
    assert expect(sw, "L1", 202508, m, params).fee_yen == 262_500_000 * 5000 * 28 // (365 * 10**6)


# ---- prices ------------------------------------------------------------------------------------


def test_missing_close_for_a_business_day_is_an_error_not_zero(sp: SblWorld) -> None:
    open_loan(sp, "L1", start="2025-06-23")
    reason = revert_reason(lambda: period_figures(sp, "L1", 202507))
    assert reason == "price missing for business day 2025-07-01"
    assert revert_reason(lambda: sp.statements.transact("submitComputedStatement", b16("L1"), 202507,
                                                        sender="lender")) == reason


@pytest.mark.parametrize("rule", list(ref.PriceRule))
def test_non_business_days_carry_the_latest_close(make_sbl: Callable[..., SblWorld], rule: ref.PriceRule) -> None:
    params = ref.SblParams(fee_price_rule=rule)
    sw = make_sbl(params)
    open_loan(sw, "L1", start="2025-04-11")  # Friday
    days = {d.date: d.price_e4 for d in sw.statements.call("breakdown", b16("L1"), 202504)}
    fri, sat, mon = D("2025-04-11"), D("2025-04-12"), D("2025-04-14")
    assert days[sat] == CLOSES[fri]
    if rule == ref.PriceRule.SAME_DAY:
        assert (days[fri], days[mon]) == (CLOSES[fri], CLOSES[mon])
    else:
        assert (days[fri], days[mon]) == (CLOSES[D("2025-04-10")], CLOSES[fri])
    m = model("2025-04-11", [("2025-04-11", 100_000)], [("2025-04-11", 262_500_000)], [("2025-04-11", 5000)],
              [("2025-04-11", 1000)])
    expect(sw, "L1", 202504, m, params)


# ---- dividends ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("record", "on_return_param", "owed"), [
    ("2025-04-07", False, True),  # record date on the start date: owed
    ("2025-04-21", False, False),  # on the return date: not owed
    ("2025-04-21", True, True),  # unless the agreement says so
    ("2025-04-04", False, False),  # before the loan
])
def test_dividend_record_date_on_start_or_return_day(make_sbl: Callable[..., SblWorld], record: str,
                                                     on_return_param: bool, owed: bool) -> None:
    params = ref.SblParams(dividend_on_return_date=on_return_param)
    sw = make_sbl(params)
    open_loan(sw, "L1", ratio=846_850)
    return_shares(sw, "L1", 100_000, "2025-04-21", 0)
    sw.market.transact("postDividend", SBL_ISIN.encode(), D(record), D("2025-06-20"), 375_000, sender="lender")
    got = sw.statements.call("dividendEquivalent", b16("L1"), 0)
    m = model("2025-04-07", [("2025-04-07", 100_000), ("2025-04-21", 0)], [], [("2025-04-07", 5000)],
              [("2025-04-07", 1000)], ratio=846_850)
    want = ref.loan_dividend_equivalent(m, ref.Dividend(D(record), D("2025-06-20"), 375_000), params)
    assert tuple(got) == want
    assert got[0] is owed
    if owed:
        assert got[2] == 100_000 * 375_000 * 846_850 // 10**10 == 3_175_687


def test_partial_return_on_record_date_uses_remaining_shares(sp: SblWorld) -> None:
    open_loan(sp, "L1")
    return_shares(sp, "L1", 40_000, "2025-04-15", 157_500_000)
    sp.market.transact("postDividend", SBL_ISIN.encode(), D("2025-04-15"), D("2025-06-20"), 375_000, sender="lender")
    assert tuple(sp.statements.call("dividendEquivalent", b16("L1"), 0)) == (True, 60_000, 2_250_000)


def test_dividend_netting_parameter(make_sbl: Callable[..., SblWorld]) -> None:
    params = ref.SblParams(net_dividends=True)
    sw = make_sbl(params)
    open_loan(sw, "L1")
    sw.market.transact("postDividend", SBL_ISIN.encode(), D("2025-04-10"), D("2025-04-25"), 100_000, sender="lender")
    f = period_figures(sw, "L1", 202504).figures
    assert f.dividendEquivalentYen == 1_000_000
    assert f.netYen == f.feeYen - f.collateralInterestYen + 1_000_000


# ---- collateral and margin ---------------------------------------------------------------------


def test_margin_call_on_previous_day_close_then_collateral_return(sp: SblWorld) -> None:
    open_loan(sp, "L1", price=20_000_000)  # collateral set low on purpose: 210,000,000
    day = D("2025-04-09")
    required, held, call, excess = sp.loans.call("marginStatus", b16("L1"), day)
    prev = CAL.previous_business_day(day)
    assert required == ref.required_collateral(100_000, CLOSES[prev], 1_050_000)
    assert (held, call, excess) == (210_000_000, required - 210_000_000, 0)
    assert ref.margin_status(required, held) == (call, 0)
    sp.loans.transact("issueMarginCall", b16("L1"), day, day, sender="lender")
    assert revert_reason(lambda: sp.loans.transact("confirmCollateralMove", b16("L1"), sender="lender")) \
        == "confirmCollateralMove: only the other party"
    sp.loans.transact("confirmCollateralMove", b16("L1"), sender="borrower")
    assert sp.loans.call("cashOn", b16("L1"), day) == required
    assert sp.loans.call("cashOn", b16("L1"), day - 1) == 210_000_000
    assert revert_reason(lambda: sp.loans.transact("issueMarginCall", b16("L1"), day, day, sender="lender")) \
        == "issueMarginCall: no shortfall"
    # Prices move; the borrower asks the excess back on a later day.
    later = next(d for d in range(D("2025-04-10"), D("2025-04-30"))
                 if d in CLOSES and CLOSES[CAL.previous_business_day(d)] < CLOSES[prev])
    req2, held2, _, excess2 = sp.loans.call("marginStatus", b16("L1"), later)
    assert excess2 == held2 - req2 > 0
    sp.loans.transact("requestCollateralReturn", b16("L1"), later, later, sender="borrower")
    sp.loans.transact("confirmCollateralMove", b16("L1"), sender="lender")
    assert sp.loans.call("cashOn", b16("L1"), later) == req2
    m = model("2025-04-07", [("2025-04-07", 100_000)],
              [("2025-04-07", 210_000_000), (ref.to_iso(day), required), (ref.to_iso(later), req2)],
              [("2025-04-07", 5000)], [("2025-04-07", 1000)])
    expect(sp, "L1", 202504, m)


def test_margin_needs_a_business_day(sp: SblWorld) -> None:
    open_loan(sp, "L1")
    assert revert_reason(lambda: sp.loans.call("marginStatus", b16("L1"), D("2025-04-12"))) \
        == "requiredCollateral: not a business day"


# ---- lender change and return priority ----------------------------------------------------------


def test_lender_change_closes_the_old_slice_and_opens_a_new_loan(sp: SblWorld) -> None:
    open_loan(sp, "L1")
    sp.loans.transact("proposeLenderChange", b16("L1"), b16("L2"), b16("FUND-L2"), D("2025-04-15"), sender="lender")
    sp.loans.transact("confirmLenderChange", b16("L1"), sender="borrower")
    assert (loan_state(sp, "L1"), loan_state(sp, "L2")) == ("CLOSED", "OPEN")
    new = sp.loans.call("getLoan", b16("L2"))
    assert (new.terms.lenderFundCode, new.terms.startDate, new.terms.shares) == (b16("FUND-L2"), D("2025-04-15"),
                                                                                 100_000)
    old_m = model("2025-04-07", [("2025-04-07", 100_000), ("2025-04-15", 0)],
                  [("2025-04-07", 262_500_000), ("2025-04-15", 0)], [("2025-04-07", 5000)], [("2025-04-07", 1000)])
    new_m = model("2025-04-15", [("2025-04-15", 100_000)], [("2025-04-15", 262_500_000)], [("2025-04-15", 5000)],
                  [("2025-04-15", 1000)])
    assert expect(sp, "L1", 202504, old_m).accrual_days == 8
    assert expect(sp, "L2", 202504, new_m).accrual_days == 16


@pytest.mark.parametrize("priority", list(ref.ReturnPriority))
def test_partial_return_priority_among_individual_loans(make_sbl: Callable[..., SblWorld],
                                                        priority: ref.ReturnPriority) -> None:
    params = ref.SblParams(return_priority=priority)
    sw = make_sbl(params)
    open_loan(sw, "OLD", start="2025-04-07", shares=30_000)
    open_loan(sw, "NEW", start="2025-04-09", shares=50_000)
    open_loan(sw, "OTHER", start="2025-04-08", shares=10_000, fund="FUND-L9")
    ids, qty = sw.loans.call("returnAllocation", SBL_ISIN.encode(), b16("FUND-L1"), 40_000)
    got = [(i.rstrip(b"\0").decode(), q) for i, q in zip(ids, qty, strict=True)]
    want = ref.return_allocation([("OLD", D("2025-04-07"), 0, 30_000), ("NEW", D("2025-04-09"), 1, 50_000)], 40_000,
                                 priority)
    assert got == want
    sw.loans.transact("reportReturnByPriority", SBL_ISIN.encode(), b16("FUND-L1"), 40_000, D("2025-04-21"),
                      sender="borrower")
    start_shares = {"OLD": 30_000, "NEW": 50_000}
    for loan_id, q in want:
        if q:
            left = start_shares[loan_id] - q
            sw.loans.transact("acknowledgeReturn", b16(loan_id), 0 if left == 0 else 1_000_000, sender="lender")
    for loan_id, shares in start_shares.items():
        returned = dict(want).get(loan_id, 0)
        assert sw.loans.call("positionOn", b16(loan_id), D("2025-04-21")) == shares - returned
    assert sw.loans.call("positionOn", b16("OTHER"), D("2025-04-21")) == 10_000


# ---- statements --------------------------------------------------------------------------------


def test_three_submitters_tolerance_and_correction(make_sbl: Callable[..., SblWorld]) -> None:
    sw = make_sbl(ref.SblParams(), {"requireManagerStatement": True})
    open_loan(sw, "L1")
    return_shares(sw, "L1", 100_000, "2025-04-21", 0)
    pf = period_figures(sw, "L1", 202504)
    lender = tuple(pf.figures.values())
    sw.statements.transact("submitComputedStatement", b16("L1"), 202504, sender="lender")
    st = sw.statements.call("getStatement", b16("L1"), 202504)
    assert STATEMENT_STATES[st.state] == "LENDER_SUBMITTED"
    sw.statements.transact("submitStatement", b16("L1"), 202504, lender, pf.breakdownHash, sender="borrower")
    assert STATEMENT_STATES[sw.statements.call("getStatement", b16("L1"), 202504).state] == "LENDER_SUBMITTED"
    off = (lender[0] + 1, lender[1], lender[2], lender[3] + 1)
    sw.statements.transact("submitStatement", b16("L1"), 202504, off, b"\2" * 32, sender="lender_manager")
    st = sw.statements.call("getStatement", b16("L1"), 202504)
    assert STATEMENT_STATES[st.state] == "MISMATCHED"  # tolerance 0 [A-SBL-TOL]
    assert ref.compare_statements(lender, [lender, off]) == ref.StatementStatus.MISMATCHED
    sw.statements.transact("submitStatement", b16("L1"), 202504, lender, pf.breakdownHash, sender="lender_manager")
    st = sw.statements.call("getStatement", b16("L1"), 202504)
    assert STATEMENT_STATES[st.state] == "MATCHED" and tuple(st.agreed.values()) == lender
    assert sw.statements.call("submissionOf", b16("L1"), 202504, 1).version == 2
    assert "already matched" in revert_reason(lambda: sw.statements.transact(
        "submitStatement", b16("L1"), 202504, lender, pf.breakdownHash, sender="borrower"))


def test_tolerance_adopts_the_lender_side(make_sbl: Callable[..., SblWorld]) -> None:
    sw = make_sbl(ref.SblParams(), {"tolFeeYen": 1})
    open_loan(sw, "L1")
    pf = period_figures(sw, "L1", 202504)
    lender = tuple(pf.figures.values())
    borrower = (lender[0] - 1, lender[1], lender[2], lender[3] - 1)
    sw.statements.transact("submitStatement", b16("L1"), 202504, borrower, b"\0" * 32, sender="borrower")
    assert STATEMENT_STATES[sw.statements.call("getStatement", b16("L1"), 202504).state] == "BORROWER_SUBMITTED"
    sw.statements.transact("submitStatement", b16("L1"), 202504, lender, pf.breakdownHash, sender="lender")
    st = sw.statements.call("getStatement", b16("L1"), 202504)
    assert STATEMENT_STATES[st.state] == "MATCHED_WITH_TOLERANCE" and tuple(st.agreed.values()) == lender
    assert ref.compare_statements(lender, [borrower], tol_fee=1) == ref.StatementStatus.MATCHED_WITH_TOLERANCE


def test_statement_net_must_equal_its_components(sp: SblWorld) -> None:
    open_loan(sp, "L1")
    assert revert_reason(lambda: sp.statements.transact("submitStatement", b16("L1"), 202504, (100, 20, 0, 81),
                                                        b"\0" * 32, sender="lender")) \
        == "submitStatement: net inconsistent with components"


def test_negative_net_is_paid_by_the_lender_on_the_agreed_day(sp: SblWorld) -> None:
    open_loan(sp, "L1", fee=100, rebate=5000)
    for who in ("lender", "borrower"):
        sp.statements.transact("submitComputedStatement", b16("L1"), 202504, sender=who)
    st = sp.statements.call("getStatement", b16("L1"), 202504)
    assert st.agreed["netYen"] < 0
    assert "only the payer" in revert_reason(lambda: sp.statements.transact(
        "instructPayment", b16("L1"), 202504, 0, sender="borrower"))
    r = sp.statements.transact("instructPayment", b16("L1"), 202504, 0, sender="lender")
    ev = r.named("PaymentInstructed")[0]
    assert ref.to_iso(ev.paymentDate) == "2025-05-12"  # 10 May 2025 is a Saturday [A-SBL-NET]
    assert sp.statements.call("defaultPaymentDate", 202504) == ev.paymentDate
    sp.statements.transact("confirmPayment", b16("L1"), 202504, sender="borrower")
    assert STATEMENT_STATES[sp.statements.call("getStatement", b16("L1"), 202504).state] == "PAID"


def test_sbl_params_round_trip(sp: SblWorld) -> None:
    p = sp.loans.call("params")
    assert tuple(p.values()) == ref.SblParams().as_abi()
    assert replace(ref.SblParams(), minimum_fee_yen=1).as_abi() != ref.SblParams().as_abi()
