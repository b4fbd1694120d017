"""Securities lending: loans, market data, statements and the agreement helper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from postrade import reference as ref
from postrade.clients.enums import (
    CollateralMoveKind,
    LoanState,
    RateKind,
    SblAdoptSide,
    SblBillingUnit,
    StatementState,
    Submitter,
)
from postrade.clients.infra import Infrastructure
from postrade.clients.instance import Instance
from postrade.clients.network import (
    ZERO_ADDRESS,
    ZERO_HASH,
    Party,
    PostTradeNetwork,
    Sent,
    b16,
    fixed,
    text_of,
    unique_keys,
)


@dataclass(frozen=True)
class LoanTerms:
    """An individual loan's terms (SblLoanBook.LoanTerms); 0 margin/ratio = the agreement default."""

    loan_id: str
    lender_fund_code: str
    isin: str
    start_date: int
    shares: int
    reference_price_e4: int
    fee_rate_e6: int
    rebate_rate_e6: int
    trade_date: int | None = None  # None: the start date
    collateral_type: ref.CollateralType = ref.CollateralType.CASH
    term_end_date: int = 0
    margin_e6: int = 0
    dividend_ratio_e6: int = 0

    def as_abi(self) -> tuple[Any, ...]:
        return (b16(self.loan_id), b16(self.lender_fund_code), fixed(self.isin, 12), int(self.collateral_type),
                self.start_date if self.trade_date is None else self.trade_date, self.start_date,
                self.term_end_date, self.shares, self.reference_price_e4, self.fee_rate_e6, self.rebate_rate_e6,
                self.margin_e6, self.dividend_ratio_e6)


@dataclass(frozen=True)
class Loan:
    loan_id: str
    lender_fund_code: str
    isin: str
    start_date: int
    shares: int
    fee_rate_e6: int
    rebate_rate_e6: int
    margin_e6: int
    dividend_ratio_e6: int
    state: LoanState
    proposer: str
    terms_hash: bytes
    initial_cash_yen: int


@dataclass(frozen=True)
class StatementFigures:
    fee_yen: int
    collateral_interest_yen: int
    dividend_equivalent_yen: int
    net_yen: int  # > 0: the borrower pays the lender

    @classmethod
    def of(cls, f: ref.PeriodFigures) -> StatementFigures:
        return cls(f.fee_yen, f.collateral_interest_yen, f.dividend_equivalent_yen, f.net_yen)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.fee_yen, self.collateral_interest_yen, self.dividend_equivalent_yen, self.net_yen)


@dataclass(frozen=True)
class PeriodView:
    """SblStatementBook.periodFigures: the figures the contract computes for (loan, period)."""

    figures: StatementFigures
    accrual_days: int
    breakdown_hash: bytes


@dataclass(frozen=True)
class Statement:
    loan_id: str
    period: int
    state: StatementState
    submitted_mask: int
    agreed: StatementFigures
    payment_date: int
    payer: str


@dataclass(frozen=True)
class StatementParams:
    """SblStatementBook.StatementParams. Tolerances per field (fee, collateral interest, dividend
    equivalent): a yen band by default; `tolerance_kinds` PERCENT / CAPPED_PERCENT use
    `tolerance_rates_e6` (fraction of the adopted figure, 1,000,000 = 100 %), capped by the band."""

    tol_fee_yen: int = 0
    tol_interest_yen: int = 0
    tol_dividend_yen: int = 0
    adopt_side: SblAdoptSide = SblAdoptSide.LENDER
    require_manager_statement: bool = False
    payment_day_of_next_month: int = 10
    tolerance_kinds: tuple[ref.SblToleranceKind, ref.SblToleranceKind, ref.SblToleranceKind] = (
        ref.SblToleranceKind.YEN, ref.SblToleranceKind.YEN, ref.SblToleranceKind.YEN)
    tolerance_rates_e6: tuple[int, int, int] = (0, 0, 0)
    billing_unit: SblBillingUnit = SblBillingUnit.LOAN_MONTH

    def as_abi(self) -> tuple[Any, ...]:
        return (self.tol_fee_yen, self.tol_interest_yen, self.tol_dividend_yen, int(self.adopt_side),
                self.require_manager_statement, self.payment_day_of_next_month,
                [int(k) for k in self.tolerance_kinds], list(self.tolerance_rates_e6), int(self.billing_unit))


#: Statement keys: the loan id of agreement-level statements and the period of whole-life ones.
AGREEMENT = ""
WHOLE_LIFE = 0


@dataclass(frozen=True)
class StatementSubmission:
    version: int  # 0: not submitted
    figures: StatementFigures
    breakdown_hash: bytes


@dataclass(frozen=True)
class SubmissionDiff:
    """One submitter's figures minus the adopted side's; `outside` names the fields outside tolerance."""

    fee_yen: int
    collateral_interest_yen: int
    dividend_equivalent_yen: int
    net_yen: int
    outside: tuple[str, ...]
    breakdown_differs: bool


@dataclass(frozen=True)
class StatementDiff:
    """SblStatementBook.statementDiff: every submission side by side with its differences."""

    base: Submitter
    required: tuple[Submitter, ...]
    submitted: tuple[Submitter, ...]
    submissions: dict[Submitter, StatementSubmission]
    diffs: dict[Submitter, SubmissionDiff]  # the non-base submitters that are in

    @property
    def fields_outside(self) -> dict[Submitter, tuple[str, ...]]:
        return {who: d.outside for who, d in self.diffs.items() if d.outside}


TOLERANCE_FIELDS = ("fee", "collateral_interest", "dividend_equivalent")


@dataclass(frozen=True)
class DayDifference:
    """The first day two per-day breakdowns differ, and which inputs differ (§3.6)."""

    date: int
    fields: tuple[str, ...]  # "missing" when only one side counts the day
    ours: ref.DayAccrual | None
    theirs: ref.DayAccrual | None


def first_differing_day(ours: Sequence[ref.DayAccrual], theirs: Sequence[ref.DayAccrual]) -> DayDifference | None:
    """The earliest date on which two breakdowns (e.g. the contract's `breakdown` and a party's own
    `reference.breakdown`) differ: the day that points to the cause of a MISMATCHED statement
    (an extra end day, a missed rate change, a different close, ...). None when they agree."""
    a = {d.date: d for d in ours}
    b = {d.date: d for d in theirs}
    for day in sorted(a.keys() | b.keys()):
        x, y = a.get(day), b.get(day)
        if x is None or y is None:
            return DayDifference(day, ("missing",), x, y)
        fields = tuple(f for f in ("shares", "price_e4", "cash_yen", "fee_rate_e6", "rebate_rate_e6")
                       if getattr(x, f) != getattr(y, f))
        if fields:
            return DayDifference(day, fields, x, y)
    return None


@dataclass(frozen=True)
class MarginStatus:
    """Required collateral against what is held (cash) or its haircut value (non-cash) on a business day."""

    collateral_type: ref.CollateralType
    required_yen: int
    held_yen: int  # cash held, or the non-cash positions' value
    call_yen: int
    excess_yen: int


@dataclass(frozen=True)
class CollateralPosition:
    isin: str
    quantity: int
    haircut_e6: int


@dataclass(frozen=True)
class CollateralMove:
    kind: CollateralMoveKind
    isin: str
    quantity: int
    haircut_e6: int
    settle_date: int


@dataclass(frozen=True)
class MarginCall:
    open: bool
    day: int
    settle_date: int
    amount_yen: int


def breakdown_hash(days: Sequence[ref.DayAccrual]) -> bytes:
    """The statement's breakdown hash, keccak256(abi.encode(DayAccrual[])), from the reference
    model's per-day inputs: a party computing off chain can submit the same hash."""
    return keccak(abi_encode(["(uint32,uint64,uint64,int256,int32,int32)[]"], [[d.as_tuple() for d in days]]))



# -- securities lending ---------------------------------------------------------------------------


class SblMarketData(Instance):
    CONTRACT = "SblMarketData"

    def post_prices(self, source: Party, isin: str, closes: Mapping[int, int]) -> Sent:
        days = sorted(closes)
        return self.send(source, "postPrices", fixed(isin, 12), days, [closes[d] for d in days])

    def post_dividend(self, party: Party, isin: str, record_date: int, payment_date: int, dps_e4: int) -> Sent:
        return self.send(party, "postDividend", fixed(isin, 12), record_date, payment_date, dps_e4)

    def close_for(self, reader: Party, isin: str, day: int, rule: ref.PriceRule = ref.PriceRule.SAME_DAY
                  ) -> tuple[int, int]:
        business_day, close = self.read(reader, "closeFor", fixed(isin, 12), day, int(rule))
        return int(business_day), int(close)


class SblLoanBook(Instance):
    CONTRACT = "SblLoanBook"

    def propose_loan(self, party: Party, terms: LoanTerms) -> Sent:
        return self.send(party, "proposeLoan", terms.as_abi())

    def confirm_terms(self, party: Party, loan_id: str, terms_hash: bytes) -> Sent:
        """The other party confirms the terms it read (by hash)."""
        return self.send(party, "confirmTerms", b16(loan_id), terms_hash)

    def report_delivery(self, lender: Party, loan_id: str) -> Sent:
        return self.send(lender, "reportDelivery", b16(loan_id))

    def recall(self, lender: Party, loan_id: str, shares: int, due_date: int) -> Sent:
        return self.send(lender, "recall", b16(loan_id), shares, due_date)

    def report_return(self, borrower: Party, loan_id: str, shares: int, day: int) -> Sent:
        return self.send(borrower, "reportReturn", b16(loan_id), shares, day)

    def acknowledge_return(self, lender: Party, loan_id: str, cash_after_yen: int) -> Sent:
        return self.send(lender, "acknowledgeReturn", b16(loan_id), cash_after_yen)

    def propose_rate_change(self, party: Party, loan_id: str, kind: RateKind, effective: int, rate_e6: int) -> Sent:
        return self.send(party, "proposeRateChange", b16(loan_id), int(kind), effective, rate_e6)

    def confirm_rate_change(self, party: Party, loan_id: str) -> Sent:
        return self.send(party, "confirmRateChange", b16(loan_id))

    def get_loan(self, reader: Party, loan_id: str) -> Loan:
        loan = self.read(reader, "getLoan", b16(loan_id))
        t = loan.terms
        return Loan(text_of(t.loanId), text_of(t.lenderFundCode), bytes(t.isin).decode(), t.startDate, t.shares,
                    t.feeRate_e6, t.rebateRate_e6, t.margin_e6, t.dividendRatio_e6, LoanState(loan.state),
                    loan.proposer, bytes(loan.termsHash), loan.initialCashYen)

    def position_on(self, reader: Party, loan_id: str, day: int) -> int:
        return int(self.read(reader, "positionOn", b16(loan_id), day))

    def cash_on(self, reader: Party, loan_id: str, day: int) -> int:
        return int(self.read(reader, "cashOn", b16(loan_id), day))


class SblStatementBook(Instance):
    CONTRACT = "SblStatementBook"

    def submit_statement(self, party: Party, loan_id: str, period: int, figures: StatementFigures,
                         breakdown: bytes = ZERO_HASH) -> Sent:
        """A submitter's own figures (net = fee − interest [+ dividends when netted])."""
        return self.send(party, "submitStatement", b16(loan_id), period, figures.as_tuple(), breakdown)

    def submit_computed_statement(self, party: Party, loan_id: str, period: int) -> Sent:
        """Submit the figures the contract computes (only results need matching)."""
        return self.send(party, "submitComputedStatement", b16(loan_id), period)

    def instruct_payment(self, payer: Party, loan_id: str, period: int, payment_date: int = 0) -> Sent:
        return self.send(payer, "instructPayment", b16(loan_id), period, payment_date)

    def confirm_payment(self, payee: Party, loan_id: str, period: int) -> Sent:
        return self.send(payee, "confirmPayment", b16(loan_id), period)

    def period_figures(self, reader: Party, loan_id: str, period: int) -> PeriodView:
        r = self.read(reader, "periodFigures", b16(loan_id), period)
        f = r.figures
        return PeriodView(StatementFigures(f.feeYen, f.collateralInterestYen, f.dividendEquivalentYen, f.netYen),
                          r.accrualDays, bytes(r.breakdownHash))

    def breakdown(self, reader: Party, loan_id: str, period: int) -> list[ref.DayAccrual]:
        return [ref.DayAccrual(d.date, d.shares, d.price_e4, d.cashYen, d.feeRate_e6, d.rebateRate_e6)
                for d in self.read(reader, "breakdown", b16(loan_id), period)]

    # -- agreement-level and whole-life statements (keys (AGREEMENT, month) and (loan, WHOLE_LIFE)) --

    def agreement_figures(self, reader: Party, period: int) -> PeriodView:
        """The agreement's month: Σ of the contributing loans' figures per fee type."""
        return self._view(self.read(reader, "agreementFigures", period))

    def agreement_loans(self, reader: Party, period: int) -> dict[str, PeriodView]:
        """The loans contributing to the agreement's month, with their own figures."""
        ids, per = self.read(reader, "agreementLoans", period)
        return {text_of(i): self._view(f) for i, f in zip(ids, per, strict=True)}

    def whole_life_figures(self, reader: Party, loan_id: str) -> PeriodView:
        """A closed loan's figures over its whole life (one division per fee type)."""
        return self._view(self.read(reader, "wholeLifeFigures", b16(loan_id)))

    def whole_life_breakdown(self, reader: Party, loan_id: str) -> list[ref.DayAccrual]:
        return [ref.DayAccrual(d.date, d.shares, d.price_e4, d.cashYen, d.feeRate_e6, d.rebateRate_e6)
                for d in self.read(reader, "wholeLifeBreakdown", b16(loan_id))]

    def closing_date(self, reader: Party, loan_id: str) -> int:
        return int(self.read(reader, "closingDate", b16(loan_id)))

    def submit_agreement_statement(self, party: Party, period: int, figures: StatementFigures,
                                   breakdown: bytes = ZERO_HASH) -> Sent:
        return self.submit_statement(party, AGREEMENT, period, figures, breakdown)

    def submit_computed_agreement_statement(self, party: Party, period: int) -> Sent:
        return self.submit_computed_statement(party, AGREEMENT, period)

    def submit_whole_life_statement(self, party: Party, loan_id: str, figures: StatementFigures,
                                    breakdown: bytes = ZERO_HASH) -> Sent:
        return self.submit_statement(party, loan_id, WHOLE_LIFE, figures, breakdown)

    def submit_computed_whole_life_statement(self, party: Party, loan_id: str) -> Sent:
        return self.submit_computed_statement(party, loan_id, WHOLE_LIFE)

    def get_agreement_statement(self, reader: Party, period: int) -> Statement:
        return self.get_statement(reader, AGREEMENT, period)

    def get_whole_life_statement(self, reader: Party, loan_id: str) -> Statement:
        return self.get_statement(reader, loan_id, WHOLE_LIFE)

    def statement_diff(self, reader: Party, loan_id: str, period: int) -> StatementDiff:
        """Each submitter's figures side by side with their differences from the adopted side,
        the fields outside tolerance and whether the breakdown hashes differ."""
        d = self.read(reader, "statementDiff", b16(loan_id), period)
        subs = {Submitter(i): StatementSubmission(s.version, self._figures(s.figures), bytes(s.breakdownHash))
                for i, s in enumerate(d.submissions)}
        base = Submitter(d.base)
        diffs = {}
        for i, fd in enumerate(d.diffs):
            who = Submitter(i)
            if who == base or subs[who].version == 0 or subs[base].version == 0:
                continue
            outside = tuple(name for bit, name in enumerate(TOLERANCE_FIELDS) if fd.outsideMask >> bit & 1)
            diffs[who] = SubmissionDiff(fd.feeYen, fd.collateralInterestYen, fd.dividendEquivalentYen, fd.netYen,
                                        outside, fd.breakdownDiffers)
        return StatementDiff(base, tuple(w for w in Submitter if d.requiredMask >> w & 1),
                             tuple(w for w in Submitter if d.submittedMask >> w & 1), subs, diffs)

    def statement_params(self, reader: Party) -> StatementParams:
        p = self.read(reader, "statementParams")
        return StatementParams(p.tolFeeYen, p.tolInterestYen, p.tolDividendYen, SblAdoptSide(p.adoptSide),
                               p.requireManagerStatement, p.paymentDayOfNextMonth,
                               tuple(ref.SblToleranceKind(k) for k in p.tolKind),  # type: ignore[arg-type]
                               tuple(int(r) for r in p.tolRate_e6),  # type: ignore[arg-type]
                               SblBillingUnit(p.billingUnit))

    @staticmethod
    def _figures(f: Any) -> StatementFigures:
        """By position: a multi-output view decodes its structs as plain tuples."""
        return StatementFigures(int(f[0]), int(f[1]), int(f[2]), int(f[3]))

    @classmethod
    def _view(cls, r: Any) -> PeriodView:
        return PeriodView(cls._figures(r[0]), int(r[1]), bytes(r[2]))

    def get_statement(self, reader: Party, loan_id: str, period: int) -> Statement:
        s = self.read(reader, "getStatement", b16(loan_id), period)
        a = s.agreed
        return Statement(loan_id, period, StatementState(s.state), s.submittedMask,
                         StatementFigures(a.feeYen, a.collateralInterestYen, a.dividendEquivalentYen, a.netYen),
                         s.paymentDate, s.payer)

    def default_payment_date(self, reader: Party, period: int) -> int:
        return int(self.read(reader, "defaultPaymentDate", period))


class SblCollateralBook(Instance):
    """Non-cash collateral of NON_CASH loans: positions valued at the margin price rule's close
    less haircut; lender calls, borrower posts, borrower asks back, lender returns."""

    CONTRACT = "SblCollateralBook"

    def call_margin(self, lender: Party, loan_id: str, day: int, settle_date: int) -> Sent:
        return self.send(lender, "callMargin", b16(loan_id), day, settle_date)

    def post_collateral(self, borrower: Party, loan_id: str, isin: str, quantity: int, haircut_e6: int,
                        settle_date: int) -> Sent:
        return self.send(borrower, "postCollateral", b16(loan_id), fixed(isin, 12), quantity, haircut_e6,
                         settle_date)

    def confirm_post(self, lender: Party, loan_id: str) -> Sent:
        return self.send(lender, "confirmPost", b16(loan_id))

    def request_return(self, borrower: Party, loan_id: str, isin: str, quantity: int, day: int,
                       settle_date: int) -> Sent:
        return self.send(borrower, "requestReturn", b16(loan_id), fixed(isin, 12), quantity, day, settle_date)

    def confirm_return(self, lender: Party, loan_id: str) -> Sent:
        return self.send(lender, "confirmReturn", b16(loan_id))

    def margin_status(self, reader: Party, loan_id: str, day: int) -> MarginStatus:
        required, value, call, excess = self.read(reader, "marginStatus", b16(loan_id), day)
        return MarginStatus(ref.CollateralType.NON_CASH, int(required), int(value), int(call), int(excess))

    def collateral_value(self, reader: Party, loan_id: str, day: int) -> int:
        return int(self.read(reader, "collateralValue", b16(loan_id), day))

    def positions(self, reader: Party, loan_id: str) -> list[CollateralPosition]:
        return [CollateralPosition(bytes(p.isin).decode(), p.quantity, p.haircut_e6)
                for p in self.read(reader, "positions", b16(loan_id))]

    def pending_move(self, reader: Party, loan_id: str) -> CollateralMove:
        m = self.read(reader, "pendingMove", b16(loan_id))
        return CollateralMove(CollateralMoveKind(m.kind), text_of(m.isin), m.quantity, m.haircut_e6, m.settleDate)

    def margin_call(self, reader: Party, loan_id: str) -> MarginCall:
        c = self.read(reader, "marginCall", b16(loan_id))
        return MarginCall(c.open, c.day, c.settleDate, c.amountYen)


@dataclass
class SblAgreement:
    """One lending agreement: market data, loan book and statement book, private to the lender
    side (lender, optionally its manager) and the borrower (recipe step 6)."""

    lender: Party
    borrower: Party
    lender_manager: Party | None
    market: SblMarketData
    loans: SblLoanBook
    statements: SblStatementBook
    collateral: SblCollateralBook

    @property
    def parties(self) -> tuple[Party, ...]:
        assert self.loans.parties is not None
        return self.loans.parties

    @classmethod
    def deploy(cls, net: PostTradeNetwork, infra: Infrastructure, lender: Party, borrower: Party,
               lender_manager: Party | None = None, params: ref.SblParams | None = None,
               statement_params: StatementParams | None = None, price_source: Party | None = None) -> SblAgreement:
        """All four deployed by the lender, privateFor {lender, lender's manager, borrower}."""
        parties = [lender, *([lender_manager] if lender_manager else []), borrower]
        if price_source is not None and price_source.ptm_public_key not in unique_keys(parties):
            raise ValueError("the price source must be an account of one of the agreement's parties")
        market = SblMarketData._deploy(net, lender, [lender.address, price_source.address if price_source
                                                     else ZERO_ADDRESS, infra.calendar.address], parties)
        loans = SblLoanBook._deploy(net, lender, [lender.address, lender_manager.address if lender_manager
                                                  else ZERO_ADDRESS, borrower.address, market.address,
                                                  (params or ref.SblParams()).as_abi()], parties)
        statements = SblStatementBook._deploy(net, lender, [loans.address,
                                                            (statement_params or StatementParams()).as_abi()],
                                              parties)
        collateral = SblCollateralBook._deploy(net, lender, [loans.address], parties)
        return cls(lender, borrower, lender_manager, market, loans, statements, collateral)

    def open_loan(self, proposer: Party, terms: LoanTerms) -> list[Sent]:
        """proposeLoan by one side, confirmTerms (by hash) by the other, reportDelivery by the lender."""
        other = self.lender if proposer.address != self.lender.address else self.borrower
        sent = [self.loans.propose_loan(proposer, terms)]
        terms_hash = self.loans.get_loan(other, terms.loan_id).terms_hash
        sent.append(self.loans.confirm_terms(other, terms.loan_id, terms_hash))
        sent.append(self.loans.report_delivery(self.lender, terms.loan_id))
        return sent

    # -- margin and collateral moves, cash or non-cash by the loan's collateral type ----------------

    def _non_cash(self, reader: Party, loan_id: str) -> bool:
        raw = self.loans.read(reader, "getLoan", b16(loan_id))
        return ref.CollateralType(raw.terms.collateralType) == ref.CollateralType.NON_CASH

    def margin_status(self, reader: Party, loan_id: str, day: int) -> MarginStatus:
        """Required collateral (previous business day's close by default) against the cash held or
        the non-cash positions' haircut value, with the call or the excess."""
        if self._non_cash(reader, loan_id):
            return self.collateral.margin_status(reader, loan_id, day)
        required, held, call, excess = self.loans.read(reader, "marginStatus", b16(loan_id), day)
        return MarginStatus(ref.CollateralType.CASH, int(required), int(held), int(call), int(excess))

    def call_margin(self, lender: Party, loan_id: str, day: int, settle_date: int) -> Sent:
        """The lender calls the shortfall of `day` (refused without one)."""
        if self._non_cash(lender, loan_id):
            return self.collateral.call_margin(lender, loan_id, day, settle_date)
        return self.loans.send(lender, "issueMarginCall", b16(loan_id), day, settle_date)

    def post_collateral(self, borrower: Party, loan_id: str, settle_date: int = 0, *, isin: str = "",
                        quantity: int = 0, haircut_e6: int = 0) -> Sent:
        """The borrower posts: cash — pays the lender's open call (confirmCollateralMove);
        non-cash — delivers `quantity` of `isin` at `haircut_e6`, for the lender to confirm."""
        if self._non_cash(borrower, loan_id):
            return self.collateral.post_collateral(borrower, loan_id, isin, quantity, haircut_e6, settle_date)
        return self.loans.send(borrower, "confirmCollateralMove", b16(loan_id))

    def confirm_collateral_received(self, lender: Party, loan_id: str) -> Sent:
        """The lender confirms receipt of posted non-cash collateral (a met call closes)."""
        return self.collateral.confirm_post(lender, loan_id)

    def request_collateral_return(self, borrower: Party, loan_id: str, day: int, settle_date: int, *,
                                  isin: str = "", quantity: int = 0) -> Sent:
        """The borrower asks for the excess of `day` back (cash: all of it; non-cash: `quantity` of
        `isin`, refused when what stays would not cover the requirement)."""
        if self._non_cash(borrower, loan_id):
            return self.collateral.request_return(borrower, loan_id, isin, quantity, day, settle_date)
        return self.loans.send(borrower, "requestCollateralReturn", b16(loan_id), day, settle_date)

    def return_collateral(self, lender: Party, loan_id: str) -> Sent:
        """The lender returns what the borrower asked back."""
        if self._non_cash(lender, loan_id):
            return self.collateral.confirm_return(lender, loan_id)
        return self.loans.send(lender, "confirmCollateralMove", b16(loan_id))
