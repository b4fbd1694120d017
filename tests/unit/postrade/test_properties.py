"""Hypothesis: the reference model against the contracts' pure and view functions on random inputs.

Every check runs the real contract on py-evm; example counts are modest because an EVM call in
Python costs milliseconds (an SBL period costs ~0.4 s).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postrade import reference as ref
from tests.unit.postrade.conftest import (
    CALENDAR_FROM,
    CALENDAR_UNTIL,
    EvmHarness,
    Infra,
    Reverted,
    SblWorld,
    agreement_on,
    b16,
    change_rate,
    open_loan,
    rebind,
    reference_calendar,
    reference_closes,
    return_shares,
)

CAL = reference_calendar()
CLOSES = reference_closes()
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])

roundings = st.sampled_from(list(ref.Rounding))
fund_codes = st.lists(st.from_regex(r"[A-Z0-9\-]{1,16}", fullmatch=True), min_size=1, max_size=8, unique=True)


def _fig(f: Any) -> ref.Figures:
    return ref.Figures(*f.values())


# ---- trade confirmation ------------------------------------------------------------------------


@st.composite
def allocation_cases(draw: st.DrawFn) -> tuple[list[str], list[int], int, int, ref.AllocMethod, bool]:
    codes = draw(fund_codes)
    unit = draw(st.sampled_from([1, 100, 1000]))
    lots = draw(st.booleans())  # orders in whole trading units (the usual case) or odd lots
    if lots:
        orders = [unit * draw(st.integers(1, 2000)) for _ in codes]
    else:
        orders = [draw(st.integers(1, 200_000)) for _ in codes]
    total = sum(orders)
    if not lots or draw(st.booleans()) or total < unit:
        executed = total  # odd-lot orders can only be allocated in full
    else:
        executed = unit * draw(st.integers(1, total // unit))
    return codes, orders, executed, unit, draw(st.sampled_from(list(ref.AllocMethod))), lots


@FAST
@given(allocation_cases())
def test_allocation_matches_reference(base_evm: tuple[EvmHarness, Infra], case) -> None:
    codes, orders, executed, unit, method, lots = case
    calc = base_evm[1].trade_calc
    got = calc.call("allocate", [b16(c) for c in codes], orders, executed, unit, int(method))
    want = ref.allocate(codes, orders, executed, unit, method)
    assert got == want
    assert sum(got) == executed
    if lots:
        assert all(0 <= a <= o for a, o in zip(got, orders, strict=True))
        assert all(a % unit == 0 for a in got)


@FAST
@given(st.lists(st.tuples(st.integers(1, 10**7), st.integers(1, 10**9)), min_size=1, max_size=6),
       st.integers(0, 4), roundings)
def test_block_totals_and_average_price(base_evm, fills: list[tuple[int, int]], digits: int,
                                        rounding: ref.Rounding) -> None:
    calc = base_evm[1].trade_calc
    got = calc.call("blockTotals", [(b"\0" * 16, q, p, b"XJPX") for q, p in fills], digits, int(rounding))
    qty, notional = ref.block_totals([ref.Fill(q, p) for q, p in fills])
    assert got == (qty, notional, ref.average_price(notional, qty, digits, rounding))


schedules = st.builds(
    ref.Schedule,
    rate_by_order_type_e6=st.tuples(*[st.integers(0, 10_000)] * 4),
    minimum_commission_yen=st.integers(0, 10_000),
    calc_level=st.sampled_from(list(ref.CalcLevel)),
    avg_price_digits=st.integers(0, 4),
    avg_price_rounding=roundings,
    principal_rounding=roundings,
    commission_rounding=roundings,
    tax_rounding=roundings,
)


@FAST
@given(st.integers(0, 10**8), st.integers(1, 10**9), st.integers(0, 20_000), st.integers(0, 25),
       st.sampled_from(list(ref.Side)), schedules)
def test_fund_figures_match_reference(base_evm, qty: int, avg: int, rate: int, tax: int, side: ref.Side,
                                      s: ref.Schedule) -> None:
    got = base_evm[1].trade_calc.call("fundFigures", qty, avg, rate, tax, int(side), s.as_abi())
    assert _fig(got) == ref.fund_figures(qty, avg, rate, tax, side, s)


@FAST
@given(fund_codes, st.data(), st.integers(1, 10**9), st.integers(0, 20_000), st.integers(0, 25),
       st.sampled_from(list(ref.Side)), schedules)
def test_block_fund_figures_both_calculation_levels(base_evm, codes: list[str], data: st.DataObject, avg: int,
                                                    rate: int, tax: int, side: ref.Side, s: ref.Schedule) -> None:
    qty = data.draw(st.lists(st.integers(1, 10**7), min_size=len(codes), max_size=len(codes)))
    got = base_evm[1].trade_calc.call("blockFundFigures", [b16(c) for c in codes], qty, avg, rate, tax, int(side),
                                      s.as_abi())
    assert [_fig(g) for g in got] == ref.block_fund_figures(codes, qty, avg, rate, tax, side, s)


figures = st.builds(ref.Figures, *[st.integers(-10**12, 10**12)] * 4)
profiles = st.builds(ref.MatchingProfile, tol_principal_yen=st.integers(0, 3), tol_commission_yen=st.integers(0, 3),
                     tol_tax_yen=st.integers(0, 3), tol_net_yen=st.integers(0, 3),
                     adopt_side=st.sampled_from(list(ref.AdoptSide)))


@FAST
@given(figures, st.tuples(*[st.integers(-4, 4)] * 4), profiles)
def test_matching_matches_reference(base_evm, investor: ref.Figures, delta: tuple[int, ...],
                                    p: ref.MatchingProfile) -> None:
    broker = ref.Figures(*(a + d for a, d in zip(investor.as_tuple(), delta, strict=True)))
    status, diff, agreed = base_evm[1].trade_calc.call("compare", broker.as_tuple(), investor.as_tuple(), p.as_abi())
    want = ref.compare_figures(broker, investor, p)
    assert (ref.MatchStatus(status), _fig(diff), _fig(agreed)) == want


# ---- SBL pure formulas -------------------------------------------------------------------------

day_accruals = st.builds(
    ref.DayAccrual, date=st.integers(19_000, 21_000), shares=st.integers(1, 10**9), price_e4=st.integers(1, 10**11),
    cash_yen=st.integers(0, 10**14), fee_rate_e6=st.sampled_from([-500, 0, 1000, 3333, 5000, 12_345]),
    rebate_rate_e6=st.sampled_from([-1000, -1, 0, 1, 777, 1000]),
)


@FAST
@given(st.lists(day_accruals, max_size=31), st.sampled_from([365, 366, 360]), st.sampled_from(list(ref.FeeBasis)),
       st.sampled_from(list(ref.RoundingLocation)), st.sampled_from(list(ref.SignedRounding)))
def test_sbl_accrual_matches_reference(base_evm, days: list[ref.DayAccrual], basis_days: int, basis: ref.FeeBasis,
                                       loc: ref.RoundingLocation, rounding: ref.SignedRounding) -> None:
    got = base_evm[1].sbl_calc.call("accrue", [d.as_tuple() for d in days], basis_days, int(basis), int(loc),
                                    int(rounding))
    assert got == ref.accrue(days, basis_days, basis, loc, rounding)


@FAST
@given(st.integers(0, 10**9), st.integers(1, 10**11), st.integers(0, 2_000_000), st.integers(0, 2_000_000))
def test_collateral_and_dividend_formulas(base_evm, shares: int, price: int, margin: int, ratio: int) -> None:
    calc = base_evm[1].sbl_calc
    assert calc.call("requiredCollateral", shares, price, margin) == ref.required_collateral(shares, price, margin)
    assert calc.call("dividendEquivalent", shares, price, ratio) == ref.dividend_equivalent(shares, price, ratio)


@FAST
@given(st.dates(dt.date(1970, 1, 1), dt.date(2200, 12, 31)), st.integers(0, 400), st.booleans())
def test_dates_and_day_counts(base_evm, d: dt.date, span: int, both: bool) -> None:
    calc = base_evm[1].sbl_calc
    day = ref.to_day(d)
    assert calc.call("daysFromCivil", d.year, d.month, d.day) == day == ref.days_from_civil(d.year, d.month, d.day)
    assert calc.call("civilFromDays", day) == (d.year, d.month, d.day) == ref.civil_from_days(day)
    assert calc.call("accrualDays", day, day + span, both) == ref.accrual_days(day, day + span, both)
    assert calc.call("daysInYear", d.year) == ref.days_in_year(d.year)
    period = d.year * 100 + d.month
    assert calc.call("periodBounds", period) == ref.period_bounds(period)


# ---- calendar ----------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(ref.to_day(CALENDAR_FROM) + 10, ref.to_day(CALENDAR_UNTIL) - 30), st.integers(0, 10))
def test_calendar_matches_reference(base_evm, day: int, n: int) -> None:
    cal = base_evm[1].calendar
    assert cal.call("isBusinessDay", day) == CAL.is_business_day(day)
    assert cal.call("addBusinessDays", day, n) == CAL.add_business_days(day, n)
    assert cal.call("previousBusinessDay", day) == CAL.previous_business_day(day)
    assert cal.call("businessDayOnOrAfter", day) == CAL.business_day_on_or_after(day)


def test_calendar_refuses_dates_it_does_not_maintain(base_evm) -> None:
    cal = base_evm[1].calendar
    try:
        cal.call("isBusinessDay", ref.to_day("2026-01-05"))
    except Reverted as e:
        assert e.reason == "calendar: not maintained for 2026-01-05"
    else:  # pragma: no cover - the call must revert
        raise AssertionError("expected a revert")


# ---- identifiers -------------------------------------------------------------------------------

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@FAST
@given(st.text(alphabet=ALNUM + "abcxyz.-", min_size=0, max_size=21))
def test_identifier_checks_agree_on_any_text(base_evm, s: str) -> None:
    ids = base_evm[1].ids
    for checker, fn in (("isValidIsin", ref.is_valid_isin), ("isValidLei", ref.is_valid_lei),
                        ("isValidCorporateNumber", ref.is_valid_corporate_number), ("isValidBic", ref.is_valid_bic),
                        ("isValidGiin", ref.is_valid_giin), ("isValidJasdecCode", ref.is_valid_jasdec_code),
                        ("isValidFundCode", ref.is_valid_fund_code), ("isValidLocalCode", ref.is_valid_local_code)):
        assert ids.call(checker, s) == fn(s), (checker, s)


@settings(max_examples=15, deadline=None)
@given(st.from_regex(r"[A-Z]{2}[A-Z0-9]{9}", fullmatch=True), st.from_regex(r"[A-Z0-9]{18}", fullmatch=True),
       st.from_regex(r"[0-9]{12}", fullmatch=True))
def test_check_digits_make_valid_identifiers(base_evm, isin11: str, lei18: str, corp12: str) -> None:
    ids = base_evm[1].ids
    c = ids.call("isinCheckDigit", isin11)
    assert c == ref.isin_check_digit(isin11) and ids.call("isValidIsin", f"{isin11}{c}")
    assert not ids.call("isValidIsin", f"{isin11}{(c + 1) % 10}")
    c = ids.call("leiCheckDigits", lei18)
    assert c == ref.lei_check_digits(lei18) and ids.call("isValidLei", f"{lei18}{c:02d}")
    c = ids.call("corporateNumberCheckDigit", corp12)
    assert c == ref.corporate_number_check_digit(corp12) and ids.call("isValidCorporateNumber", f"{c}{corp12}")


# ---- SBL state-dependent views -----------------------------------------------------------------


@st.composite
def loan_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.integers(ref.to_day("2025-04-01"), ref.to_day("2025-04-25")))
    shares = draw(st.integers(1, 10**7))
    events: list[tuple[str, int, int]] = []
    day, left = start, shares
    for _ in range(draw(st.integers(0, 3))):
        day = draw(st.integers(day + 1, day + 9))
        kind = draw(st.sampled_from(["return", "fee", "rebate"]))
        if kind == "return" and left > 0:
            q = draw(st.integers(1, left))
            left -= q
            events.append(("return", day, q))
            if left == 0:
                break
        elif kind in ("fee", "rebate"):
            events.append((kind, day, draw(st.integers(-2000, 8000))))
    return {
        "start": start, "shares": shares, "fee": draw(st.integers(0, 8000)),
        "rebate": draw(st.integers(-2000, 3000)), "events": events,
        "params": ref.SblParams(
            include_end_date=draw(st.booleans()), rounding_location=draw(st.sampled_from(list(ref.RoundingLocation))),
            day_basis=draw(st.sampled_from(list(ref.DayBasis))),
            fee_price_rule=draw(st.sampled_from(list(ref.PriceRule))),
        ),
    }


@SLOW
@given(loan_scenarios())
def test_sbl_period_figures_match_reference(sbl_priced_template: SblWorld, sc: dict[str, Any]) -> None:
    base = rebind(sbl_priced_template, sbl_priced_template.evm.clone())
    params: ref.SblParams = sc["params"]
    sw = agreement_on(base, params)
    start = sc["start"]
    price = 25_000_000
    loan = open_loan(sw, "L1", start=ref.to_iso(start), shares=sc["shares"], fee=sc["fee"], rebate=sc["rebate"],
                     price=price)
    cash = loan.initialCashYen
    shares_s, cash_s = [(start, sc["shares"])], [(start, cash)]
    fees, rebates = [(start, sc["fee"])], [(start, sc["rebate"])]
    left = sc["shares"]
    for kind, day, value in sc["events"]:
        if kind == "return":
            left -= value
            after = cash * left // sc["shares"]
            return_shares(sw, "L1", value, day, after)
            shares_s.append((day, left))
            cash_s.append((day, after))
        else:
            change_rate(sw, "L1", 0 if kind == "fee" else 1, day, value)
            (fees if kind == "fee" else rebates).append((day, value))
    m = ref.LoanModel("JP3633400001", start, ref.CollateralType.CASH, shares_s, cash_s, fees, rebates)
    periods = [202504] + ([202505] if any(day >= ref.to_day("2025-05-01") for _, day, _ in sc["events"]) else [])
    for period in periods:
        want = ref.period_figures(m, period, params, CLOSES, CAL)
        got = sw.statements.call("periodFigures", b16("L1"), period)
        f = got.figures
        assert (f.feeYen, f.collateralInterestYen, f.netYen, got.accrualDays) == (
            want.fee_yen, want.collateral_interest_yen, want.net_yen, want.accrual_days)
