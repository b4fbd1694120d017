"""Securities lending: loans, market data, statements and the agreement helper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from postrade import reference as ref
from postrade.clients.enums import LoanState, RateKind, SblAdoptSide, StatementState
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
    tol_fee_yen: int = 0
    tol_interest_yen: int = 0
    tol_dividend_yen: int = 0
    adopt_side: SblAdoptSide = SblAdoptSide.LENDER
    require_manager_statement: bool = False
    payment_day_of_next_month: int = 10

    def as_abi(self) -> tuple[Any, ...]:
        return (self.tol_fee_yen, self.tol_interest_yen, self.tol_dividend_yen, int(self.adopt_side),
                self.require_manager_statement, self.payment_day_of_next_month)


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

    def get_statement(self, reader: Party, loan_id: str, period: int) -> Statement:
        s = self.read(reader, "getStatement", b16(loan_id), period)
        a = s.agreed
        return Statement(loan_id, period, StatementState(s.state), s.submittedMask,
                         StatementFigures(a.feeYen, a.collateralInterestYen, a.dividendEquivalentYen, a.netYen),
                         s.paymentDate, s.payer)

    def default_payment_date(self, reader: Party, period: int) -> int:
        return int(self.read(reader, "defaultPaymentDate", period))


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

    @property
    def parties(self) -> tuple[Party, ...]:
        assert self.loans.parties is not None
        return self.loans.parties

    @classmethod
    def deploy(cls, net: PostTradeNetwork, infra: Infrastructure, lender: Party, borrower: Party,
               lender_manager: Party | None = None, params: ref.SblParams | None = None,
               statement_params: StatementParams | None = None, price_source: Party | None = None) -> SblAgreement:
        """All three deployed by the lender, privateFor {lender, lender's manager, borrower}."""
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
        return cls(lender, borrower, lender_manager, market, loans, statements)

    def open_loan(self, proposer: Party, terms: LoanTerms) -> list[Sent]:
        """proposeLoan by one side, confirmTerms (by hash) by the other, reportDelivery by the lender."""
        other = self.lender if proposer.address != self.lender.address else self.borrower
        sent = [self.loans.propose_loan(proposer, terms)]
        terms_hash = self.loans.get_loan(other, terms.loan_id).terms_hash
        sent.append(self.loans.confirm_terms(other, terms.loan_id, terms_hash))
        sent.append(self.loans.report_delivery(self.lender, terms.loan_id))
        return sent
