"""SBL beyond a loan-month on the 6-node network (issue 17): an agreement-level monthly statement
over two loans, the diff view of a mismatch, a percentage tolerance, non-cash collateral valued
and a margin call computed, called and met — through the typed clients.

An agreement of its own (fresh ids): lender TB1 (node3), borrower broker A (node1), manager M
(node2); the regulator (node6) is a mandatory recipient; broker B (node4) and TB2 (node5) are
outsiders. Each record is checked visible to the parties and the regulator and hidden from the
outsiders (tests/helpers/privacy.py), and each wrong party's step refused with the contract's
reason and no party's state moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from postrade import reference as ref
from postrade.clients import (
    AGREEMENT,
    LoanTerms,
    Party,
    SblAgreement,
    SblBillingUnit,
    StatementFigures,
    StatementParams,
    StatementState,
    Submitter,
    b16,
    breakdown_hash,
    first_differing_day,
)
from postrade.scenario import CALENDAR, ISIN, LOAN_START, PERIOD, SBL_PARAMS
from tests.e2e.test_postrade import NOT_FOUND, parties_of, private_tx, refused, view_call
from tests.helpers.postrade_world import World
from tests.helpers.privacy import assert_hidden_from, assert_visible_to

pytestmark = pytest.mark.e2e

BOND = "JP110000000" + str(ref.isin_check_digit("JP110000000"))  # the collateral's ISIN
PRICE = 25_000_000
L2_START = ref.to_day("2025-04-14")
MARGIN_DAY = ref.to_day("2025-04-09")
# Fee: 0.1 % of the lender's figure; interest and dividends: the default 0-yen band.
STATEMENT_PARAMS = StatementParams(require_manager_statement=True, billing_unit=SblBillingUnit.AGREEMENT_MONTH,
                                   tolerance_kinds=(ref.SblToleranceKind.PERCENT, ref.SblToleranceKind.YEN,
                                                    ref.SblToleranceKind.YEN),
                                   tolerance_rates_e6=(1_000, 0, 0))


@dataclass
class Lending:
    w: World
    agreement: SblAgreement
    ids: dict[str, str]  # L1, L2 (cash), L3 (non-cash) -> loan id
    closes: dict[int, int]
    bond_closes: dict[int, int]

    @property
    def parties(self) -> list[Party]:
        c = self.w.cast
        return [c.trust_bank, c.manager, c.broker_a]

    @property
    def readers(self) -> list[Party]:
        """The parties and the regulator: every node that must hold the agreement."""
        assert self.w.cast.regulator is not None
        return [*self.parties, self.w.cast.regulator]

    @property
    def outsiders(self) -> list[Party]:
        c = self.w.cast
        assert c.trust_bank_2 is not None
        return [c.broker_b, c.trust_bank_2]

    def model(self, key: str) -> ref.LoanModel:
        if key == "L3":  # non-cash: no cash series, no rebate
            return ref.LoanModel(ISIN, LOAN_START, ref.CollateralType.NON_CASH, [(LOAN_START, 10_000)], [],
                                 [(LOAN_START, 6_000)], [(LOAN_START, 0)])
        start, shares = (LOAN_START, 100_000) if key == "L1" else (L2_START, 40_000)
        cash = ref.required_collateral(shares, PRICE, SBL_PARAMS.default_margin_e6)
        return ref.LoanModel(ISIN, start, ref.CollateralType.CASH, [(start, shares)], [(start, cash)],
                             [(start, 5_000 if key == "L1" else 7_300)], [(start, 1_000)])

    def check_privacy(self, instance: Any, sents: list[Any], call: tuple[bytes, bytes], secrets: list[bytes]) -> None:
        holders = parties_of(self.w, instance)
        assert sorted(n.name for n in holders) == ["node1", "node2", "node3", "node6"]
        others = [n for n in self.w.e2e.nodes if n not in holders]
        assert {n.name for n in others} == {"node4", "node5"}
        for sent in sents:
            tx = private_tx(instance, sent, call, secrets)
            assert_visible_to(self.w.e2e, tx, holders)
            assert_hidden_from(self.w.e2e, tx, others)
        for outsider in self.outsiders:
            assert not instance.visible_to(outsider)


@pytest.fixture(scope="module")
def lending(postrade_world: World) -> Iterator[Lending]:
    w = postrade_world
    c, tag = w.cast, w.fresh_tag()
    agreement = SblAgreement.deploy(w.net, w.s.infra, c.trust_bank, c.broker_a, c.manager, SBL_PARAMS,
                                    STATEMENT_PARAMS)
    closes = dict(w.s.closes)  # April 2025
    bond = {d: 1_000_000 + (d % 7) * 1_000 for d in closes}
    agreement.market.post_prices(c.trust_bank, ISIN, closes)
    agreement.market.post_prices(c.trust_bank, BOND, bond)
    ids = {k: f"{k}-{tag}" for k in ("L1", "L2", "L3")}
    fund = w.s.funds["A"]
    agreement.open_loan(c.broker_a, LoanTerms(ids["L1"], fund, ISIN, LOAN_START, 100_000, PRICE, 5_000, 1_000))
    agreement.open_loan(c.broker_a, LoanTerms(ids["L2"], fund, ISIN, L2_START, 40_000, PRICE, 7_300, 1_000))
    agreement.open_loan(c.broker_a, LoanTerms(ids["L3"], fund, ISIN, LOAN_START, 10_000, PRICE, 6_000, 0,
                                              collateral_type=ref.CollateralType.NON_CASH))
    yield Lending(w, agreement, ids, closes, bond)


def test_agreement_month_over_two_loans_matched_by_all_submitters(lending: Lending) -> None:
    w, a, c = lending.w, lending.agreement, lending.w.cast
    st = a.statements
    models = [lending.model(k) for k in ("L1", "L2", "L3")]  # every loan of the agreement runs in April
    want = StatementFigures.of(ref.agreement_figures(models, PERIOD, SBL_PARAMS, lending.closes, CALENDAR))
    assert want.net_yen > 0  # the borrower pays
    for p in lending.readers:
        view = st.agreement_figures(p, PERIOD)
        assert (view.figures, view.accrual_days) == (want, 24 + 17 + 24)  # loan-days
        assert list(st.agreement_loans(p, PERIOD)) == [lending.ids[k] for k in ("L1", "L2", "L3")]
    hashes = [breakdown_hash(ref.breakdown(m, PERIOD, SBL_PARAMS, lending.closes, CALENDAR)) for m in models]
    assert [v.breakdown_hash for v in st.agreement_loans(c.broker_a, PERIOD).values()] == hashes

    def statement(p: Party) -> Any:
        return st.get_agreement_statement(p, PERIOD)

    sents = [st.submit_computed_agreement_statement(c.trust_bank, PERIOD),
             st.submit_computed_agreement_statement(c.manager, PERIOD)]
    for outsider in lending.outsiders:  # not a party: its node holds no statement book
        refused(w, lambda o=outsider: st.submit_agreement_statement(o, PERIOD, want), NOT_FOUND, outsider,
                statement, lending.parties)
    assert {statement(p).state for p in lending.readers} == {StatementState.LENDER_SUBMITTED}
    sents.append(st.submit_agreement_statement(c.broker_a, PERIOD, want))
    assert {(statement(p).state, statement(p).agreed) for p in lending.readers} == {(StatementState.MATCHED, want)}
    for wrong in (c.trust_bank, c.manager):
        refused(w, lambda x=wrong: st.instruct_payment(x, AGREEMENT, PERIOD),
                "instructPayment: only the payer of the net amount", wrong, statement, lending.parties)
    sents.append(st.instruct_payment(c.broker_a, AGREEMENT, PERIOD))
    paid_on = st.default_payment_date(c.broker_a, PERIOD)
    expected = (int(StatementState.PAYMENT_INSTRUCTED), 0b111, want.as_tuple(), paid_on, c.broker_a.address)
    lending.check_privacy(st, sents, view_call(st, "getStatement", [b16(AGREEMENT), PERIOD], [expected]), [])


def test_diff_view_on_a_mismatch_then_a_percentage_tolerance(lending: Lending) -> None:
    w, a, c = lending.w, lending.agreement, lending.w.cast
    st, loan = a.statements, lending.ids["L1"]
    lender = StatementFigures.of(ref.period_figures(lending.model("L1"), PERIOD, SBL_PARAMS, lending.closes,
                                                    CALENDAR))
    band = lender.fee_yen // 1000  # 0.1 % of the lender's fee

    def off(yen: int) -> StatementFigures:
        return replace(lender, fee_yen=lender.fee_yen + yen, net_yen=lender.net_yen + yen)

    # The borrower's system applies a rate change from 16 April the loan book never got: its fee is off
    # by more than 0.1 %.
    theirs = replace(lending.model("L1"), fee_rates=[(LOAN_START, 5_000), (ref.to_day("2025-04-16"), 6_000)])
    borrower = StatementFigures.of(ref.period_figures(theirs, PERIOD, SBL_PARAMS, lending.closes, CALENDAR))
    their_days = ref.breakdown(theirs, PERIOD, SBL_PARAMS, lending.closes, CALENDAR)
    assert borrower.fee_yen - lender.fee_yen > band
    sents = [st.submit_computed_statement(c.trust_bank, loan, PERIOD),
             st.submit_statement(c.manager, loan, PERIOD, off(band), breakdown_hash(their_days[:1])),
             st.submit_statement(c.broker_a, loan, PERIOD, borrower, breakdown_hash(their_days))]
    diffs = {p.node: st.statement_diff(p, loan, PERIOD) for p in lending.readers}
    assert len({repr(d) for d in diffs.values()}) == 1  # every party and the regulator read the same
    d = diffs[c.broker_a.node]
    assert st.get_statement(c.broker_a, loan, PERIOD).state == StatementState.MISMATCHED
    assert d.base == Submitter.LENDER and d.submissions[Submitter.LENDER].figures == lender
    assert d.submissions[Submitter.BORROWER].figures == borrower
    assert (d.diffs[Submitter.MANAGER].fee_yen, d.diffs[Submitter.MANAGER].outside) == (band, ())
    assert (d.diffs[Submitter.BORROWER].fee_yen, d.diffs[Submitter.BORROWER].outside) == (
        borrower.fee_yen - lender.fee_yen, ("fee",))
    assert d.diffs[Submitter.BORROWER].breakdown_differs and d.fields_outside == {Submitter.BORROWER: ("fee",)}
    # The exchanged breakdowns: the first differing day names the missed rate change.
    first = first_differing_day(st.breakdown(c.broker_a, loan, PERIOD), their_days)
    assert first is not None and (ref.to_iso(first.date), first.fields) == ("2025-04-16", ("fee_rate_e6",))

    def statement(p: Party) -> Any:
        return st.get_statement(p, loan, PERIOD)

    refused(w, lambda: st.submit_statement(lending.outsiders[0], loan, PERIOD, lender), NOT_FOUND,
            lending.outsiders[0], statement, lending.parties)
    # The borrower corrects to within 0.1 %: matched with tolerance, the lender's figures adopted.
    sents.append(st.submit_statement(c.broker_a, loan, PERIOD, off(-band)))
    assert {(statement(p).state, statement(p).agreed) for p in lending.readers} == {
        (StatementState.MATCHED_WITH_TOLERANCE, lender)}
    # The agreement bills per agreement-month: this loan-month statement reconciles only.
    refused(w, lambda: st.instruct_payment(c.broker_a, loan, PERIOD), "instructPayment: not the agreed billing unit",
            c.broker_a, statement, lending.parties)
    expected = (int(StatementState.MATCHED_WITH_TOLERANCE), 0b111, lender.as_tuple(), 0, "0x" + "00" * 20)
    lending.check_privacy(st, sents, view_call(st, "getStatement", [b16(loan), PERIOD], [expected]), [b16(loan)])


def test_non_cash_collateral_valued_and_a_margin_call_met(lending: Lending) -> None:
    w, a, c = lending.w, lending.agreement, lending.w.cast
    loan, day = lending.ids["L3"], MARGIN_DAY
    prev = CALENDAR.previous_business_day(day)
    required, value, call, excess = ref.non_cash_margin(10_000, lending.closes[prev], SBL_PARAMS.default_margin_e6,
                                                        [])
    for p in lending.readers:
        m = a.margin_status(p, loan, day)
        assert (m.collateral_type, m.required_yen, m.held_yen, m.call_yen) == (ref.CollateralType.NON_CASH, required,
                                                                               0, required)

    def margin(p: Party) -> Any:
        return (a.collateral.margin_call(p, loan), a.collateral.positions(p, loan), a.collateral.pending_move(p, loan))

    refused(w, lambda: a.call_margin(c.broker_a, loan, day, day + 1), "callMargin: only lender", c.broker_a, margin,
            lending.parties)
    sents = [a.call_margin(c.trust_bank, loan, day, day + 1)]
    assert {a.collateral.margin_call(p, loan).amount_yen for p in lending.readers} == {call}
    haircut = 20_000  # 2 %
    qty = -(-call * 10**10 // (lending.bond_closes[prev] * (10**6 - haircut))) + 10  # a little more than enough
    sents.append(a.post_collateral(c.broker_a, loan, day + 1, isin=BOND, quantity=qty, haircut_e6=haircut))
    refused(w, lambda: a.confirm_collateral_received(c.broker_a, loan), "confirmPost: only lender", c.broker_a,
            margin, lending.parties)
    refused(w, lambda: a.collateral.confirm_post(c.manager, loan), "confirmPost: only lender", c.manager, margin,
            lending.parties)
    for outsider in lending.outsiders:
        refused(w, lambda o=outsider: a.collateral.confirm_post(o, loan), NOT_FOUND, outsider, margin,
                lending.parties)
    sents.append(a.confirm_collateral_received(c.trust_bank, loan))
    want = ref.non_cash_margin(10_000, lending.closes[prev], SBL_PARAMS.default_margin_e6,
                               [(qty, lending.bond_closes[prev], haircut)])
    for p in lending.readers:
        m = a.margin_status(p, loan, day)
        assert (m.required_yen, m.held_yen, m.call_yen, m.excess_yen) == want and m.call_yen == 0
        assert not a.collateral.margin_call(p, loan).open
    # The excess cannot come back beyond what the requirement leaves.
    refused(w, lambda: a.request_collateral_return(c.broker_a, loan, day, day, isin=BOND, quantity=qty),
            "requestReturn: would leave a shortfall", c.broker_a, margin, lending.parties)
    call_view = view_call(a.collateral, "marginCall", [b16(loan)], [(False, day, day + 1, call)])
    lending.check_privacy(a.collateral, sents, call_view, [b16(loan)])
