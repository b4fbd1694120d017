"""SBL statements beyond a loan-month (issue 17): agreement-level months, whole-life statements, the
diff view of two submissions and percentage tolerances, on the contracts (§3.4-§3.6).

Expected figures come from the reference model built from the same events; the contract's own
views are only ever compared with the model, never used as the expectation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postrade import reference as ref
from postrade.clients.sbl import breakdown_hash, first_differing_day
from tests.unit.postrade.conftest import (
    SBL_ISIN,
    SblWorld,
    b16,
    change_rate,
    open_loan,
    reference_calendar,
    reference_closes,
    return_shares,
    revert_reason,
)

CAL = reference_calendar()
CLOSES = reference_closes()
D = ref.to_day
AGREEMENT = b"\0" * 16
WHOLE_LIFE = 0
STATES = ["NONE", "LENDER_SUBMITTED", "MANAGER_SUBMITTED", "BORROWER_SUBMITTED", "MATCHED",
          "MATCHED_WITH_TOLERANCE", "MISMATCHED", "PAYMENT_INSTRUCTED", "PAID"]
LENDER, MANAGER, BORROWER = 0, 1, 2
YEN, PERCENT, CAPPED = (int(k) for k in ref.SblToleranceKind)
LOAN_MONTH, AGREEMENT_MONTH, LOAN_WHOLE_LIFE = 0, 1, 2


def cash_model(start: str, shares: list[tuple[str, int]], cash: list[tuple[str, int]], fee: int,
               rebate: int = 1000) -> ref.LoanModel:
    return ref.LoanModel(SBL_ISIN, D(start), ref.CollateralType.CASH, [(D(d), v) for d, v in shares],
                         [(D(d), v) for d, v in cash], [(D(start), fee)], [(D(start), rebate)])


def figures_tuple(f: Any) -> tuple[int, int, int, int]:
    return (f.feeYen, f.collateralInterestYen, f.dividendEquivalentYen, f.netYen)


def model_tuple(f: ref.PeriodFigures) -> tuple[int, int, int, int]:
    return (f.fee_yen, f.collateral_interest_yen, f.dividend_equivalent_yen, f.net_yen)


def state(sw: SblWorld, loan: bytes, period: int) -> str:
    return STATES[sw.statements.call("getStatement", loan, period).state]


def snapshot(sw: SblWorld, loan: bytes, period: int) -> tuple[Any, ...]:
    """Statement and every submission: what must not move when a step is refused."""
    return (sw.statements.call("getStatement", loan, period),
            *(sw.statements.call("submissionOf", loan, period, who) for who in (LENDER, MANAGER, BORROWER)))


# ---- agreement-level monthly statements --------------------------------------------------------


def two_loans_april(sw: SblWorld) -> list[ref.LoanModel]:
    """L1 all April; L2 from 14 April with a partial return on 21 April; L3 starts in May."""
    open_loan(sw, "L1", shares=100_000, fee=5000)
    open_loan(sw, "L2", start="2025-04-14", shares=40_000, fee=7300, rebate=800)
    return_shares(sw, "L2", 15_000, "2025-04-21", 70_000_000)
    open_loan(sw, "L3", start="2025-05-12", shares=10_000)
    cash1 = ref.required_collateral(100_000, 25_000_000, 1_050_000)
    cash2 = ref.required_collateral(40_000, 25_000_000, 1_050_000)
    return [cash_model("2025-04-07", [("2025-04-07", 100_000)], [("2025-04-07", cash1)], 5000),
            ref.LoanModel(SBL_ISIN, D("2025-04-14"), ref.CollateralType.CASH,
                          [(D("2025-04-14"), 40_000), (D("2025-04-21"), 25_000)],
                          [(D("2025-04-14"), cash2), (D("2025-04-21"), 70_000_000)],
                          [(D("2025-04-14"), 7300)], [(D("2025-04-14"), 800)])]


@pytest.mark.parametrize("loc", list(ref.RoundingLocation))
def test_agreement_month_sums_its_loans_per_fee_type(make_sbl: Callable[..., SblWorld],
                                                     loc: ref.RoundingLocation) -> None:
    params = ref.SblParams(rounding_location=loc)
    sw = make_sbl(params)
    models = two_loans_april(sw)
    want = ref.agreement_figures(models, 202504, params, CLOSES, CAL)
    got = sw.statements.call("agreementFigures", 202504)
    assert figures_tuple(got.figures) + (got.accrualDays,) == model_tuple(want) + (want.accrual_days,)
    assert want.accrual_days == 24 + 17  # loan-days
    parts = [ref.period_figures(m, 202504, params, CLOSES, CAL) for m in models]
    assert want.fee_yen == sum(p.fee_yen for p in parts)  # rounded per loan, then summed
    ids, per = sw.statements.call("agreementLoans", 202504)
    assert ids == [b16("L1"), b16("L2")]  # L3 starts in May: not part of April
    hashes = [breakdown_hash(ref.breakdown(m, 202504, params, CLOSES, CAL)) for m in models]
    assert [p.breakdownHash for p in per] == hashes
    assert got.breakdownHash == keccak(abi_encode(["bytes16[]", "bytes32[]"], [ids, hashes]))


def test_agreement_statement_matched_by_all_submitters_and_paid_when_it_is_the_billing_unit(
        make_sbl: Callable[..., SblWorld]) -> None:
    sw = make_sbl(ref.SblParams(), {"requireManagerStatement": True, "billingUnit": AGREEMENT_MONTH})
    models = two_loans_april(sw)
    want = ref.agreement_figures(models, 202504, sw.params, CLOSES, CAL)
    sw.statements.transact("submitComputedStatement", AGREEMENT, 202504, sender="lender")
    assert state(sw, AGREEMENT, 202504) == "LENDER_SUBMITTED"
    before = snapshot(sw, AGREEMENT, 202504)
    assert revert_reason(lambda: sw.statements.transact("submitComputedStatement", AGREEMENT, 202504,
                                                        sender="outsider")) \
        == "submitStatement: only lender, lender's manager or borrower"
    assert snapshot(sw, AGREEMENT, 202504) == before
    sw.statements.transact("submitComputedStatement", AGREEMENT, 202504, sender="lender_manager")
    assert state(sw, AGREEMENT, 202504) == "LENDER_SUBMITTED"  # the borrower is still missing
    sw.statements.transact("submitStatement", AGREEMENT, 202504, model_tuple(want), b"\0" * 32, sender="borrower")
    st_ = sw.statements.call("getStatement", AGREEMENT, 202504)
    assert STATES[st_.state] == "MATCHED" and figures_tuple(st_.agreed) == model_tuple(want)
    # The agreement bills per agreement-month: a loan-month statement matches but is not paid.
    for who in ("lender", "lender_manager", "borrower"):
        sw.statements.transact("submitComputedStatement", b16("L1"), 202504, sender=who)
    assert revert_reason(lambda: sw.statements.transact("instructPayment", b16("L1"), 202504, 0,
                                                        sender="borrower")) \
        == "instructPayment: not the agreed billing unit"
    assert revert_reason(lambda: sw.statements.transact("instructPayment", AGREEMENT, 202504, 0, sender="lender")) \
        == "instructPayment: only the payer of the net amount"
    r = sw.statements.transact("instructPayment", AGREEMENT, 202504, 0, sender="borrower")
    assert r.named("PaymentInstructed")[0].netYen == want.net_yen > 0
    sw.statements.transact("confirmPayment", AGREEMENT, 202504, sender="lender")
    assert state(sw, AGREEMENT, 202504) == "PAID"


def test_agreement_statement_needs_a_valid_month(sp: SblWorld) -> None:
    assert revert_reason(lambda: sp.statements.transact("submitStatement", AGREEMENT, WHOLE_LIFE, (0, 0, 0, 0),
                                                        b"\0" * 32, sender="lender")) == "invalid period YYYYMM"


# ---- whole-life statements ---------------------------------------------------------------------


def whole_life_case(fee: int) -> tuple[ref.LoanModel, list[tuple[str, int, str, int]]]:
    """A loan from 7 April to 19 May 2025 with a partial return on 28 April."""
    cash0 = ref.required_collateral(60_000, 25_000_000, 1_050_000)
    m = ref.LoanModel(SBL_ISIN, D("2025-04-07"), ref.CollateralType.CASH,
                      [(D("2025-04-07"), 60_000), (D("2025-04-28"), 35_000), (D("2025-05-19"), 0)],
                      [(D("2025-04-07"), cash0), (D("2025-04-28"), 90_000_000), (D("2025-05-19"), 0)],
                      [(D("2025-04-07"), fee)], [(D("2025-04-07"), 1000)])
    return m, [("L1", 25_000, "2025-04-28", 90_000_000), ("L1", 35_000, "2025-05-19", 0)]


def test_whole_life_statement_divides_once_over_the_life(make_sbl: Callable[..., SblWorld]) -> None:
    """SBL-04/06: one division over the whole life can differ by a yen from the monthly sum; the
    rate is picked (from the model) so that it does here."""
    params = ref.SblParams()
    fee = next(f for f in range(5000, 5400)
               if ref.whole_life_figures(whole_life_case(f)[0], params, CLOSES, CAL).fee_yen
               != sum(ref.period_figures(whole_life_case(f)[0], p, params, CLOSES, CAL).fee_yen
                      for p in (202504, 202505)))
    m, returns = whole_life_case(fee)
    sw = make_sbl(params, {"billingUnit": LOAN_WHOLE_LIFE})
    open_loan(sw, "L1", shares=60_000, fee=fee)
    assert revert_reason(lambda: sw.statements.call("wholeLifeFigures", b16("L1"))) \
        == "wholeLifeBreakdown: loan not closed"
    assert revert_reason(lambda: sw.statements.transact("submitStatement", b16("L1"), WHOLE_LIFE, (0, 0, 0, 0),
                                                        b"\0" * 32, sender="lender")) \
        == "submitStatement: whole life needs a closed loan"
    for loan_id, shares, day, cash in returns:
        return_shares(sw, loan_id, shares, day, cash)
    assert sw.statements.call("closingDate", b16("L1")) == D("2025-05-19") == ref.closing_date(m)
    want = ref.whole_life_figures(m, params, CLOSES, CAL)
    got = sw.statements.call("wholeLifeFigures", b16("L1"))
    assert figures_tuple(got.figures) + (got.accrualDays,) == model_tuple(want) + (42,)
    monthly = [sw.statements.call("periodFigures", b16("L1"), p).figures.feeYen for p in (202504, 202505)]
    assert abs(got.figures.feeYen - sum(monthly)) == 1
    days = sw.statements.call("wholeLifeBreakdown", b16("L1"))
    assert got.breakdownHash == breakdown_hash(ref._accrual_days(m, D("2025-04-07"), D("2025-05-20"), params,
                                                                 CLOSES, CAL)) and len(days) == 42
    for who in ("lender", "borrower"):
        sw.statements.transact("submitComputedStatement", b16("L1"), WHOLE_LIFE, sender=who)
    assert state(sw, b16("L1"), WHOLE_LIFE) == "MATCHED"
    assert revert_reason(lambda: sw.statements.transact("instructPayment", b16("L1"), 202504, 0,
                                                        sender="borrower")) \
        == "instructPayment: statement not matched"
    r = sw.statements.transact("instructPayment", b16("L1"), WHOLE_LIFE, 0, sender="borrower")
    assert ref.to_iso(r.named("PaymentInstructed")[0].paymentDate) == "2025-06-10"  # month after the close


def test_whole_life_of_a_zero_day_loan_and_a_lender_change(sp: SblWorld) -> None:
    open_loan(sp, "Z", start="2025-04-08")
    return_shares(sp, "Z", 100_000, "2025-04-08", 0)
    z = sp.statements.call("wholeLifeFigures", b16("Z"))
    assert (z.accrualDays, figures_tuple(z.figures)) == (0, (0, 0, 0, 0))
    assert sp.statements.call("closingDate", b16("Z")) == D("2025-04-08")
    open_loan(sp, "L1")
    sp.loans.transact("proposeLenderChange", b16("L1"), b16("L2"), b16("FUND-L2"), D("2025-04-15"), sender="lender")
    sp.loans.transact("confirmLenderChange", b16("L1"), sender="borrower")
    assert sp.statements.call("closingDate", b16("L1")) == D("2025-04-15")
    assert sp.statements.call("wholeLifeFigures", b16("L1")).accrualDays == 8


def test_whole_life_act_act_across_years_of_different_length_is_refused(make_sbl: Callable[..., SblWorld]) -> None:
    params = ref.SblParams(day_basis=ref.DayBasis.ACT_ACT, fee_basis=ref.FeeBasis.COLLATERAL)  # needs no closes
    sw = make_sbl(params)
    open_loan(sw, "L1", start="2023-12-20")
    return_shares(sw, "L1", 100_000, "2024-01-10", 0)
    assert revert_reason(lambda: sw.statements.call("wholeLifeFigures", b16("L1"))) \
        == "wholeLifeFigures: ACT_ACT life spans years of different length"
    m = cash_model("2023-12-20", [("2023-12-20", 100_000), ("2024-01-10", 0)],
                   [("2023-12-20", ref.required_collateral(100_000, 25_000_000, 1_050_000)), ("2024-01-10", 0)],
                   5000)
    with pytest.raises(ValueError, match="ACT_ACT"):
        ref.whole_life_figures(m, params, CLOSES, CAL)


# ---- the diff view and the first differing day ---------------------------------------------------


def test_diff_view_shows_each_submitter_side_by_side_on_a_mismatch(make_sbl: Callable[..., SblWorld]) -> None:
    sw = make_sbl(ref.SblParams(), {"requireManagerStatement": True, "tolFeeYen": 1})
    open_loan(sw, "L1")
    pf = sw.statements.call("periodFigures", b16("L1"), 202504)
    lender = figures_tuple(pf.figures)
    manager = (lender[0] + 3, lender[1], lender[2], lender[3] + 3)
    borrower = (lender[0] - 1, lender[1], lender[2], lender[3] - 1)
    sw.statements.transact("submitComputedStatement", b16("L1"), 202504, sender="lender")
    sw.statements.transact("submitStatement", b16("L1"), 202504, manager, b"\7" * 32, sender="lender_manager")
    sw.statements.transact("submitStatement", b16("L1"), 202504, borrower, pf.breakdownHash, sender="borrower")
    assert state(sw, b16("L1"), 202504) == "MISMATCHED"
    d = sw.statements.call("statementDiff", b16("L1"), 202504)
    assert (d.base, d.requiredMask, d.submittedMask) == (LENDER, 7, 7)
    assert [figures_tuple(s.figures) for s in d.submissions] == [lender, manager, borrower]
    assert [s.breakdownHash for s in d.submissions] == [pf.breakdownHash, b"\7" * 32, pf.breakdownHash]
    for who, fig, differs in ((MANAGER, manager, True), (BORROWER, borrower, False)):
        fd = d.diffs[who]
        diffs, mask = ref.statement_diff(lender, fig, tol_fee=1)
        assert (figures_tuple(fd), fd.outsideMask, fd.breakdownDiffers) == (diffs, mask, differs)
    assert (d.diffs[MANAGER].outsideMask, d.diffs[BORROWER].outsideMask) == (1, 0)  # only the manager's fee
    assert figures_tuple(d.diffs[LENDER]) == (0, 0, 0, 0)


def test_first_differing_day_points_to_a_missed_rate_change(sp: SblWorld) -> None:
    open_loan(sp, "L1")
    change_rate(sp, "L1", 0, "2025-04-16", 6000)
    ours = [ref.DayAccrual(*d.values()) for d in sp.statements.call("breakdown", b16("L1"), 202504)]
    cash = ref.required_collateral(100_000, 25_000_000, 1_050_000)
    missed = cash_model("2025-04-07", [("2025-04-07", 100_000)], [("2025-04-07", cash)], 5000)
    theirs = ref.breakdown(missed, 202504, ref.SblParams(), CLOSES, CAL)
    diff = first_differing_day(ours, theirs)
    assert diff is not None and (ref.to_iso(diff.date), diff.fields) == ("2025-04-16", ("fee_rate_e6",))
    assert first_differing_day(ours, ours) is None
    both_ends = first_differing_day(theirs, [*theirs, ref.DayAccrual(D("2025-05-01"), 1, 1, 1, 1, 1)])
    assert both_ends is not None and both_ends.fields == ("missing",) and both_ends.ours is None


# ---- percentage tolerances ---------------------------------------------------------------------


def submit_pair(sw: SblWorld, loan: str, period: int, base: tuple[int, int, int, int],
                other: tuple[int, int, int, int]) -> str:
    sw.statements.transact("submitStatement", b16(loan), period, other, b"\0" * 32, sender="borrower")
    sw.statements.transact("submitStatement", b16(loan), period, base, b"\0" * 32, sender="lender")
    return state(sw, b16(loan), period)


def test_percentage_and_capped_percentage_tolerances(make_sbl: Callable[..., SblWorld]) -> None:
    # Fee: 0.1 % of the lender's figure; collateral interest: 1 % capped at 5 yen.
    sw = make_sbl(ref.SblParams(), {"tolKind": [PERCENT, CAPPED, YEN], "tolRate_e6": [1000, 10_000, 0],
                                    "tolInterestYen": 5})
    open_loan(sw, "L1")
    base = (100_000, 2_000, 0, 98_000)
    cases = [  # (other, expected) — fee ±100 is 0.1 %, interest ±5 is within 1 % and the cap
        ((100_100, 2_000, 0, 98_100), "MATCHED_WITH_TOLERANCE"),
        ((100_101, 2_000, 0, 98_101), "MISMATCHED"),
        ((100_000, 2_005, 0, 97_995), "MATCHED_WITH_TOLERANCE"),
        ((100_000, 2_006, 0, 97_994), "MISMATCHED"),  # 0.3 % is within 1 % but over the 5-yen cap
        ((100_000, 2_000, 1, 98_000), "MISMATCHED"),  # dividends: the default 0-yen band
    ]
    for i, (other, want) in enumerate(cases):
        period = 202501 + i
        assert submit_pair(sw, "L1", period, base, other) == want, other
        kinds = (ref.SblToleranceKind.PERCENT, ref.SblToleranceKind.CAPPED_PERCENT, ref.SblToleranceKind.YEN)
        assert ref.compare_statements(base, [other], 0, 5, 0, kinds, (1000, 10_000, 0)).name == want
    agreed = sw.statements.call("getStatement", b16("L1"), 202501).agreed
    assert figures_tuple(agreed) == base  # the lender side's figures are adopted


def test_tolerance_rate_above_100_percent_is_refused(sp: SblWorld) -> None:
    sp_ = {"tolFeeYen": 0, "tolInterestYen": 0, "tolDividendYen": 0, "adoptSide": 0,
           "requireManagerStatement": False, "paymentDayOfNextMonth": 10, "tolKind": [PERCENT, 0, 0],
           "tolRate_e6": [1_000_001, 0, 0], "billingUnit": 0}
    assert revert_reason(lambda: sp.evm.deploy("SblStatementBook", sp.loans.address, sp_, sender="lender")) \
        == "tolerance rate above 100 %"


figure = st.integers(-10**12, 10**12)
quads = st.tuples(figure, figure, figure).map(lambda t: (t[0], t[1], t[2], t[0] - t[1]))


@st.composite
def tolerance_cases(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(quads)
    nudges = [draw(st.sampled_from([0, 0, 1, -1, draw(st.integers(-10**6, 10**6))])) for _ in range(3)]
    other = (base[0] + nudges[0], base[1] + nudges[1], base[2] + nudges[2], 0)
    other = (other[0], other[1], other[2], other[0] - other[1])
    return {"base": base, "other": other,
            "kinds": [draw(st.sampled_from(list(ref.SblToleranceKind))) for _ in range(3)],
            "rates": [draw(st.sampled_from([0, 1, 100, 1000, 50_000, 1_000_000])) for _ in range(3)],
            "bands": [draw(st.sampled_from([0, 1, 3, 500, 10**6])) for _ in range(3)]}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(tc=tolerance_cases())
def test_tolerances_contract_and_model_agree(sp: SblWorld, tc: dict[str, Any]) -> None:
    """Percent / capped-percent / yen per field: the book's status and diff equal the model's."""
    if not sp.loans.call("loanCount"):
        open_loan(sp, "L1")
    b = tc["bands"]
    sp_ = {"tolFeeYen": b[0], "tolInterestYen": b[1], "tolDividendYen": b[2], "adoptSide": 0,
           "requireManagerStatement": False, "paymentDayOfNextMonth": 10, "tolKind": [int(k) for k in tc["kinds"]],
           "tolRate_e6": tc["rates"], "billingUnit": 0}
    book = sp.evm.deploy("SblStatementBook", sp.loans.address, sp_, sender="lender")
    book.transact("submitStatement", b16("L1"), 202504, tc["other"], b"\0" * 32, sender="borrower")
    book.transact("submitStatement", b16("L1"), 202504, tc["base"], b"\0" * 32, sender="lender")
    want = ref.compare_statements(tc["base"], [tc["other"]], *b, tc["kinds"], tc["rates"])
    assert book.call("getStatement", b16("L1"), 202504).state == int(want)
    diffs, mask = ref.statement_diff(tc["base"], tc["other"], *b, tc["kinds"], tc["rates"])
    fd = book.call("statementDiff", b16("L1"), 202504).diffs[BORROWER]
    assert (figures_tuple(fd), fd.outsideMask) == (diffs, mask)
