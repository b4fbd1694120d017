"""Pure-Python reference model of every post-trade formula (DOMAIN.md §1-§4), integer-exact.

Why it exists: the Solidity contracts under `solidity/` are the system of record, and this module
is an independent second implementation that tests cross-check them with (hypothesis). It follows
the contracts' rules one for one, including where Python and Solidity arithmetic differ: Python's
`//` floors toward -inf, Solidity's `int` division truncates toward zero (§1.2), so signed
divisions here always go through `div_signed`.

Enum values equal the Solidity enum ordinals, so they can be passed to the contracts as is.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

# ---------------------------------------------------------------------------------------------
# Rounding primitives (§1.2)
# ---------------------------------------------------------------------------------------------


class Rounding(IntEnum):
    """Rounding of a non-negative quotient (Solidity `Rounding`)."""

    FLOOR = 0
    HALF_UP = 1
    HALF_EVEN = 2
    CEIL = 3


class SignedRounding(IntEnum):
    """Rounding of a signed quotient (Solidity `SignedRounding`); TOWARD_ZERO is Solidity's `/`."""

    TOWARD_ZERO = 0
    FLOOR = 1


def trunc_div(a: int, b: int) -> int:
    """Quotient truncated toward zero, as Solidity `int` division (−7123.29 → −7123)."""
    if b == 0:
        raise ZeroDivisionError("division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def floor_div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero")
    return a // b


def ceil_div(a: int, b: int) -> int:
    """ceil(a/b) for a >= 0, b > 0 (the collateral requirement)."""
    if b <= 0 or a < 0:
        raise ValueError("ceil_div needs a >= 0 and b > 0")
    return (a + b - 1) // b


def half_up_div(a: int, b: int) -> int:
    """half_up(a/b) for non-negative values: (2a + b) // 2b."""
    if b <= 0 or a < 0:
        raise ValueError("half_up_div needs a >= 0 and b > 0")
    return (2 * a + b) // (2 * b)


def div_round(a: int, b: int, mode: Rounding) -> int:
    """Non-negative quotient with an explicit rounding rule (PostTradeMath.divRound)."""
    if b <= 0 or a < 0:
        raise ValueError("div_round needs a >= 0 and b > 0")
    q, rem = divmod(a, b)
    if rem == 0 or mode == Rounding.FLOOR:
        return q
    if mode == Rounding.CEIL:
        return q + 1
    if 2 * rem > b:
        return q + 1
    if 2 * rem < b:
        return q
    if mode == Rounding.HALF_UP:
        return q + 1
    return q if q % 2 == 0 else q + 1


def div_signed(a: int, b: int, mode: SignedRounding) -> int:
    """Signed quotient for b > 0 (PostTradeMath.divSigned)."""
    if b <= 0:
        raise ValueError("divisor must be positive")
    return trunc_div(a, b) if mode == SignedRounding.TOWARD_ZERO else a // b


# ---------------------------------------------------------------------------------------------
# Dates (§1.1, §1.3): day numbers since 1970-01-01
# ---------------------------------------------------------------------------------------------

_EPOCH = _dt.date(1970, 1, 1)


def days_from_civil(y: int, m: int, d: int) -> int:
    """Day number of a civil date (H. Hinnant's algorithm, as DateLib.daysFromCivil)."""
    if y < 1970 or not 1 <= m <= 12 or not 1 <= d <= 31:
        raise ValueError("invalid civil date")
    y -= 1 if m <= 2 else 0
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(day: int) -> tuple[int, int, int]:
    z = day + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def to_day(value: str | _dt.date | int) -> int:
    """ISO `YYYY-MM-DD` (or a date, or a day number) → day number."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = _dt.date.fromisoformat(value)
    return (value - _EPOCH).days


def to_iso(day: int) -> str:
    return (_EPOCH + _dt.timedelta(days=day)).isoformat()


def weekday(day: int) -> int:
    """Monday = 0 ... Sunday = 6."""
    return (day + 3) % 7


def is_leap_year(y: int) -> bool:
    return (y % 4 == 0 and y % 100 != 0) or y % 400 == 0


def days_in_year(y: int) -> int:
    return 366 if is_leap_year(y) else 365


def period_bounds(period: int) -> tuple[int, int]:
    """First day of YYYYMM and first day of the next month."""
    y, m = divmod(period, 100)
    if y < 1970 or not 1 <= m <= 12:
        raise ValueError("invalid period YYYYMM")
    first = days_from_civil(y, m, 1)
    nxt = days_from_civil(y + 1, 1, 1) if m == 12 else days_from_civil(y, m + 1, 1)
    return first, nxt


def accrual_days(start: int, end: int, include_end: bool = False) -> int:
    """Calendar days from start (in) to end (out), or both ends (両端)."""
    if end < start:
        return 0
    return end - start + (1 if include_end else 0)


WEEKEND_SAT_SUN = 0x60


class CalendarRangeError(ValueError):
    """A date outside the calendar's loaded range: the contract reverts too (it never guesses);
    an administrator extends the range (docs/postrade.md, "refreshing the calendar")."""

    def __init__(self, day: int, valid_from: int, valid_until: int) -> None:
        super().__init__(f"calendar: not maintained for {to_iso(day)} "
                         f"(loaded range {to_iso(valid_from)} .. {to_iso(valid_until)})")
        self.day = day
        self.valid_from = valid_from
        self.valid_until = valid_until


@dataclass
class Calendar:
    """Business-day calendar (BusinessCalendar.sol) [A-CAL]."""

    holidays: set[int] = field(default_factory=set)
    weekend_mask: int = WEEKEND_SAT_SUN
    year_end_closure: bool = True
    valid_from: int = 0
    valid_until: int = 2**32 - 1

    def is_business_day(self, day: int) -> bool:
        if not self.valid_from <= day <= self.valid_until:
            raise CalendarRangeError(day, self.valid_from, self.valid_until)
        if (self.weekend_mask >> weekday(day)) & 1:
            return False
        if day in self.holidays:
            return False
        if self.year_end_closure:
            _, m, d = civil_from_days(day)
            if (m == 12 and d == 31) or (m == 1 and d <= 3):
                return False
        return True

    def add_business_days(self, day: int, n: int) -> int:
        counted = 0
        while counted < n:
            day += 1
            if self.is_business_day(day):
                counted += 1
        return day

    def previous_business_day(self, day: int) -> int:
        day -= 1
        while not self.is_business_day(day):
            day -= 1
        return day

    def business_day_on_or_after(self, day: int) -> int:
        while not self.is_business_day(day):
            day += 1
        return day


@dataclass
class TaxTable:
    """Consumption-tax rate (integer percent) by effective date [A-TC-TAXDATE]."""

    entries: list[tuple[int, int]]  # (effective_from day, rate_pct), increasing

    def rate_on(self, day: int) -> int:
        for eff, pct in reversed(self.entries):
            if eff <= day:
                return pct
        raise ValueError(f"tax table: no rate for {to_iso(day)}")


# ---------------------------------------------------------------------------------------------
# Trade confirmation (§2.5, §2.6)
# ---------------------------------------------------------------------------------------------


class Side(IntEnum):
    BUY = 0
    SELL = 1


class OrderType(IntEnum):
    AGENCY = 0
    DISCRETIONARY = 1
    ALGO = 2
    PRINCIPAL = 3


class CalcLevel(IntEnum):
    PER_FUND = 0
    PER_BLOCK_SPLIT = 1


class AllocMethod(IntEnum):
    LARGEST_FRACTION = 0
    LARGER_ORDER_FIRST = 1


class AdoptSide(IntEnum):
    INVESTOR = 0
    BROKER = 1


class MatchStatus(IntEnum):
    UNMATCHED = 0
    MATCHED = 1
    MATCHED_WITH_TOLERANCE = 2
    MISMATCHED = 3


@dataclass(frozen=True)
class Schedule:
    """Commission schedule of a broker-investor pair; defaults are the §8 assumptions."""

    effective_from: int = 0
    rate_by_order_type_e6: tuple[int, int, int, int] = (1000, 1000, 1000, 0)
    minimum_commission_yen: int = 0
    calc_level: CalcLevel = CalcLevel.PER_FUND
    avg_price_digits: int = 4
    avg_price_rounding: Rounding = Rounding.HALF_UP
    principal_rounding: Rounding = Rounding.FLOOR
    commission_rounding: Rounding = Rounding.FLOOR
    tax_rounding: Rounding = Rounding.FLOOR
    tax_on_settlement_date: bool = False
    alloc_method: AllocMethod = AllocMethod.LARGEST_FRACTION
    record_zero_allocations: bool = False
    settlement_cycle_days: int = 2

    def as_abi(self) -> tuple:
        """The Solidity `Schedule` tuple, field for field."""
        return (
            self.effective_from, list(self.rate_by_order_type_e6), self.minimum_commission_yen,
            int(self.calc_level), self.avg_price_digits, int(self.avg_price_rounding),
            int(self.principal_rounding), int(self.commission_rounding), int(self.tax_rounding),
            self.tax_on_settlement_date, int(self.alloc_method), self.record_zero_allocations,
            self.settlement_cycle_days,
        )


class TradeToleranceKind(IntEnum):
    """Per-field rule of the trade matching profile (TradeMath.ToleranceKind; CTM L2, §5): a yen
    band, a percentage of the investor's figure, the lesser of the two (capped percent) or the
    greater (the band as a floor)."""

    YEN = 0
    PERCENT = 1
    CAPPED_PERCENT = 2
    FLOORED_PERCENT = 3


@dataclass(frozen=True)
class MatchingProfile:
    """Tolerance profile [A-TC-TOL]: principal exact, commission ±1, tax ±1, net ±2, investor adopted.

    `tol_kinds` / `tol_rates_e6` per field (principal, commission, tax, net): YEN with rate 0 by
    default; a rate is a fraction of the investor's figure × 10^6 (1 % = 10,000)."""

    effective_from: int = 0
    tol_principal_yen: int = 0
    tol_commission_yen: int = 1
    tol_tax_yen: int = 1
    tol_net_yen: int = 2
    adopt_side: AdoptSide = AdoptSide.INVESTOR
    tol_kinds: tuple[TradeToleranceKind, TradeToleranceKind, TradeToleranceKind, TradeToleranceKind] = (
        TradeToleranceKind.YEN,) * 4
    tol_rates_e6: tuple[int, int, int, int] = (0, 0, 0, 0)

    def as_abi(self) -> tuple:
        return (self.effective_from, self.tol_principal_yen, self.tol_commission_yen, self.tol_tax_yen,
                self.tol_net_yen, int(self.adopt_side), [int(k) for k in self.tol_kinds], list(self.tol_rates_e6))


@dataclass(frozen=True)
class Fill:
    quantity: int
    price_e4: int
    exec_id: bytes = b""
    venue_mic: bytes = b""


@dataclass(frozen=True)
class Figures:
    principal_yen: int
    commission_yen: int
    consumption_tax_yen: int
    net_settlement_yen: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.principal_yen, self.commission_yen, self.consumption_tax_yen, self.net_settlement_yen)


ZERO_FIGURES = Figures(0, 0, 0, 0)


def block_totals(fills: Sequence[Fill]) -> tuple[int, int]:
    """(total quantity, exact notional N = Σ qty × price_e4); yen = N / 10^4."""
    if not fills:
        raise ValueError("no fills")
    return sum(f.quantity for f in fills), sum(f.quantity * f.price_e4 for f in fills)


def average_price(notional_e4: int, total_quantity: int, digits: int = 4,
                  rounding: Rounding = Rounding.HALF_UP) -> int:
    """avgPrice_e4 = round(N / total quantity) kept to `digits` decimals [A-TC-AVG]."""
    if total_quantity <= 0:
        raise ValueError("no executed quantity")
    if not 0 <= digits <= 4:
        raise ValueError("average price digits above 4")
    step = 10 ** (4 - digits)
    return div_round(notional_e4, total_quantity * step, rounding) * step


def fund_code_key(code: str) -> bytes:
    """The bytes16 value a fund code is compared by on chain (right-padded with zero bytes)."""
    raw = code.encode()
    if len(raw) > 16:
        raise ValueError("fund code longer than 16 bytes")
    return raw.ljust(16, b"\0")


def allocate(codes: Sequence[str], ordered: Sequence[int], executed: int, unit: int,
             method: AllocMethod = AllocMethod.LARGEST_FRACTION) -> list[int]:
    """Pro-rata allocation (§2.5 step 3): truncate to the trading unit, leftover units one at a time.

    A full execution gives every fund its order. A partial one needs orders in whole trading units
    (otherwise a leftover unit could exceed a fund's order).

    LARGEST_FRACTION: largest truncated fraction first, ties larger order then fund code
    [A-TC-ALLOC-TIE]. LARGER_ORDER_FIRST: larger orders first, then input (receipt) sequence.
    """
    n = len(codes)
    if n == 0 or len(ordered) != n or unit <= 0:
        raise ValueError("invalid allocation input")
    if any(q <= 0 for q in ordered) or len(set(codes)) != n:
        raise ValueError("invalid orders")
    if not all(is_valid_fund_code(c) for c in codes):
        raise ValueError("invalid fund code")
    total = sum(ordered)
    if executed <= 0 or executed > total:
        raise ValueError("executed out of range")
    if executed == total:
        return list(ordered)
    if executed % unit:
        raise ValueError("partial fill not a multiple of the trading unit")
    if any(q % unit for q in ordered):
        raise ValueError("partial fill of an order that is not a multiple of the trading unit")
    denom = total * unit
    alloc = [(q * executed // denom) * unit for q in ordered]
    rem = [(q * executed) % denom for q in ordered]
    left = (executed - sum(alloc)) // unit
    if method == AllocMethod.LARGEST_FRACTION:
        order = sorted(range(n), key=lambda i: (-rem[i], -ordered[i], fund_code_key(codes[i])))
    else:
        order = sorted(range(n), key=lambda i: (-ordered[i], i))
    for i in order[:left]:
        alloc[i] += unit
    return alloc


def commission_on(principal: int, rate_e6: int, s: Schedule) -> int:
    """round(principal × rate / 10^6), at least the minimum when the rate is non-zero [A-TC-COMM]."""
    c = div_round(principal * rate_e6, 1_000_000, s.commission_rounding)
    if rate_e6 > 0 and s.minimum_commission_yen > 0 and c < s.minimum_commission_yen:
        c = s.minimum_commission_yen
    return c


def with_tax(principal: int, commission: int, tax_pct: int, side: Side, tax_rounding: Rounding) -> Figures:
    """Tax on the commission [A-TC-TAX]; BUY net = p + c + t, SELL net = p − c − t (may be < 0)."""
    tax = div_round(commission * tax_pct, 100, tax_rounding)
    net = principal + commission + tax if side == Side.BUY else principal - commission - tax
    return Figures(principal, commission, tax, net)


def fund_figures(quantity: int, avg_price_e4: int, rate_e6: int, tax_pct: int, side: Side,
                 s: Schedule) -> Figures:
    """PER_FUND figures of one fund (§2.5 step 4) [A-TC-PRINC, A-TC-COMM, A-TC-TAX]."""
    principal = div_round(quantity * avg_price_e4, 10_000, s.principal_rounding)
    return with_tax(principal, commission_on(principal, rate_e6, s), tax_pct, side, s.tax_rounding)


def block_split_commissions(codes: Sequence[str], quantities: Sequence[int], principals: Sequence[int],
                            rate_e6: int, s: Schedule) -> tuple[list[int], int]:
    """PER_BLOCK_SPLIT: commission on Σ principals, split by quantity (floor), remainder to the
    largest fund (ties: fund code ascending)."""
    n = len(codes)
    if n == 0 or len(quantities) != n or len(principals) != n:
        raise ValueError("length mismatch")
    total_q = sum(quantities)
    if total_q <= 0:
        raise ValueError("no quantity")
    block = commission_on(sum(principals), rate_e6, s)
    comm = [block * q // total_q for q in quantities]
    largest = min(range(n), key=lambda i: (-quantities[i], fund_code_key(codes[i])))
    comm[largest] += block - sum(comm)
    return comm, block


def block_fund_figures(codes: Sequence[str], quantities: Sequence[int], avg_price_e4: int, rate_e6: int,
                       tax_pct: int, side: Side, s: Schedule) -> list[Figures]:
    figs = [fund_figures(q, avg_price_e4, rate_e6, tax_pct, side, s) for q in quantities]
    if s.calc_level == CalcLevel.PER_BLOCK_SPLIT:
        comm, _ = block_split_commissions(codes, quantities, [f.principal_yen for f in figs], rate_e6, s)
        figs = [with_tax(f.principal_yen, c, tax_pct, side, s.tax_rounding) for f, c in zip(figs, comm, strict=True)]
    return figs


def within_trade_tolerance(diff: int, investor: int, band_yen: int,
                           kind: TradeToleranceKind = TradeToleranceKind.YEN, rate_e6: int = 0) -> bool:
    """One field's L2 rule, bounds inclusive (TradeMath.withinTolerance): |Δ| ≤ band (YEN),
    |Δ| × 10^6 ≤ rate × |investor's figure| (PERCENT, exact), both (CAPPED_PERCENT), either
    (FLOORED_PERCENT)."""
    yen = abs(diff) <= band_yen
    if kind == TradeToleranceKind.YEN:
        return yen
    pct = abs(diff) * 1_000_000 <= abs(investor) * rate_e6
    if kind == TradeToleranceKind.PERCENT:
        return pct
    return (pct and yen) if kind == TradeToleranceKind.CAPPED_PERCENT else (pct or yen)


def compare_figures(broker: Figures, investor: Figures,
                    p: MatchingProfile) -> tuple[MatchStatus, Figures, Figures]:
    """L2 match (§2.6): each field on its own, bounds inclusive; within tolerance the adopted side's
    figures are agreed; MISMATCHED agrees nothing (zero figures)."""
    diff = Figures(*(b - i for b, i in zip(broker.as_tuple(), investor.as_tuple(), strict=True)))
    if diff == ZERO_FIGURES:
        return MatchStatus.MATCHED, diff, investor
    bands = (p.tol_principal_yen, p.tol_commission_yen, p.tol_tax_yen, p.tol_net_yen)
    fields = zip(diff.as_tuple(), investor.as_tuple(), bands, p.tol_kinds, p.tol_rates_e6, strict=True)
    if not all(within_trade_tolerance(*f) for f in fields):
        return MatchStatus.MISMATCHED, diff, ZERO_FIGURES
    return MatchStatus.MATCHED_WITH_TOLERANCE, diff, investor if p.adopt_side == AdoptSide.INVESTOR else broker


# ---------------------------------------------------------------------------------------------
# Securities lending (§3.5, §3.6)
# ---------------------------------------------------------------------------------------------


class FeeBasis(IntEnum):
    MARKET_VALUE = 0
    COLLATERAL = 1


class DayBasis(IntEnum):
    ACT365F = 0
    ACT_ACT = 1


class RoundingLocation(IntEnum):
    PER_PERIOD = 0
    PER_RATE_SEGMENT = 1
    PER_DAY = 2


class PriceRule(IntEnum):
    SAME_DAY = 0
    PREVIOUS_BUSINESS_DAY = 1


class CollateralType(IntEnum):
    CASH = 0
    NON_CASH = 1


class ReturnPriority(IntEnum):
    OLDEST_FIRST = 0
    NEWEST_FIRST = 1


class StatementStatus(IntEnum):
    """Comparison results of SblStatementBook.StatementState."""

    MATCHED = 4
    MATCHED_WITH_TOLERANCE = 5
    MISMATCHED = 6


@dataclass(frozen=True)
class SblParams:
    """Agreement parameters; defaults are the [A-SBL-*] assumptions of §8."""

    fee_basis: FeeBasis = FeeBasis.MARKET_VALUE
    day_basis: DayBasis = DayBasis.ACT365F
    include_end_date: bool = False
    rounding_location: RoundingLocation = RoundingLocation.PER_PERIOD
    signed_rounding: SignedRounding = SignedRounding.TOWARD_ZERO
    allow_negative_rates: bool = True
    fee_price_rule: PriceRule = PriceRule.SAME_DAY
    margin_price_rule: PriceRule = PriceRule.PREVIOUS_BUSINESS_DAY
    default_margin_e6: int = 1_050_000
    default_dividend_ratio_e6: int = 1_000_000
    dividend_on_return_date: bool = False
    net_dividends: bool = False
    rate_change_lag_days: int = 0
    minimum_fee_yen: int = 0
    return_priority: ReturnPriority = ReturnPriority.OLDEST_FIRST

    def as_abi(self) -> tuple:
        return (
            int(self.fee_basis), int(self.day_basis), self.include_end_date, int(self.rounding_location),
            int(self.signed_rounding), self.allow_negative_rates, int(self.fee_price_rule),
            int(self.margin_price_rule), self.default_margin_e6, self.default_dividend_ratio_e6,
            self.dividend_on_return_date, self.net_dividends, self.rate_change_lag_days,
            self.minimum_fee_yen, int(self.return_priority),
        )


@dataclass(frozen=True)
class DayAccrual:
    date: int
    shares: int
    price_e4: int
    cash_yen: int
    fee_rate_e6: int
    rebate_rate_e6: int

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.date, self.shares, self.price_e4, self.cash_yen, self.fee_rate_e6, self.rebate_rate_e6)


def accrue(days: Sequence[DayAccrual], basis_days: int = 365, basis: FeeBasis = FeeBasis.MARKET_VALUE,
           loc: RoundingLocation = RoundingLocation.PER_PERIOD,
           rounding: SignedRounding = SignedRounding.TOWARD_ZERO) -> tuple[int, int]:
    """(fee, collateral interest) over accrual days: exact numerators, divided once per period by
    default [A-SBL-ROUND]; truncation toward zero for negative rates [A-SBL-NEG]."""
    if basis_days <= 0:
        raise ValueError("basis days must be positive")
    fee_den = basis_days * 10**10
    ci_den = basis_days * 10**6
    fee = ci = acc_f = acc_c = 0
    for i, d in enumerate(days):
        if basis == FeeBasis.MARKET_VALUE:
            fnum = d.shares * d.price_e4 * d.fee_rate_e6
        else:
            fnum = d.cash_yen * d.fee_rate_e6 * 10_000
        cnum = d.cash_yen * d.rebate_rate_e6
        if loc == RoundingLocation.PER_DAY:
            fee += div_signed(fnum, fee_den, rounding)
            ci += div_signed(cnum, ci_den, rounding)
            continue
        if loc == RoundingLocation.PER_RATE_SEGMENT and i > 0:
            if d.fee_rate_e6 != days[i - 1].fee_rate_e6:
                fee += div_signed(acc_f, fee_den, rounding)
                acc_f = 0
            if d.rebate_rate_e6 != days[i - 1].rebate_rate_e6:
                ci += div_signed(acc_c, ci_den, rounding)
                acc_c = 0
        acc_f += fnum
        acc_c += cnum
    return fee + div_signed(acc_f, fee_den, rounding), ci + div_signed(acc_c, ci_den, rounding)


def required_collateral(shares: int, close_e4: int, margin_e6: int) -> int:
    """ceil(shares × close × margin / 10^10) [A-SBL-MARGIN]."""
    return ceil_div(shares * close_e4 * margin_e6, 10**10)


def dividend_equivalent(shares: int, dps_e4: int, ratio_e6: int) -> int:
    """floor(shares × dps × ratio / 10^10) [A-SBL-DIV]."""
    return shares * dps_e4 * ratio_e6 // 10**10


def margin_status(required: int, held: int) -> tuple[int, int]:
    """(call, excess): call = max(required − held, 0), return = max(held − required, 0)."""
    return max(required - held, 0), max(held - required, 0)


def _value_on(series: Sequence[tuple[int, int]], day: int, default: int = 0) -> int:
    for d, v in reversed(series):
        if d <= day:
            return v
    return default


@dataclass(frozen=True)
class Dividend:
    record_date: int
    payment_date: int
    dps_e4: int


@dataclass
class LoanModel:
    """One delivered loan with its dated series, as SblLoanBook stores them."""

    isin: str
    start_date: int
    collateral_type: CollateralType
    shares: list[tuple[int, int]]  # (date, shares on loan from that date)
    cash: list[tuple[int, int]]  # (date, cash collateral from that date)
    fee_rates: list[tuple[int, int]]  # (effective date, rate_e6); first = start date
    rebate_rates: list[tuple[int, int]]
    dividend_ratio_e6: int = 1_000_000

    def position_on(self, day: int) -> int:
        return _value_on(self.shares, day)

    def cash_on(self, day: int) -> int:
        return _value_on(self.cash, day)

    @staticmethod
    def _rate_on(series: Sequence[tuple[int, int]], day: int, lag: int) -> int:
        for i in range(len(series) - 1, -1, -1):
            eff = series[i][0] + (lag if i > 0 else 0)
            if eff <= day:
                return series[i][1]
        return series[0][1] if series else 0

    def fee_rate_on(self, day: int, lag: int = 0) -> int:
        return self._rate_on(self.fee_rates, day, lag)

    def rebate_rate_on(self, day: int, lag: int = 0) -> int:
        return self._rate_on(self.rebate_rates, day, lag)


def close_for(closes: Mapping[int, int], cal: Calendar, day: int, rule: PriceRule) -> tuple[int, int]:
    """(business day, close) used for `day` [A-SBL-PRICE]; a missing close is an error, not zero."""
    if rule == PriceRule.SAME_DAY and cal.is_business_day(day):
        b = day
    else:
        b = cal.previous_business_day(day)
    if b not in closes:
        raise LookupError(f"price missing for business day {to_iso(b)}")
    return b, closes[b]


def breakdown(loan: LoanModel, period: int, params: SblParams, closes: Mapping[int, int],
              cal: Calendar) -> list[DayAccrual]:
    """Accrual days of the period (start in, end out; both ends when configured) with their inputs."""
    first, nxt = period_bounds(period)
    return _accrual_days(loan, max(loan.start_date, first), nxt, params, closes, cal)


def _accrual_days(loan: LoanModel, frm: int, to: int, params: SblParams, closes: Mapping[int, int],
                  cal: Calendar) -> list[DayAccrual]:
    out: list[DayAccrual] = []
    for d in range(frm, to):
        ref = d
        s = loan.position_on(d)
        if params.include_end_date and d > loan.start_date:
            before = loan.position_on(d - 1)
            if before > s:
                s, ref = before, d - 1
        if s == 0:
            continue
        cash = rebate = 0
        if loan.collateral_type == CollateralType.CASH:
            cash = loan.cash_on(ref)
            rebate = loan.rebate_rate_on(d, params.rate_change_lag_days)
        price = 0
        if params.fee_basis == FeeBasis.MARKET_VALUE:
            price = close_for(closes, cal, d, params.fee_price_rule)[1]
        out.append(DayAccrual(d, s, price, cash, loan.fee_rate_on(d, params.rate_change_lag_days), rebate))
    return out


def loan_dividend_equivalent(loan: LoanModel, div: Dividend, params: SblParams) -> tuple[bool, int, int]:
    """(owed, shares, amount): owed when start <= record < return [A-SBL-DIV]."""
    s = loan.position_on(div.record_date)
    if params.dividend_on_return_date and div.record_date > loan.start_date:
        s = max(s, loan.position_on(div.record_date - 1))
    if s == 0:
        return False, 0, 0
    return True, s, dividend_equivalent(s, div.dps_e4, loan.dividend_ratio_e6)


@dataclass(frozen=True)
class PeriodFigures:
    fee_yen: int
    collateral_interest_yen: int
    dividend_equivalent_yen: int
    net_yen: int
    accrual_days: int


def period_figures(loan: LoanModel, period: int, params: SblParams, closes: Mapping[int, int], cal: Calendar,
                   dividends: Iterable[Dividend] = ()) -> PeriodFigures:
    """Fee, collateral interest, dividend equivalents paid in the period, and the net (§3.5)."""
    days = breakdown(loan, period, params, closes, cal)
    basis_days = days_in_year(period // 100) if params.day_basis == DayBasis.ACT_ACT else 365
    fee, ci = accrue(days, basis_days, params.fee_basis, params.rounding_location, params.signed_rounding)
    if days and params.minimum_fee_yen > 0 and fee < params.minimum_fee_yen:
        fee = params.minimum_fee_yen
    first, nxt = period_bounds(period)
    div = sum(loan_dividend_equivalent(loan, d, params)[2] for d in dividends if first <= d.payment_date < nxt)
    net = fee - ci + (div if params.net_dividends else 0)
    return PeriodFigures(fee, ci, div, net, len(days))


class SblToleranceKind(IntEnum):
    """Per-field tolerance rule of SblStatementBook (CTM-style, §5): a yen band (default), a
    fraction of the adopted side's figure, or that fraction capped at the yen band."""

    YEN = 0
    PERCENT = 1
    CAPPED_PERCENT = 2


def within_tolerance(diff: int, adopted: int, band_yen: int = 0, kind: SblToleranceKind = SblToleranceKind.YEN,
                     rate_e6: int = 0) -> bool:
    """YEN: |diff| <= band; PERCENT: |diff| x 10^6 <= rate x |adopted|; CAPPED_PERCENT: both."""
    if kind == SblToleranceKind.YEN:
        return abs(diff) <= band_yen
    pct = abs(diff) * 10**6 <= abs(adopted) * rate_e6
    return pct if kind == SblToleranceKind.PERCENT else pct and abs(diff) <= band_yen


def statement_diff(base: tuple[int, int, int, int], other: tuple[int, int, int, int], tol_fee: int = 0,
                   tol_interest: int = 0, tol_dividend: int = 0,
                   kinds: Sequence[SblToleranceKind] = (SblToleranceKind.YEN,) * 3,
                   rates_e6: Sequence[int] = (0, 0, 0)) -> tuple[tuple[int, int, int, int], int]:
    """(other − base per field (fee, interest, dividend, net), mask of fields outside tolerance:
    bit 0 fee, 1 interest, 2 dividend) — SblStatementBook.statementDiff."""
    diffs = (other[0] - base[0], other[1] - base[1], other[2] - base[2], other[3] - base[3])
    bands = (tol_fee, tol_interest, tol_dividend)
    mask = 0
    for i in range(3):
        if not within_tolerance(diffs[i], base[i], bands[i], kinds[i], rates_e6[i]):
            mask |= 1 << i
    return diffs, mask


def compare_statements(base: tuple[int, int, int, int], others: Sequence[tuple[int, int, int, int]],
                       tol_fee: int = 0, tol_interest: int = 0, tol_dividend: int = 0,
                       kinds: Sequence[SblToleranceKind] = (SblToleranceKind.YEN,) * 3,
                       rates_e6: Sequence[int] = (0, 0, 0)) -> StatementStatus:
    """SBL statement comparison (§3.6): every other submitter against the adopted side's figures
    (fee, interest, dividend, net); a yen band of 0 by default [A-SBL-TOL], or per field a
    percentage (optionally capped by the band)."""
    equal = within = True
    for o in others:
        diffs, mask = statement_diff(base, o, tol_fee, tol_interest, tol_dividend, kinds, rates_e6)
        if any(diffs):
            equal = False
        if mask:
            within = False
    if equal:
        return StatementStatus.MATCHED
    return StatementStatus.MATCHED_WITH_TOLERANCE if within else StatementStatus.MISMATCHED


def _sum_figures(parts: Sequence[PeriodFigures]) -> PeriodFigures:
    return PeriodFigures(sum(p.fee_yen for p in parts), sum(p.collateral_interest_yen for p in parts),
                         sum(p.dividend_equivalent_yen for p in parts), sum(p.net_yen for p in parts),
                         sum(p.accrual_days for p in parts))


def agreement_figures(loans: Sequence[LoanModel], period: int, params: SblParams, closes: Mapping[int, int],
                      cal: Calendar, dividends: Iterable[Dividend] = ()) -> PeriodFigures:
    """The agreement's month: each loan's figures, rounded per the agreement's RoundingLocation as
    in its own statement, summed per fee type (accrual days = loan-days)."""
    divs = list(dividends)
    return _sum_figures([period_figures(m, period, params, closes, cal, divs) for m in loans])


def closing_date(loan: LoanModel) -> int:
    """The date the loan's shares went to zero (the loan must be closed)."""
    zero = [d for d, v in loan.shares if v == 0]
    if not zero:
        raise ValueError("loan not closed")
    return zero[0]


def whole_life_figures(loan: LoanModel, params: SblParams, closes: Mapping[int, int], cal: Calendar,
                       dividends: Iterable[Dividend] = ()) -> PeriodFigures:
    """A closed loan's figures over its whole life: one division per fee type over every accrual
    day ("whole life" rounding, SBL-04/06), the minimum fee once, every dividend equivalent owed."""
    days = _accrual_days(loan, loan.start_date, closing_date(loan) + 1, params, closes, cal)
    basis_days = 365
    if params.day_basis == DayBasis.ACT_ACT and days:
        basis_days = days_in_year(civil_from_days(days[0].date)[0])
        if days_in_year(civil_from_days(days[-1].date)[0]) != basis_days:
            raise ValueError("ACT_ACT life spans years of different length")
    fee, ci = accrue(days, basis_days, params.fee_basis, params.rounding_location, params.signed_rounding)
    if days and params.minimum_fee_yen > 0 and fee < params.minimum_fee_yen:
        fee = params.minimum_fee_yen
    div = sum(loan_dividend_equivalent(loan, d, params)[2] for d in dividends)
    net = fee - ci + (div if params.net_dividends else 0)
    return PeriodFigures(fee, ci, div, net, len(days))


def collateral_value(quantity: int, close_e4: int, haircut_e6: int) -> int:
    """floor(quantity × close × (10^6 − haircut) / 10^10): a non-cash position's value [A-SBL-MARGIN]."""
    if not 0 <= haircut_e6 < 10**6:
        raise ValueError("haircut must be below 100 %")
    return quantity * close_e4 * (10**6 - haircut_e6) // 10**10


def non_cash_margin(shares: int, loan_close_e4: int, margin_e6: int,
                    positions: Sequence[tuple[int, int, int]]) -> tuple[int, int, int, int]:
    """(required, value, call, excess) of a non-cash loan: required = ceil(shares × close × margin
    / 10^10), value = Σ collateral_value(quantity, close, haircut) over (quantity, close_e4,
    haircut_e6) positions, call / excess as margin_status."""
    required = required_collateral(shares, loan_close_e4, margin_e6) if shares else 0
    value = sum(collateral_value(q, c, h) for q, c, h in positions)
    call, excess = margin_status(required, value)
    return required, value, call, excess


def return_allocation(loans: Sequence[tuple[str, int, int, int]], shares: int,
                      priority: ReturnPriority = ReturnPriority.OLDEST_FIRST) -> list[tuple[str, int]]:
    """Spread a return over loans (id, start date, creation seq, shares on loan), oldest first [A]."""
    sign = 1 if priority == ReturnPriority.OLDEST_FIRST else -1
    out = []
    for loan_id, _start, _seq, pos in sorted(loans, key=lambda x: (sign * x[1], sign * x[2])):
        q = min(shares, pos)
        out.append((loan_id, q))
        shares -= q
    if shares:
        raise ValueError("shares exceed shares on loan")
    return out


# ---------------------------------------------------------------------------------------------
# Identifiers (§1.4); input taken as supplied, lower case invalid [A-MD-CASE]
# ---------------------------------------------------------------------------------------------

_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM = _DIGITS + _UPPER


def _char_value(c: str) -> int:
    return int(c) if c in _DIGITS else ord(c) - 55


def isin_check_digit(first11: str) -> int:
    """Luhn over the letter-expanded digits, doubling from the rightmost digit."""
    if len(first11) != 11 or any(c not in _ALNUM for c in first11):
        raise ValueError("ISIN prefix must be 11 upper-case alphanumerics")
    digits = "".join(str(_char_value(c)) for c in first11)
    total = 0
    for k, ch in enumerate(reversed(digits)):
        v = int(ch) * (2 if k % 2 == 0 else 1)
        total += v // 10 + v % 10
    return (10 - total % 10) % 10


def is_valid_isin(s: str) -> bool:
    if len(s) != 12 or any(c not in _UPPER for c in s[:2]) or any(c not in _ALNUM for c in s[2:11]):
        return False
    return s[11] in _DIGITS and isin_check_digit(s[:11]) == int(s[11])


def _mod97(s: str) -> int:
    return int("".join(str(_char_value(c)) for c in s)) % 97


def lei_check_digits(prefix18: str) -> int:
    """ISO 17442 MOD 97-10: 98 − (prefix || "00") mod 97."""
    if len(prefix18) != 18 or any(c not in _ALNUM for c in prefix18):
        raise ValueError("LEI prefix must be 18 upper-case alphanumerics")
    return 98 - _mod97(prefix18 + "00")


def is_valid_lei(s: str) -> bool:
    if len(s) != 20 or any(c not in _ALNUM for c in s[:18]) or any(c not in _DIGITS for c in s[18:]):
        return False
    return _mod97(s) == 1


def corporate_number_check_digit(base12: str) -> int:
    """9 − (Σ Pn × Qn mod 9), Pn the n-th digit from the right, Qn = 1 (odd n) or 2 (even n)."""
    if len(base12) != 12 or any(c not in _DIGITS for c in base12):
        raise ValueError("corporate number base must be 12 digits")
    total = sum(int(base12[12 - n]) * (1 if n % 2 else 2) for n in range(1, 13))
    return 9 - total % 9


def is_valid_corporate_number(s: str) -> bool:
    if len(s) != 13 or any(c not in _DIGITS for c in s):
        return False
    return corporate_number_check_digit(s[1:]) == int(s[0])


def is_valid_bic(s: str) -> bool:
    return (len(s) in (8, 11) and all(c in _UPPER for c in s[:6]) and all(c in _ALNUM for c in s[6:]))


def is_valid_jasdec_code(s: str) -> bool:
    return len(s) == 5 and all(c in _DIGITS for c in s)


def is_valid_giin(s: str) -> bool:
    """Shape only, XXXXXX.XXXXX.XX.XXX, never the letter O [A-MD-GIIN]."""
    if len(s) != 19:
        return False
    for i, c in enumerate(s):
        if i in (6, 12, 15):
            if c != ".":
                return False
        elif c not in _ALNUM or c == "O":
            return False
    return True


def is_valid_fund_code(s: str) -> bool:
    return 0 < len(s) <= 16 and all(c in _ALNUM or c == "-" for c in s)


def is_valid_local_code(s: str) -> bool:
    return len(s) == 4 and all(c in _ALNUM for c in s)


# ---------------------------------------------------------------------------------------------
# Master data selection rules (§4.5)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SsiVersion:
    version: int
    effective_date: int
    in_force_state: bool  # ACTIVE or TERMINATION_REQUESTED


def ssi_in_force(versions: Iterable[SsiVersion], settlement_date: int,
                 effective_dating: bool = True) -> int | None:
    """Latest ACTIVE version (by effective date, then version) dated <= the settlement date
    [A-MD-SSI-EFF]; without effective dating, the latest ACTIVE version."""
    best: tuple[int, int] | None = None
    for v in versions:
        if not v.in_force_state:
            continue
        if effective_dating and v.effective_date > settlement_date:
            continue
        key = (v.effective_date if effective_dating else 0, v.version)
        if best is None or key > best:
            best = key
    return None if best is None else best[1]


def field_on(history: Sequence[tuple[int, bytes]], day: int) -> bytes:
    """Attribute as of `day`: the latest approved entry dated <= day (MD-07); history is kept
    sorted by effective date with later approvals after earlier ones on the same date."""
    for eff, value in reversed(history):
        if eff <= day:
            return value
    return b""


class FundStatus(IntEnum):
    """FundRegistry.FundState ordinals."""

    NONE = 0
    DRAFT = 1
    PENDING_TRUSTEE = 2
    REGISTERED = 3
    ACTIVE = 4
    SUSPENDED = 5
    REDEMPTION_SCHEDULED = 6
    REDEEMED = 7
    TRANSFERRED = 8


def fund_status_on(stored: FundStatus, day: int, establishment: int, redemption: int = 0,
                   transferred_in_on: int = 0, transferred_out_on: int | None = None) -> FundStatus:
    """A fund's state as of `day` from its stored state (FundRegistry.statusOn): TRANSFERRED from a
    transfer-out's effective date; REGISTERED reads ACTIVE from the later of the establishment date
    and the transfer-in date; a scheduled redemption reads REDEEMED after the redemption date."""
    if stored != FundStatus.NONE and transferred_out_on is not None and day >= transferred_out_on:
        return FundStatus.TRANSFERRED
    active_from = max(establishment, transferred_in_on)
    if stored == FundStatus.REGISTERED and day >= active_from:
        return FundStatus.ACTIVE
    if stored == FundStatus.REDEMPTION_SCHEDULED:
        if day < active_from:
            return FundStatus.REGISTERED
        if day > redemption:
            return FundStatus.REDEEMED
    return stored


class AmlStatus(IntEnum):
    """FundRegistry.AmlStatus ordinals: the flag brokers see (the clients use this enum too)."""

    NOT_STARTED = 0
    IN_REVIEW = 1
    APPROVED = 2
    REJECTED = 3
    REVIEW_DUE = 4


class EvidenceKind(IntEnum):
    AML = 0
    FATCA = 1
    CRS = 2


class EvidenceResult(IntEnum):
    NONE = 0
    CLEARED = 1
    ESCALATED = 2
    REJECTED = 3


@dataclass(frozen=True)
class EvidenceItem:
    """One review in a FundEvidenceBook, in recording order."""

    kind: EvidenceKind
    reviewed_on: int
    result: EvidenceResult
    next_review_due: int
    acknowledged: bool  # False: recorded and awaiting the other side (a disputed item is left out)


def aml_flag_on(items: Sequence[EvidenceItem], day: int) -> tuple[AmlStatus, int]:
    """(flag, as-of date) as of `day` (FundEvidenceBook.amlStatusOn): the latest acknowledged AML review
    dated <= day (ties: the later record) gives CLEARED → APPROVED (REVIEW_DUE after its next-review
    date), ESCALATED → IN_REVIEW, REJECTED → REJECTED; with none, IN_REVIEW while the latest recorded
    review dated <= day awaits acknowledgement, else NOT_STARTED."""
    best: EvidenceItem | None = None
    for item in items:
        if item.acknowledged and item.kind == EvidenceKind.AML and item.reviewed_on <= day \
                and (best is None or item.reviewed_on >= best.reviewed_on):
            best = item
    if best is not None:
        if best.result == EvidenceResult.REJECTED:
            return AmlStatus.REJECTED, best.reviewed_on
        if best.result == EvidenceResult.ESCALATED:
            return AmlStatus.IN_REVIEW, best.reviewed_on
        return (AmlStatus.REVIEW_DUE if day > best.next_review_due else AmlStatus.APPROVED), best.reviewed_on
    for item in reversed(items):
        if not item.acknowledged and item.kind == EvidenceKind.AML and item.reviewed_on <= day:
            return AmlStatus.IN_REVIEW, item.reviewed_on
    return AmlStatus.NOT_STARTED, 0
