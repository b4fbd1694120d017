"""Amendments that supersede (DOMAIN.md §2.4, §2.7, TC-13/14) and percentage tolerances (§2.6, §5).

An amendment is two private contracts' business: the broker first sends `supersedeBlockVersion`
to every allocation book of the block (broker, investor, that fund's trustee), then
`amendExecution` to the block book (broker, investor), which refuses while an allocation of the
old version is still open. Nothing of the old version moves afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postrade import reference as ref
from tests.unit.postrade.conftest import (
    EvmHarness,
    Infra,
    TradeWorld,
    accept_block,
    alloc_state,
    allocate_block,
    b16,
    block_state,
    deploy_trade_world,
    fills_abi,
    notice,
    post_block,
    revert_reason,
    submit,
)

PRICE = 28515000
AMENDED_PRICE = 28520000
ORDERS = {"FUND-A": 2000, "FUND-B": 1000}  # FUND-A in trustee1's book, FUND-B in trustee2's
STALE = "allocation superseded by a newer block version"
Tolerance = ref.TradeToleranceKind


def figures_view(w: TradeWorld, block_id: str) -> dict[str, ref.Figures]:
    codes, figs = w.block_book.call("fundFigures", b16(block_id))
    return {c.rstrip(b"\0").decode(): ref.Figures(*f.values()) for c, f in zip(codes, figs, strict=True)}


def amended_notice(block_id: str = "B1") -> tuple[Any, Any]:
    return notice(block_id, "JP3633400001", 0, "2025-03-18"), fills_abi([{"quantity": 3000, "price_e4": AMENDED_PRICE}])


def snapshot(w: TradeWorld, run: Any) -> tuple[Any, ...]:
    """Everything a refused step must leave as it was: block, allocations, confirmations, matches."""
    out: list[Any] = [tuple(w.block_book.call("getBlock", b16(run.block_id)).values())]
    for fund, book in run.books.items():
        aid = run.alloc_ids[fund]
        out += [tuple(book.call("getAllocation", aid).values()), book.call("matchOf", aid),
                tuple(book.call("confirmationOf", aid, True).values()),
                tuple(book.call("confirmationOf", aid, False).values()),
                book.call("blockVersion", b16(run.block_id))]
    return tuple(repr(x) for x in out)


def refused(w: TradeWorld, run: Any, attempt: Callable[[], Any], reason: str) -> None:
    before = snapshot(w, run)
    assert revert_reason(attempt) == reason
    assert snapshot(w, run) == before


def supersede_all(w: TradeWorld, version: int, block_id: str = "B1") -> list[Any]:
    return [book.transact("supersedeBlockVersion", b16(block_id), version, sender="broker_a")
            for book in w.alloc_books.values()]


def matched_and_open(w: TradeWorld) -> tuple[Any, dict[str, ref.Figures]]:
    """v1 allocated: FUND-A MATCHED (both sides in), FUND-B ALLOCATED (investor's side only)."""
    post_block(w, "B1", [{"quantity": 3000, "price_e4": PRICE}])
    accept_block(w, "B1")
    run = allocate_block(w, "B1", ORDERS)
    figs = figures_view(w, "B1")
    submit(run, "FUND-A", figs["FUND-A"], "investor")
    submit(run, "FUND-A", figs["FUND-A"], "broker_a")
    submit(run, "FUND-B", figs["FUND-B"], "investor")
    assert (alloc_state(run, "FUND-A"), alloc_state(run, "FUND-B")) == ("MATCHED", "ALLOCATED")
    return run, figs


# ---- amendments ------------------------------------------------------------------------------------


def test_amendment_supersedes_every_old_allocation_and_voids_its_confirmations(tw: TradeWorld) -> None:
    """TC-14: both books mark v1 SUPERSEDED, void the confirmations and agree nothing any more."""
    run, figs = matched_and_open(tw)
    receipts = supersede_all(tw, 2)
    assert [r.named("BlockVersionSuperseded")[0].allocationsSuperseded for r in receipts] == [1, 1]
    for fund in ORDERS:
        book, aid = run.books[fund], run.alloc_ids[fund]
        assert alloc_state(run, fund) == "SUPERSEDED"
        assert book.call("blockVersion", b16("B1")) == 2
        broker_conf, investor_conf = (book.call("confirmationOf", aid, side) for side in (True, False))
        assert investor_conf.voided and investor_conf.version == 1  # kept for the audit trail, void
        assert broker_conf.voided
        assert ref.Figures(*book.call("matchOf", aid)[2].values()) == ref.ZERO_FIGURES  # nothing agreed
    assert ref.Figures(*run.books["FUND-A"].call("confirmationOf", run.alloc_ids["FUND-A"], True).figures.values()) \
        == figs["FUND-A"]
    r = tw.block_book.transact("amendExecution", *amended_notice(), sender="broker_a")
    assert r.named("ExecutionNoticePosted")[0].version == 2
    assert block_state(tw, "B1") == "NOE_POSTED"
    accept_block(tw, "B1")
    run2 = allocate_block(tw, "B1", ORDERS)
    assert {alloc_state(run2, f) for f in ORDERS} == {"ALLOCATED"}
    assert {alloc_state(run, f) for f in ORDERS} == {"SUPERSEDED"}  # v1 stays superseded
    figs2 = figures_view(tw, "B1")
    assert figs2["FUND-A"].principal_yen == 2000 * AMENDED_PRICE // 10_000  # the new price
    for fund in ORDERS:
        submit(run2, fund, figs2[fund], "investor")
        submit(run2, fund, figs2[fund], "broker_a")
        run2.books[fund].transact("affirm", run2.alloc_ids[fund], sender="investor")
    tw.block_book.transact("refreshStatus", b16("B1"), sender="broker_a")
    assert block_state(tw, "B1") == "CONFIRMED"


def test_nothing_of_the_old_version_moves_after_the_supersede(evm: EvmHarness, infra: Infra) -> None:
    """A stale MATCHED allocation can be neither affirmed, approved, acknowledged, confirmed nor
    instructed: each step is refused with its reason and no state moves."""
    w = deploy_trade_world(evm, trustee_approval_required=True, infra=infra)
    run, figs = matched_and_open(w)
    supersede_all(w, 2)
    a, b = run.alloc_ids["FUND-A"], run.alloc_ids["FUND-B"]
    book_a, book_b = run.books["FUND-A"], run.books["FUND-B"]
    attempts: list[tuple[Callable[[], Any], str]] = [
        (lambda: book_a.transact("affirm", a, sender="investor"), f"affirm: {STALE}"),
        (lambda: book_a.transact("trusteeApprove", a, sender="trustee1"), f"trusteeApprove: {STALE}"),
        (lambda: book_a.transact("acknowledge", a, sender="trustee1"), f"acknowledge: {STALE}"),
        (lambda: book_a.transact("instructSettlement", a, sender="trustee1"), f"instructSettlement: {STALE}"),
        (lambda: book_a.transact("reportSettled", a, sender="trustee1"), f"reportSettled: {STALE}"),
        (lambda: submit(run, "FUND-A", figs["FUND-A"], "broker_a"), f"submitConfirmation: {STALE}"),
        (lambda: submit(run, "FUND-B", figs["FUND-B"], "broker_a"), f"submitConfirmation: {STALE}"),
        (lambda: book_b.transact("acknowledge", b, sender="trustee2"), f"acknowledge: {STALE}"),
        (lambda: book_b.transact("voidAllocation", b, False, sender="investor"), f"voidAllocation: {STALE}"),
        (lambda: book_b.transact("postAllocation", run.alloc_inputs["FUND-B"], sender="investor"),
         "postAllocation: stale or duplicate block version"),
    ]
    for attempt, reason in attempts:
        refused(w, run, attempt, reason)
    # a fund not yet allocated cannot be posted at the superseded version either
    stale_new_fund = (b16("B1"), 1, b16("FUND-D"), *run.alloc_inputs["FUND-A"][3:])
    refused(w, run, lambda: book_a.transact("postAllocation", stale_new_fund, sender="investor"),
            "postAllocation: block version superseded")


def test_amend_needs_the_books_superseded_first(tw: TradeWorld) -> None:
    """The block book reads the allocation books: no amendment while an old allocation is open."""
    run, _ = matched_and_open(tw)
    refused(tw, run, lambda: tw.block_book.transact("amendExecution", *amended_notice(), sender="broker_a"),
            "amendExecution: an allocation of this version is open, supersede it first")
    # superseding one book is not enough: FUND-B (the other trustee's book) is still open
    run.books["FUND-A"].transact("supersedeBlockVersion", b16("B1"), 2, sender="broker_a")
    refused(tw, run, lambda: tw.block_book.transact("amendExecution", *amended_notice(), sender="broker_a"),
            "amendExecution: an allocation of this version is open, supersede it first")


@pytest.mark.parametrize("stage", ["MATCH_AGREED", "CANCEL_REQUESTED", "SETTLEMENT_INSTRUCTED"])
def test_no_supersede_or_amendment_once_an_allocation_is_match_agreed(tw: TradeWorld, stage: str) -> None:
    """TC-13: refused in the book and in the block book; nothing moves, not even the other fund's
    still-open allocation in the other trustee's book (when the agreed one's book is tried first)."""
    run, _ = matched_and_open(tw)
    book, aid = run.books["FUND-A"], run.alloc_ids["FUND-A"]
    book.transact("affirm", aid, sender="investor")
    if stage == "CANCEL_REQUESTED":
        book.transact("requestCancel", aid, sender="investor")
    if stage == "SETTLEMENT_INSTRUCTED":
        book.transact("instructSettlement", aid, sender="trustee1")
    assert alloc_state(run, "FUND-A") == stage
    refused(tw, run, lambda: book.transact("supersedeBlockVersion", b16("B1"), 2, sender="broker_a"),
            "supersedeBlockVersion: an allocation is MATCH_AGREED, cancel bilaterally and re-book")
    refused(tw, run, lambda: tw.block_book.transact("amendExecution", *amended_notice(), sender="broker_a"),
            "amendExecution: an allocation is MATCH_AGREED, cancel instead")


def test_after_a_bilateral_cancel_the_block_can_be_amended(tw: TradeWorld) -> None:
    """A CANCELLED allocation stays CANCELLED; the open one is superseded."""
    run, _ = matched_and_open(tw)
    book, aid = run.books["FUND-A"], run.alloc_ids["FUND-A"]
    book.transact("affirm", aid, sender="investor")
    book.transact("requestCancel", aid, sender="broker_a")
    book.transact("agreeCancel", aid, sender="investor")
    supersede_all(tw, 2)
    tw.block_book.transact("amendExecution", *amended_notice(), sender="broker_a")
    assert (alloc_state(run, "FUND-A"), alloc_state(run, "FUND-B")) == ("CANCELLED", "SUPERSEDED")


def test_supersede_is_the_brokers_and_only_forward(tw: TradeWorld) -> None:
    run, _ = matched_and_open(tw)
    book = run.books["FUND-A"]
    for who in ("investor", "trustee1", "outsider"):
        refused(tw, run, lambda who=who: book.transact("supersedeBlockVersion", b16("B1"), 2, sender=who),
                "supersedeBlockVersion: only broker")
    refused(tw, run, lambda: book.transact("supersedeBlockVersion", b16("B1"), 1, sender="broker_a"),
            "supersedeBlockVersion: not a newer block version")
    book.transact("supersedeBlockVersion", b16("B1"), 2, sender="broker_a")
    refused(tw, run, lambda: book.transact("supersedeBlockVersion", b16("B1"), 2, sender="broker_a"),
            "supersedeBlockVersion: not a newer block version")


def test_amendment_before_allocation_needs_no_supersede(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 3000, "price_e4": PRICE}])
    accept_block(tw, "B1")
    tw.block_book.transact("amendExecution", *amended_notice(), sender="broker_a")
    assert (tw.block_book.call("getBlock", b16("B1")).version, block_state(tw, "B1")) == (2, "NOE_POSTED")


# ---- percentage tolerances -----------------------------------------------------------------------


def percent_profile(kind: ref.TradeToleranceKind, rate_e6: int, band: int) -> ref.MatchingProfile:
    """Commission and net under `kind` (tax and principal exact)."""
    return ref.MatchingProfile(tol_principal_yen=0, tol_commission_yen=band, tol_tax_yen=0, tol_net_yen=band,
                               tol_kinds=(Tolerance.YEN, kind, Tolerance.YEN, kind),
                               tol_rates_e6=(0, rate_e6, 0, rate_e6))


# investor's commission on 1,000 sh @ 2,851.5 at 0.10 %: 2,851 yen; net 2,854,636 yen.
# 0.05 % of 2,851 = 1.4255 yen; 0.05 % of the net = 1,427.3 yen.
@pytest.mark.parametrize(("kind", "rate", "band", "delta", "status"), [
    (Tolerance.PERCENT, 500, 0, 1, "MATCHED_WITH_TOLERANCE"),  # |1| <= 1.4255 (commission and net)
    (Tolerance.PERCENT, 500, 0, 2, "MISMATCHED"),  # commission: 2 > 1.4255 though the net is far inside
    (Tolerance.PERCENT, 3508, 0, 10, "MATCHED_WITH_TOLERANCE"),  # 0.3508 % of 2,851 = 10.0013: inside
    (Tolerance.PERCENT, 3507, 0, 10, "MISMATCHED"),  # 9.9985: just outside (exact integers, no rounding)
    (Tolerance.CAPPED_PERCENT, 3508, 5, 10, "MISMATCHED"),  # within the percentage, above the 5-yen cap
    (Tolerance.CAPPED_PERCENT, 3508, 10, 10, "MATCHED_WITH_TOLERANCE"),  # both, bounds inclusive
    (Tolerance.FLOORED_PERCENT, 0, 10, 10, "MATCHED_WITH_TOLERANCE"),  # the band as a floor
    (Tolerance.FLOORED_PERCENT, 3508, 0, 10, "MATCHED_WITH_TOLERANCE"),  # the percentage alone
    (Tolerance.FLOORED_PERCENT, 3507, 9, 10, "MISMATCHED"),  # neither
])
def test_percentage_tolerances_on_the_allocation_book(evm: EvmHarness, infra: Infra, kind: ref.TradeToleranceKind,
                                                      rate: int, band: int, delta: int, status: str) -> None:
    profile = percent_profile(kind, rate, band)
    w = deploy_trade_world(evm, profile=profile, infra=infra)
    post_block(w, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    accept_block(w, "B1")
    run = allocate_block(w, "B1", {"FUND-A": 1000})
    inv = figures_view(w, "B1")["FUND-A"]
    assert (inv.commission_yen, inv.net_settlement_yen) == (2851, 2_854_636)
    brk = ref.Figures(inv.principal_yen, inv.commission_yen + delta, inv.consumption_tax_yen,
                      inv.net_settlement_yen + delta)
    submit(run, "FUND-A", inv, "investor")
    submit(run, "FUND-A", brk, "broker_a")
    assert alloc_state(run, "FUND-A") == status
    got, diff, agreed = run.books["FUND-A"].call("matchOf", run.alloc_ids["FUND-A"])
    want = ref.compare_figures(brk, inv, profile)
    assert (ref.MatchStatus(got), ref.Figures(*diff.values()), ref.Figures(*agreed.values())) == want
    assert ref.MatchStatus(got).name == status


def test_each_field_on_its_own_under_percentages(tw: TradeWorld) -> None:
    """TC-07 with percentages: the net within 1 % does not rescue a commission outside its 0.05 %."""
    p = ref.MatchingProfile(tol_kinds=(Tolerance.YEN, Tolerance.PERCENT, Tolerance.YEN, Tolerance.PERCENT),
                            tol_rates_e6=(0, 500, 0, 10_000), tol_tax_yen=5)
    inv = ref.Figures(2_851_500, 2_851, 285, 2_854_636)
    brk = ref.Figures(2_851_500, 2_853, 285, 2_854_638)
    assert ref.compare_figures(brk, inv, p)[0] == ref.MatchStatus.MISMATCHED
    status, _, _ = tw.infra.trade_calc.call("compare", brk.as_tuple(), inv.as_tuple(), p.as_abi())
    assert ref.MatchStatus(status) == ref.MatchStatus.MISMATCHED


def test_profile_rate_above_100_percent_is_refused(evm: EvmHarness, infra: Infra) -> None:
    p = ref.MatchingProfile(tol_kinds=(Tolerance.PERCENT,) * 4, tol_rates_e6=(0, 1_000_001, 0, 0))
    assert revert_reason(lambda: deploy_trade_world(evm, profile=p, infra=infra)) \
        == "profile: tolerance rate above 100 %"


def test_percentage_profile_agreed_by_both_parties_applies_from_its_date(tw: TradeWorld) -> None:
    book = tw.alloc_books["trustee1"]
    p = ref.MatchingProfile(effective_from=ref.to_day("2025-03-01"), tol_kinds=(Tolerance.CAPPED_PERCENT,) * 4,
                            tol_rates_e6=(100, 100, 100, 100))
    book.transact("proposeProfile", p.as_abi(), sender="investor")
    book.transact("agreeProfile", p.as_abi(), sender="broker_a")
    got = book.call("profileAt", book.call("profileIndexOn", ref.to_day("2025-03-18")))
    assert (list(got.tolKind), list(got.tolRate_e6)) == ([2, 2, 2, 2], [100, 100, 100, 100])


figures = st.builds(ref.Figures, *[st.integers(-10**12, 10**12)] * 4)
kinds = st.tuples(*[st.sampled_from(list(Tolerance))] * 4)
rates = st.tuples(*[st.sampled_from([0, 1, 100, 500, 3333, 10_000, 1_000_000])] * 4)
profiles = st.builds(ref.MatchingProfile, tol_principal_yen=st.integers(0, 3), tol_commission_yen=st.integers(0, 3),
                     tol_tax_yen=st.integers(0, 3), tol_net_yen=st.integers(0, 3),
                     adopt_side=st.sampled_from(list(ref.AdoptSide)), tol_kinds=kinds, tol_rates_e6=rates)
deltas = st.tuples(*[st.one_of(st.integers(-4, 4), st.integers(-10**9, 10**9))] * 4)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(figures, deltas, profiles)
def test_percentage_matching_agrees_with_the_reference(base_evm: tuple[EvmHarness, Infra], investor: ref.Figures,
                                                       delta: tuple[int, ...], p: ref.MatchingProfile) -> None:
    broker = ref.Figures(*(a + d for a, d in zip(investor.as_tuple(), delta, strict=True)))
    status, diff, agreed = base_evm[1].trade_calc.call("compare", broker.as_tuple(), investor.as_tuple(), p.as_abi())
    want = ref.compare_figures(broker, investor, p)
    assert (ref.MatchStatus(status), ref.Figures(*diff.values()), ref.Figures(*agreed.values())) == want


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(-10**12, 10**12), st.integers(0, 10**6), st.integers(0, 5))
def test_percentage_bound_is_inclusive_and_exact(base_evm: tuple[EvmHarness, Infra], investor: int, rate: int,
                                                 band: int) -> None:
    """On the exact limit |Δ| = floor(rate × |i| / 10^6) the field is inside; one yen more is outside."""
    limit = abs(investor) * rate // 1_000_000
    zero = ref.Figures(0, 0, 0, 0)
    p = ref.MatchingProfile(tol_principal_yen=0, tol_commission_yen=0, tol_tax_yen=0, tol_net_yen=0,
                            tol_kinds=(Tolerance.PERCENT,) * 4, tol_rates_e6=(rate,) * 4)
    for d, inside in ((limit, True), (limit + 1, False)):
        inv = ref.Figures(investor, 0, 0, 0)
        brk = ref.Figures(investor + d, 0, 0, 0)
        assert ref.within_trade_tolerance(d, investor, band, Tolerance.PERCENT, rate) is inside
        status, _, _ = base_evm[1].trade_calc.call("compare", brk.as_tuple(), inv.as_tuple(), p.as_abi())
        expected = ref.MatchStatus.MATCHED if d == 0 else (
            ref.MatchStatus.MATCHED_WITH_TOLERANCE if inside else ref.MatchStatus.MISMATCHED)
        assert ref.MatchStatus(status) == expected == ref.compare_figures(brk, inv, p)[0]
    assert ref.compare_figures(zero, zero, p)[0] == ref.MatchStatus.MATCHED

