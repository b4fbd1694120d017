"""Trade confirmation on the contracts: the rules and edge cases of DOMAIN.md §2.4-§2.7."""

from __future__ import annotations

import pytest

from postrade import reference as ref
from tests.unit.postrade.conftest import (
    EvmHarness,
    Infra,
    Reverted,
    TradeWorld,
    accept_block,
    alloc_state,
    allocate_block,
    b16,
    block_state,
    confirmation,
    deploy_trade_world,
    fills_abi,
    notice,
    post_block,
    reference_calendar,
    register_ssi,
    revert_reason,
    submit,
)

CAL = reference_calendar()
PRICE = 28515000  # 2,851.5 yen


def figures_view(w: TradeWorld, block_id: str) -> dict[str, ref.Figures]:
    codes, figs = w.block_book.call("fundFigures", b16(block_id))
    return {c.rstrip(b"\0").decode(): ref.Figures(*f.values()) for c, f in zip(codes, figs, strict=True)}


def book_until_matched(w: TradeWorld, block_id: str, orders: dict[str, int], fills=None, **kw):
    post_block(w, block_id, fills or [{"quantity": sum(orders.values()), "price_e4": PRICE}], **kw)
    accept_block(w, block_id)
    run = allocate_block(w, block_id, orders)
    figs = figures_view(w, block_id)
    for fund in run.allocated:
        submit(run, fund, figs[fund], "investor")
        submit(run, fund, figs[fund], "broker_a")
    return run, figs


def agree_all(w: TradeWorld, run) -> None:
    for fund in run.allocated:
        run.books[fund].transact("affirm", run.alloc_ids[fund], sender="investor")


# ---- execution notice, totals, average price -----------------------------------------------------


def test_fills_appended_during_the_day_then_frozen_by_acceptance(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 30000, "price_e4": 28515000}])
    r = tw.block_book.transact("appendFills", b16("B1"), fills_abi([{"quantity": 20000, "price_e4": 28520000},
                                                                     {"quantity": 10000, "price_e4": 28505000}]),
                               sender="broker_a")
    assert r.named("FillsAppended")[0].totalQuantity == 60000
    b = tw.block_book.call("getBlock", b16("B1"))
    assert (b.totalQuantity, b.avgPrice_e4, b.notional_e4) == (60000, 28515000, 1_710_900_000_000)
    assert len(tw.block_book.call("fillsOf", b16("B1"), 1)) == 3
    accept_block(tw, "B1")
    reason = revert_reason(lambda: tw.block_book.transact(
        "appendFills", b16("B1"), fills_abi([{"quantity": 100, "price_e4": 1}]), sender="broker_a"))
    assert reason == "appendFills: block not in NOE_POSTED"


@pytest.mark.parametrize(("rounding", "expected"), [
    (ref.Rounding.HALF_UP, 28515001), (ref.Rounding.HALF_EVEN, 28515000), (ref.Rounding.FLOOR, 28515000),
])
def test_average_price_exactly_on_a_half_follows_the_schedule(
    evm: EvmHarness, infra: Infra, rounding: ref.Rounding, expected: int,
) -> None:
    """TC-02: half-up, half-even and truncation disagree on an exact half; the schedule decides."""
    w = deploy_trade_world(evm, ref.Schedule(avg_price_rounding=rounding), infra=infra)
    fills = [{"quantity": 100, "price_e4": 28515000}, {"quantity": 100, "price_e4": 28515001}]
    b = post_block(w, "B1", fills)
    assert b.notional_e4 == 5_703_000_100  # exact: 28,515,000.5 per share in e4
    assert b.avgPrice_e4 == expected == ref.average_price(5_703_000_100, 200, 4, rounding)


def test_fund_principals_may_differ_from_block_principal_and_still_match(tw: TradeWorld) -> None:
    """§2.5.6 / TC-02: funds are priced at the rounded average; the residual is not a break."""
    fills = [{"quantity": 300, "price_e4": 28515000}, {"quantity": 100, "price_e4": 28515003},
             {"quantity": 300, "price_e4": 28515001}]
    run, figs = book_until_matched(tw, "B1", {"FUND-A": 300, "FUND-B": 200, "FUND-C": 200}, fills=fills)
    b = tw.block_book.call("getBlock", b16("B1"))
    residual = sum(f.principal_yen for f in figs.values()) * 10_000 - b.notional_e4
    assert residual != 0  # the rounded average moved the sum of fund principals
    assert {alloc_state(run, f) for f in run.allocated} == {"MATCHED"}


def test_trade_date_must_be_a_business_day(tw: TradeWorld) -> None:
    reason = revert_reason(lambda: post_block(tw, "B1", [{"quantity": 100, "price_e4": PRICE}],
                                              trade_date="2025-03-20"))
    assert reason == "trade date is not a business day"


@pytest.mark.parametrize(("trade", "settle"), [
    ("2025-03-18", "2025-03-21"),  # Vernal Equinox Day 03-20 skipped
    ("2024-12-27", "2025-01-06"),  # Dec 31 - Jan 3 closure and a weekend
    ("2025-05-02", "2025-05-08"),  # Golden Week incl. the 05-06 substitute holiday
    ("2025-09-12", "2025-09-17"),  # Respect-for-the-Aged Day 09-15
])
def test_settlement_date_is_t_plus_2_on_the_administrators_calendar(tw: TradeWorld, trade: str, settle: str) -> None:
    b = post_block(tw, "B1", [{"quantity": 100, "price_e4": PRICE}], trade_date=trade)
    assert ref.to_iso(b.settlementDate) == settle == ref.to_iso(CAL.add_business_days(ref.to_day(trade), 2))


def test_calendar_holiday_added_by_admin_moves_settlement(tw: TradeWorld) -> None:
    tw.infra.calendar.transact("setHolidays", [ref.to_day("2025-03-19")], True, sender="admin")
    b = post_block(tw, "B1", [{"quantity": 100, "price_e4": PRICE}], trade_date="2025-03-18")
    assert ref.to_iso(b.settlementDate) == "2025-03-24"
    assert "only admin" in revert_reason(lambda: tw.infra.calendar.transact(
        "setHolidays", [ref.to_day("2025-03-19")], False, sender="broker_a"))


def test_settlement_date_override_needs_both_parties(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 100, "price_e4": PRICE}])
    new = ref.to_day("2025-03-24")
    tw.block_book.transact("proposeSettlementDate", b16("B1"), new, sender="broker_a")
    assert revert_reason(lambda: tw.block_book.transact("agreeSettlementDate", b16("B1"), new, sender="broker_a")) \
        == "agreeSettlementDate: only the other party may agree"
    tw.block_book.transact("agreeSettlementDate", b16("B1"), new, sender="investor")
    assert tw.block_book.call("getBlock", b16("B1")).settlementDate == new


# ---- acceptance, dispute, amendment ----------------------------------------------------------------


def test_dispute_then_amend_then_accept_new_version(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    r = tw.block_book.transact("disputeBlock", b16("B1"), 1, "wrong price", sender="investor")
    assert r.named("BlockDisputed")[0].reason == "wrong price"
    assert block_state(tw, "B1") == "BLOCK_DISPUTED"
    assert "not in NOE_POSTED" in revert_reason(lambda: accept_block(tw, "B1"))
    tw.block_book.transact("amendExecution", notice("B1", "JP3633400001", 0, "2025-03-18"),
                           fills_abi([{"quantity": 1000, "price_e4": 28510000}]), sender="broker_a")
    b = tw.block_book.call("getBlock", b16("B1"))
    assert (b.version, block_state(tw, "B1"), b.avgPrice_e4) == (2, "NOE_POSTED", 28510000)
    assert revert_reason(lambda: tw.block_book.transact("acceptBlock", b16("B1"), 1, 1000, 28510000,
                                                        sender="investor")) == "acceptBlock: stale block version"
    assert revert_reason(lambda: tw.block_book.transact("acceptBlock", b16("B1"), 2, 1000, PRICE,
                                                        sender="investor")) == "acceptBlock: average price differs"
    accept_block(tw, "B1")
    assert block_state(tw, "B1") == "BLOCK_AGREED"


def test_amendment_before_match_agreed_supersedes_allocations(tw: TradeWorld) -> None:
    """TC-14: new block version; old allocations SUPERSEDED, their confirmations void."""
    post_block(tw, "B1", [{"quantity": 3000, "price_e4": PRICE}])
    accept_block(tw, "B1")
    run1 = allocate_block(tw, "B1", {"FUND-A": 2000, "FUND-B": 1000})
    figs = figures_view(tw, "B1")
    submit(run1, "FUND-A", figs["FUND-A"], "investor")
    amended = (notice("B1", "JP3633400001", 0, "2025-03-18"), fills_abi([{"quantity": 3000, "price_e4": 28520000}]))
    assert revert_reason(lambda: tw.block_book.transact("amendExecution", *amended, sender="broker_a")) \
        == "amendExecution: an allocation of this version is open, supersede it first"
    for book in tw.alloc_books.values():  # the broker's first step in each book of the block
        book.transact("supersedeBlockVersion", b16("B1"), 2, sender="broker_a")
    tw.block_book.transact("amendExecution", *amended, sender="broker_a")
    assert run1.books["FUND-A"].call("confirmationOf", run1.alloc_ids["FUND-A"], False).voided
    accept_block(tw, "B1")
    run2 = allocate_block(tw, "B1", {"FUND-A": 2000, "FUND-B": 1000})
    for fund in ("FUND-A", "FUND-B"):
        assert alloc_state(run1, fund) == "SUPERSEDED"
        assert alloc_state(run2, fund) == "ALLOCATED"
    assert revert_reason(lambda: submit(run1, "FUND-A", figs["FUND-A"], "broker_a")) \
        == "submitConfirmation: allocation superseded by a newer block version"
    assert "stale or duplicate" in revert_reason(
        lambda: run1.books["FUND-A"].transact("postAllocation", run1.alloc_inputs["FUND-A"], sender="investor"))


def test_after_match_agreed_only_bilateral_cancel_then_rebook(tw: TradeWorld) -> None:
    """TC-13: no amendment after MATCH_AGREED; cancel bilaterally, then book a new block."""
    run, _ = book_until_matched(tw, "B1", {"FUND-A": 1000})
    agree_all(tw, run)
    new_notice = notice("B1", "JP3633400001", 0, "2025-03-18")
    assert revert_reason(lambda: tw.block_book.transact(
        "amendExecution", new_notice, fills_abi([{"quantity": 1000, "price_e4": 1}]), sender="broker_a")) \
        == "amendExecution: an allocation is MATCH_AGREED, cancel instead"
    assert revert_reason(lambda: tw.block_book.transact("cancelBlock", b16("B1"), "x", sender="investor")) \
        == "cancelBlock: an allocation is MATCH_AGREED, cancel bilaterally"
    book, aid = run.books["FUND-A"], run.alloc_ids["FUND-A"]
    assert "MATCH_AGREED, cancel bilaterally" in revert_reason(
        lambda: book.transact("voidAllocation", aid, False, sender="broker_a"))
    book.transact("requestCancel", aid, sender="broker_a")
    assert alloc_state(run, "FUND-A") == "CANCEL_REQUESTED"
    assert revert_reason(lambda: book.transact("agreeCancel", aid, sender="broker_a")) \
        == "agreeCancel: only the other party may agree"
    book.transact("agreeCancel", aid, sender="investor")
    assert alloc_state(run, "FUND-A") == "CANCELLED"
    tw.block_book.transact("refreshStatus", b16("B1"), sender="investor")
    assert block_state(tw, "B1") == "CANCELLED"
    post_block(tw, "B2", [{"quantity": 1000, "price_e4": 1000}])
    assert block_state(tw, "B2") == "NOE_POSTED"


def test_rejected_cancel_returns_to_match_agreed(tw: TradeWorld) -> None:
    run, _ = book_until_matched(tw, "B1", {"FUND-A": 1000})
    agree_all(tw, run)
    book, aid = run.books["FUND-A"], run.alloc_ids["FUND-A"]
    book.transact("requestCancel", aid, sender="investor")
    book.transact("rejectCancel", aid, sender="broker_a")
    assert alloc_state(run, "FUND-A") == "MATCH_AGREED"


def test_block_cancel_before_agreement_and_allocations_withdrawn(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    accept_block(tw, "B1")
    run = allocate_block(tw, "B1", {"FUND-A": 1000})
    r = tw.block_book.transact("cancelBlock", b16("B1"), "booked twice", sender="broker_a")
    assert r.named("BlockCancelled")[0].reason == "booked twice"
    run.books["FUND-A"].transact("voidAllocation", run.alloc_ids["FUND-A"], False, sender="broker_a")
    assert (block_state(tw, "B1"), alloc_state(run, "FUND-A")) == ("CANCELLED", "CANCELLED")


# ---- allocation ----------------------------------------------------------------------------------


def test_partial_fill_pro_rata_truncated_remainder_to_largest_fraction(tw: TradeWorld) -> None:
    """TC-03: E < O; raw A 3650, B 2190, C 1460 -> base 3600/2100/1400, 2 units to B and C."""
    post_block(tw, "B1", [{"quantity": 4000, "price_e4": PRICE}])
    tw.block_book.transact("appendFills", b16("B1"), fills_abi([{"quantity": 3300, "price_e4": PRICE}]),
                           sender="broker_a")
    accept_block(tw, "B1")
    orders = {"FUND-A": 5000, "FUND-B": 3000, "FUND-C": 2000}
    run = allocate_block(tw, "B1", orders)
    assert run.allocated == {"FUND-A": 3600, "FUND-B": 2200, "FUND-C": 1500}
    assert list(run.allocated.values()) == ref.allocate(list(orders), list(orders.values()), 7300, 100)
    assert sum(run.allocated.values()) == 7300  # the unfilled 2,700 shares are not allocated


def test_ties_break_by_larger_order_and_zero_fund_gets_no_record(tw: TradeWorld) -> None:
    """TC-04/TC-05: equal fractions -> larger order; FUND-A ends with 0 shares and no record."""
    post_block(tw, "B1", [{"quantity": 300, "price_e4": PRICE}])
    accept_block(tw, "B1")
    run = allocate_block(tw, "B1", {"FUND-A": 100, "FUND-B": 300, "FUND-C": 200})
    assert run.allocated == {"FUND-B": 200, "FUND-C": 100}
    assert tw.alloc_books["trustee1"].call("allocationState", b16("B1"), 1, b16("FUND-A")) == 0


def test_ties_with_equal_orders_break_by_fund_code(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 2000, "price_e4": PRICE}])
    accept_block(tw, "B1")
    preview = tw.block_book.call("previewAllocation", b16("B1"), [b16("FUND-B"), b16("FUND-A"), b16("FUND-C")],
                                 [1500, 1500, 1000])
    assert preview == [700, 800, 500]  # B and A tie on fraction and order: FUND-A first


def test_zero_allocations_recorded_when_the_schedule_says_so(evm: EvmHarness, infra: Infra) -> None:
    w = deploy_trade_world(evm, ref.Schedule(record_zero_allocations=True), infra=infra)
    post_block(w, "B1", [{"quantity": 300, "price_e4": PRICE}])
    accept_block(w, "B1")
    run = allocate_block(w, "B1", {"FUND-A": 100, "FUND-B": 300, "FUND-C": 200})
    assert run.allocated == {"FUND-A": 0, "FUND-B": 200, "FUND-C": 100}


def test_larger_order_first_method(evm: EvmHarness, infra: Infra) -> None:
    w = deploy_trade_world(evm, ref.Schedule(alloc_method=ref.AllocMethod.LARGER_ORDER_FIRST), infra=infra)
    post_block(w, "B1", [{"quantity": 7300, "price_e4": PRICE}])
    accept_block(w, "B1")
    orders = {"FUND-A": 5000, "FUND-B": 3000, "FUND-C": 2000}
    run = allocate_block(w, "B1", orders)
    assert run.allocated == {"FUND-A": 3700, "FUND-B": 2200, "FUND-C": 1400}
    assert list(run.allocated.values()) == ref.allocate(list(orders), list(orders.values()), 7300, 100,
                                                        ref.AllocMethod.LARGER_ORDER_FIRST)


@pytest.mark.parametrize(("filled", "orders", "reason"), [
    (200, {"FUND-A": 100}, "executed exceeds ordered"),
    (150, {"FUND-A": 150, "FUND-B": 150}, "partial fill not a multiple of the trading unit"),
    (200, {"FUND-A": 150, "FUND-B": 250}, "partial fill of an order that is not a multiple of the trading unit"),
    (200, {"fund-a": 1000}, "invalid fund code"),
])
def test_invalid_allocations_revert(tw: TradeWorld, filled: int, orders: dict[str, int], reason: str) -> None:
    post_block(tw, "B1", [{"quantity": filled, "price_e4": PRICE}])
    accept_block(tw, "B1")
    assert revert_reason(lambda: allocate_block(tw, "B1", orders)) == reason


def test_odd_lot_orders_allocated_in_full(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 400, "price_e4": PRICE}])
    accept_block(tw, "B1")
    assert allocate_block(tw, "B1", {"FUND-A": 150, "FUND-B": 250}).allocated == {"FUND-A": 150, "FUND-B": 250}


# ---- per-fund figures ----------------------------------------------------------------------------


@pytest.mark.parametrize(("trade", "pct"), [("2019-09-30", 8), ("2019-10-01", 10)])
def test_tax_rate_is_chosen_by_trade_date(tw: TradeWorld, trade: str, pct: int) -> None:
    """TC-09/10: a 2019-09-30 trade settles in October but keeps the 8 % rate."""
    post_block(tw, "B1", [{"quantity": 10000, "price_e4": 12300000}], trade_date=trade)
    accept_block(tw, "B1")
    allocate_block(tw, "B1", {"FUND-A": 10000})
    f = figures_view(tw, "B1")["FUND-A"]
    assert (f.principal_yen, f.commission_yen, f.consumption_tax_yen) == (12_300_000, 12_300, 12_300 * pct // 100)
    assert tw.infra.tax.call("rateOn", ref.to_day(trade)) == pct


def test_tax_rate_by_settlement_date_when_the_schedule_says_so(evm: EvmHarness, infra: Infra) -> None:
    w = deploy_trade_world(evm, ref.Schedule(tax_on_settlement_date=True), infra=infra)
    post_block(w, "B1", [{"quantity": 10000, "price_e4": 12300000}], trade_date="2019-09-30")
    accept_block(w, "B1")
    allocate_block(w, "B1", {"FUND-A": 10000})
    assert figures_view(w, "B1")["FUND-A"].consumption_tax_yen == 1_230  # settles 2019-10-02: 10 %


def test_zero_commission_is_a_real_value(evm: EvmHarness, infra: Infra) -> None:
    """TC-11: principal trade, rate 0 (minimum not applied at rate 0); 0 vs 0 matches exactly."""
    w = deploy_trade_world(evm, ref.Schedule(minimum_commission_yen=2500), infra=infra)
    run, figs = book_until_matched(w, "B1", {"FUND-A": 1000}, order_type=ref.OrderType.PRINCIPAL)
    assert figs["FUND-A"] == ref.Figures(2_851_500, 0, 0, 2_851_500)
    assert alloc_state(run, "FUND-A") == "MATCHED"


def test_negative_sell_net_with_minimum_commission(evm: EvmHarness, infra: Infra) -> None:
    w = deploy_trade_world(evm, ref.Schedule(minimum_commission_yen=5000), infra=infra)
    run, figs = book_until_matched(w, "B1", {"FUND-A": 100}, fills=[{"quantity": 100, "price_e4": 100000}],
                                   side=ref.Side.SELL)
    assert figs["FUND-A"] == ref.Figures(1000, 5000, 500, -4500)
    assert alloc_state(run, "FUND-A") == "MATCHED"
    _, _, agreed = run.books["FUND-A"].call("matchOf", run.alloc_ids["FUND-A"])
    assert agreed["netSettlementYen"] == -4500


def test_per_block_split_calculation_level(evm: EvmHarness, infra: Infra) -> None:
    s = ref.Schedule(rate_by_order_type_e6=(1200, 1200, 1200, 0), calc_level=ref.CalcLevel.PER_BLOCK_SPLIT)
    w = deploy_trade_world(evm, s, infra=infra)
    post_block(w, "B1", [{"quantity": 21400, "price_e4": 12300000}], trade_date="2025-09-12")
    accept_block(w, "B1")
    allocate_block(w, "B1", {"FUND-A": 10000, "FUND-B": 7300, "FUND-C": 4100})
    figs = figures_view(w, "B1")
    assert [figs[f].commission_yen for f in ("FUND-A", "FUND-B", "FUND-C")] == [14761, 10774, 6051]
    assert figs["FUND-A"].net_settlement_yen == 12_316_237


# ---- matching ------------------------------------------------------------------------------------


def test_one_field_out_of_tolerance_mismatches_even_if_net_within(tw: TradeWorld) -> None:
    """TC-07: commission +2 (band 1) with net +2 (band 2) -> MISMATCHED; a correction re-runs it."""
    post_block(tw, "B1", [{"quantity": 10000, "price_e4": 12300000}], trade_date="2025-09-12")
    accept_block(tw, "B1")
    run = allocate_block(tw, "B1", {"FUND-A": 10000})
    inv = ref.Figures(12_300_000, 12_300, 1_230, 12_313_530)
    submit(run, "FUND-A", inv, "investor")
    r = submit(run, "FUND-A", ref.Figures(12_300_000, 12_302, 1_230, 12_313_532), "broker_a")
    ev = r.named("MatchEvaluated")[0]
    assert ref.MatchStatus(ev.status) == ref.MatchStatus.MISMATCHED and alloc_state(run, "FUND-A") == "MISMATCHED"
    assert ev.brokerMinusInvestor["commissionYen"] == 2 and ev.agreed["netSettlementYen"] == 0
    assert "not matched" in revert_reason(lambda: run.books["FUND-A"].transact(
        "affirm", run.alloc_ids["FUND-A"], sender="investor"))
    submit(run, "FUND-A", ref.Figures(12_300_000, 12_301, 1_230, 12_313_531), "broker_a")
    status, diff, agreed = run.books["FUND-A"].call("matchOf", run.alloc_ids["FUND-A"])
    assert ref.MatchStatus(status) == ref.MatchStatus.MATCHED_WITH_TOLERANCE
    assert ref.Figures(*agreed.values()) == inv
    assert run.books["FUND-A"].call("confirmationOf", run.alloc_ids["FUND-A"], True).version == 2


@pytest.mark.parametrize(("delta", "status"), [
    ((0, 0, 0, 0), ref.MatchStatus.MATCHED),
    ((0, 1, 1, 2), ref.MatchStatus.MATCHED_WITH_TOLERANCE),  # every bound inclusive
    ((0, -1, -1, -2), ref.MatchStatus.MATCHED_WITH_TOLERANCE),
    ((1, 0, 0, 1), ref.MatchStatus.MISMATCHED),  # principal is exact
    ((0, 0, 2, 2), ref.MatchStatus.MISMATCHED),
    ((0, 0, 0, 3), ref.MatchStatus.MISMATCHED),
])
def test_tolerance_bands(tw: TradeWorld, delta: tuple[int, ...], status: ref.MatchStatus) -> None:
    post_block(tw, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    accept_block(tw, "B1")
    run = allocate_block(tw, "B1", {"FUND-A": 1000})
    inv = figures_view(tw, "B1")["FUND-A"]
    brk = ref.Figures(*(a + d for a, d in zip(inv.as_tuple(), delta, strict=True)))
    submit(run, "FUND-A", brk, "broker_a")
    submit(run, "FUND-A", inv, "investor")
    got, _, agreed = run.books["FUND-A"].call("matchOf", run.alloc_ids["FUND-A"])
    assert ref.MatchStatus(got) == status == ref.compare_figures(brk, inv, ref.MatchingProfile())[0]


def test_adopt_broker_profile(evm: EvmHarness, infra: Infra) -> None:
    w = deploy_trade_world(evm, profile=ref.MatchingProfile(adopt_side=ref.AdoptSide.BROKER), infra=infra)
    post_block(w, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    accept_block(w, "B1")
    run = allocate_block(w, "B1", {"FUND-A": 1000})
    inv = figures_view(w, "B1")["FUND-A"]
    brk = ref.Figures(inv.principal_yen, inv.commission_yen + 1, inv.consumption_tax_yen, inv.net_settlement_yen + 1)
    submit(run, "FUND-A", inv, "investor")
    submit(run, "FUND-A", brk, "broker_a")
    assert ref.Figures(*run.books["FUND-A"].call("matchOf", run.alloc_ids["FUND-A"])[2].values()) == brk


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("quantity", 999, "L1 mismatch: quantity"),
    ("settlementDate", ref.to_day("2025-03-24"), "L1 mismatch: settlement date"),
    ("tradeDate", ref.to_day("2025-03-17"), "L1 mismatch: trade date"),
    ("side", 1, "L1 mismatch: side"),
    ("isin", b"JP3633400019", "L1 mismatch: ISIN"),
])
def test_l1_fields_must_pair_exactly(tw: TradeWorld, field: str, value, reason: str) -> None:
    post_block(tw, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    accept_block(tw, "B1")
    run = allocate_block(tw, "B1", {"FUND-A": 1000})
    inv = figures_view(tw, "B1")["FUND-A"]
    conf = confirmation(run, "FUND-A", inv, **{field: value})
    assert revert_reason(lambda: run.books["FUND-A"].transact("submitConfirmation", conf, sender="broker_a")) == reason


def test_trustee_approval_when_required(evm: EvmHarness, infra: Infra) -> None:
    w = deploy_trade_world(evm, trustee_approval_required=True, infra=infra)
    run, _ = book_until_matched(w, "B1", {"FUND-A": 1000})
    book, aid = run.books["FUND-A"], run.alloc_ids["FUND-A"]
    book.transact("affirm", aid, sender="investor")
    assert alloc_state(run, "FUND-A") == "MATCHED"
    r = book.transact("trusteeApprove", aid, sender="trustee1")
    assert r.named("TrusteeApproved") and alloc_state(run, "FUND-A") == "MATCH_AGREED"


def test_trustee_acknowledges_without_moving_state(tw: TradeWorld) -> None:
    run, _ = book_until_matched(tw, "B1", {"FUND-A": 1000})
    run.books["FUND-A"].transact("acknowledge", run.alloc_ids["FUND-A"], sender="trustee1")
    alloc = run.books["FUND-A"].call("getAllocation", run.alloc_ids["FUND-A"])
    assert alloc.trusteeAcknowledged and alloc_state(run, "FUND-A") == "MATCHED"


# ---- block state machine to settlement, with master data ------------------------------------------


def test_block_confirmed_instructed_settled_with_ssi_in_force(tw_md: TradeWorld) -> None:
    run, _ = book_until_matched(tw_md, "B1", {"FUND-A": 1000, "FUND-B": 2000})
    assert revert_reason(lambda: tw_md.block_book.transact("refreshStatus", b16("B1"), sender="trustee1")) \
        == "refreshStatus: only broker or investor"
    agree_all(tw_md, run)
    r = tw_md.block_book.transact("refreshStatus", b16("B1"), sender="broker_a")
    assert [(e["from"], e.to) for e in r.named("BlockStateChanged")] == [(4, 5)]
    # FUND-A's SSI changes after the trade: the pending settlement keeps the one it was instructed with.
    for fund, trustee in (("FUND-A", "trustee1"), ("FUND-B", "trustee2")):
        book, aid = run.books[fund], run.alloc_ids[fund]
        r = book.transact("instructSettlement", aid, sender=trustee)
        assert r.named("SettlementInstructed")[0].ssiVersion == 1
    register_ssi(tw_md, "FUND-A", "trustee1", "2025-03-19", "TB1-0002")
    assert tw_md.ssi_registries["trustee1"].call("ssiInForce", b16("FUND-A"), b"EQU", ref.to_day("2025-03-21")) \
        == (True, 2)
    assert run.books["FUND-A"].call("getAllocation", run.alloc_ids["FUND-A"]).ssiVersion == 1
    tw_md.block_book.transact("refreshStatus", b16("B1"), sender="investor")
    assert block_state(tw_md, "B1") == "SETTLEMENT_INSTRUCTED"
    for fund, trustee in (("FUND-A", "trustee1"), ("FUND-B", "trustee2")):
        run.books[fund].transact("reportSettled", run.alloc_ids[fund], sender=trustee)
    tw_md.block_book.transact("refreshStatus", b16("B1"), sender="investor")
    assert block_state(tw_md, "B1") == "SETTLED"


def test_settlement_cannot_be_instructed_without_an_approved_ssi(tw_md: TradeWorld) -> None:
    """§4.6: the counterparty never approved the SSI -> the trade cannot be instructed."""
    from tests.unit.postrade.conftest import register_fund, ssi_input

    register_fund(tw_md, "FUND-E", "trustee2", "2019-01-04")
    tw_md.ssi_registries["trustee2"].transact("registerSsi", ssi_input("FUND-E", "2019-01-04"), sender="investor")
    run, _ = book_until_matched(tw_md, "B1", {"FUND-E": 1000})
    agree_all(tw_md, run)
    assert revert_reason(lambda: run.books["FUND-E"].transact(
        "instructSettlement", run.alloc_ids["FUND-E"], sender="trustee2")) \
        == "instructSettlement: no approved SSI in force for the settlement date"


@pytest.mark.parametrize(("setup", "reason"), [
    ("unknown", "unknown fund"),
    ("late", "fund not established on the trade date"),
    ("redeemed", "settlement after the redemption date"),
    ("suspended", "fund suspended"),
    ("aml", "AML status blocks new allocations"),
    ("wrong_trustee", "not the fund's trustee on the trade date"),
])
def test_allocation_rejected_for_ineligible_funds(tw_md: TradeWorld, setup: str, reason: str) -> None:
    """MD-06 [A-MD-FUND-ELIG]: checked by the allocation book against the fund registry."""
    from tests.unit.postrade.conftest import register_fund

    reg = tw_md.fund_registry
    fund = {"unknown": "FUND-X", "late": "FUND-L", "wrong_trustee": "FUND-A"}.get(setup, "FUND-A")
    if setup == "late":
        register_fund(tw_md, "FUND-L", "trustee1", "2025-03-19")
    elif setup == "redeemed":
        reg.transact("scheduleRedemption", b16("FUND-A"), ref.to_day("2025-03-20"), sender="investor")
        reg.transact("confirmRedemption", b16("FUND-A"), ref.to_day("2025-03-20"), sender="trustee1")
    elif setup == "suspended":
        reg.transact("suspendFund", b16("FUND-A"), "AML finding", sender="trustee1")
    elif setup == "aml":
        reg.transact("setAmlStatus", b16("FUND-A"), 3, ref.to_day("2025-03-01"), sender="trustee1")
    post_block(tw_md, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    accept_block(tw_md, "B1")
    trustee_of = (lambda f: "trustee2") if setup == "wrong_trustee" else (lambda f: "trustee1")
    got = revert_reason(lambda: allocate_block(tw_md, "B1", {fund: 1000}, trustee_of=trustee_of))
    assert got == f"postAllocation: fund not eligible: {reason}"


def test_aml_block_does_not_stop_settlement_of_matched_trades(tw_md: TradeWorld) -> None:
    run, _ = book_until_matched(tw_md, "B1", {"FUND-A": 1000})
    agree_all(tw_md, run)
    tw_md.fund_registry.transact("setAmlStatus", b16("FUND-A"), 4, ref.to_day("2025-03-19"), sender="investor")
    run.books["FUND-A"].transact("instructSettlement", run.alloc_ids["FUND-A"], sender="trustee1")
    assert alloc_state(run, "FUND-A") == "SETTLEMENT_INSTRUCTED"


# ---- shared parameters ---------------------------------------------------------------------------


def test_commission_schedule_changes_need_both_parties(tw: TradeWorld) -> None:
    new = ref.Schedule(effective_from=ref.to_day("2025-04-01"), rate_by_order_type_e6=(800, 800, 800, 0))
    assert revert_reason(lambda: tw.block_book.transact("agreeSchedule", new.as_abi(), sender="investor")) \
        == "agreeSchedule: nothing proposed"
    tw.block_book.transact("proposeSchedule", new.as_abi(), sender="broker_a")
    assert revert_reason(lambda: tw.block_book.transact("agreeSchedule", new.as_abi(), sender="broker_a")) \
        == "agreeSchedule: only the other party may agree"
    other = ref.Schedule(effective_from=new.effective_from, rate_by_order_type_e6=(900, 900, 900, 0))
    assert revert_reason(lambda: tw.block_book.transact("agreeSchedule", other.as_abi(), sender="investor")) \
        == "agreeSchedule: differs from the proposal"
    assert "only broker or investor" in revert_reason(
        lambda: tw.block_book.transact("proposeSchedule", new.as_abi(), sender="trustee1"))
    tw.block_book.transact("agreeSchedule", new.as_abi(), sender="investor")
    assert tw.block_book.call("scheduleCount") == 2
    for block_id, day, rate in (("B1", "2025-03-31", 1000), ("B2", "2025-04-01", 800)):
        post_block(tw, block_id, [{"quantity": 1000, "price_e4": PRICE}], trade_date=day)
        accept_block(tw, block_id)
        allocate_block(tw, block_id, {"FUND-A": 1000})
        assert figures_view(tw, block_id)["FUND-A"].commission_yen == 2_851_500 * rate // 1_000_000


def test_tolerance_profile_changes_need_both_parties(tw: TradeWorld) -> None:
    book = tw.alloc_books["trustee1"]
    p = ref.MatchingProfile(effective_from=ref.to_day("2025-04-01"), tol_commission_yen=5)
    assert "only broker or investor" in revert_reason(
        lambda: book.transact("proposeProfile", p.as_abi(), sender="trustee1"))
    book.transact("proposeProfile", p.as_abi(), sender="investor")
    book.transact("agreeProfile", p.as_abi(), sender="broker_a")
    assert book.call("profileIndexOn", ref.to_day("2025-04-02")) == 1
    assert book.call("profileIndexOn", ref.to_day("2025-03-31")) == 0


def test_every_state_change_emits_an_event(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    r = tw.block_book.transact("acceptBlock", b16("B1"), 1, 1000, PRICE, sender="investor")
    assert [(e["from"], e.to, tw.evm.name(e.by)) for e in r.named("BlockStateChanged")] == [(1, 2, "investor")]
    run = allocate_block(tw, "B1", {"FUND-A": 1000})
    figs = figures_view(tw, "B1")
    submit(run, "FUND-A", figs["FUND-A"], "investor")
    r = submit(run, "FUND-A", figs["FUND-A"], "broker_a")
    assert [(e["from"], e.to) for e in r.named("AllocationStateChanged")] == [(1, 2)]
    r = run.books["FUND-A"].transact("affirm", run.alloc_ids["FUND-A"], sender="investor")
    assert [(e["from"], e.to) for e in r.named("AllocationStateChanged")] == [(2, 5)]


def test_reverted_transaction_changes_nothing(tw: TradeWorld) -> None:
    post_block(tw, "B1", [{"quantity": 1000, "price_e4": PRICE}])
    with pytest.raises(Reverted):
        tw.block_book.transact("acceptBlock", b16("B1"), 1, 999, PRICE, sender="investor")
    assert block_state(tw, "B1") == "NOE_POSTED"
