"""Trade confirmation: execution notices, blocks, allocations and their books."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from postrade import reference as ref
from postrade.clients.enums import AllocState, BlockState
from postrade.clients.infra import Infrastructure
from postrade.clients.instance import Instance
from postrade.clients.master_data import FundRegistry, SsiRegistry
from postrade.clients.network import (
    ZERO_ADDRESS,
    ZERO_HASH,
    Party,
    PostTradeNetwork,
    Sent,
    b16,
    figures_of,
    fixed,
    text_of,
)

# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionNotice:
    """The broker's execution notice for a block (fills go alongside)."""

    block_id: str
    isin: str
    side: ref.Side
    trade_date: int
    order_type: ref.OrderType = ref.OrderType.AGENCY
    trading_unit: int = 100

    def as_abi(self) -> tuple[Any, ...]:
        return (b16(self.block_id), fixed(self.isin, 12), int(self.side), int(self.order_type), self.trade_date,
                self.trading_unit)


def fills_abi(fills: Sequence[ref.Fill]) -> list[tuple[bytes, int, int, bytes]]:
    """Fills as the contract's tuples; a missing exec id becomes X<i>, a missing venue XJPX."""
    return [(b16(f.exec_id or f"X{i}".encode()), f.quantity, f.price_e4, fixed(f.venue_mic or b"XJPX", 4))
            for i, f in enumerate(fills)]


@dataclass(frozen=True)
class Block:
    block_id: str
    version: int
    state: BlockState
    isin: str
    side: ref.Side
    order_type: ref.OrderType
    trade_date: int
    settlement_date: int
    trading_unit: int
    total_quantity: int
    avg_price_e4: int
    notional_e4: int  # exact block principal numerator: yen = notional_e4 / 10^4
    schedule_index: int
    proposed_settlement_date: int
    settlement_proposed_by: str


@dataclass(frozen=True)
class AllocationLine:
    """One fund's line of a block's allocation (block book view)."""

    fund_code: str
    ordered_quantity: int
    allocated_quantity: int
    allocation_book: str


def allocation_id(block_id: str, block_version: int, fund_code: str) -> bytes:
    """`FundAllocationBook.allocationId`: keccak256(abi.encode(blockId, blockVersion, fundCode))."""
    return keccak(abi_encode(["bytes16", "uint32", "bytes16"], [b16(block_id), block_version, b16(fund_code)]))


@dataclass(frozen=True)
class AllocationInput:
    """A fund's allocation as posted to its trustee's book: it carries its own L1 fields."""

    block_id: str
    block_version: int
    fund_code: str
    isin: str
    side: ref.Side
    order_type: ref.OrderType
    trade_date: int
    settlement_date: int
    ordered_quantity: int
    quantity: int
    avg_price_e4: int

    @property
    def allocation_id(self) -> bytes:
        return allocation_id(self.block_id, self.block_version, self.fund_code)

    def as_abi(self) -> tuple[Any, ...]:
        return (b16(self.block_id), self.block_version, b16(self.fund_code), fixed(self.isin, 12), int(self.side),
                int(self.order_type), self.trade_date, self.settlement_date, self.ordered_quantity, self.quantity,
                self.avg_price_e4)

    def confirmation_abi(self, figures: ref.Figures, calc_method_hash: bytes = ZERO_HASH) -> tuple[Any, ...]:
        """A side's confirmation: the L1 echo of this allocation next to its figures."""
        return (b16(self.block_id), self.block_version, b16(self.fund_code), fixed(self.isin, 12), int(self.side),
                self.trade_date, self.settlement_date, self.quantity, figures.as_tuple(), calc_method_hash)


@dataclass(frozen=True)
class Allocation:
    allocation_id: bytes
    input: AllocationInput
    state: AllocState
    match_status: ref.MatchStatus
    investor_affirmed: bool
    trustee_approved: bool
    trustee_acknowledged: bool
    cancel_requested_by: str
    ssi_version: int
    profile_index: int


@dataclass(frozen=True)
class MatchResult:
    status: ref.MatchStatus
    broker_minus_investor: ref.Figures
    agreed: ref.Figures  # the adopted side's figures; zero when MISMATCHED


@dataclass(frozen=True)
class ConfirmationRecord:
    version: int  # 0 = not submitted
    figures: ref.Figures
    calc_method_hash: bytes
    voided: bool = False  # the allocation was superseded or cancelled before MATCH_AGREED



# -- trade confirmation ---------------------------------------------------------------------------


class BlockBook(Instance):
    """TradeBlockBook of one broker–investor pair: the commission schedule and the blocks."""

    CONTRACT = "TradeBlockBook"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert self.parties is not None
        self.broker, self.investor = self.parties[0], self.parties[1]

    @classmethod
    def deploy(cls, net: PostTradeNetwork, infra: Infrastructure, broker: Party, investor: Party,
               schedule: ref.Schedule | None = None) -> BlockBook:
        """Deployed by the broker, privateFor {broker, investor} (recipe step 4)."""
        schedule = schedule or ref.Schedule()
        return cls._deploy(net, broker, [broker.address, investor.address, infra.calendar.address,
                                         infra.tax_table.address, infra.trade_calculator.address,
                                         schedule.as_abi()], [broker, investor])

    # broker
    def post_execution_notice(self, broker: Party, notice: ExecutionNotice, fills: Sequence[ref.Fill]) -> Sent:
        return self.send(broker, "postExecutionNotice", notice.as_abi(), fills_abi(fills))

    def append_fills(self, broker: Party, block_id: str, fills: Sequence[ref.Fill]) -> Sent:
        return self.send(broker, "appendFills", b16(block_id), fills_abi(fills))

    def amend_execution(self, broker: Party, notice: ExecutionNotice, fills: Sequence[ref.Fill]) -> Sent:
        """The block-book step only: once allocated, the allocation books must be superseded first
        (the contract refuses otherwise); `amend_block` does the whole sequence."""
        return self.send(broker, "amendExecution", notice.as_abi(), fills_abi(fills))

    # investor
    def accept_block(self, investor: Party, block_id: str, version: int, total_quantity: int,
                     avg_price_e4: int) -> Sent:
        """The investor agrees total quantity and average price (its own figures: the contract checks)."""
        return self.send(investor, "acceptBlock", b16(block_id), version, total_quantity, avg_price_e4)

    def dispute_block(self, investor: Party, block_id: str, version: int, reason: str) -> Sent:
        return self.send(investor, "disputeBlock", b16(block_id), version, reason)

    def post_allocation(self, investor: Party, block_id: str, version: int,
                        orders: Sequence[tuple[str, int, AllocationBook]]) -> Sent:
        """(fund code, ordered quantity, the book of that fund's trustee) per fund."""
        return self.send(investor, "postAllocation", b16(block_id), version, [b16(c) for c, _, _ in orders],
                         [q for _, q, _ in orders], [b.address for _, _, b in orders])

    # either trading party
    def refresh_status(self, party: Party, block_id: str) -> Sent:
        return self.send(party, "refreshStatus", b16(block_id))

    def cancel_block(self, party: Party, block_id: str, reason: str) -> Sent:
        return self.send(party, "cancelBlock", b16(block_id), reason)

    def propose_settlement_date(self, party: Party, block_id: str, day: int) -> Sent:
        return self.send(party, "proposeSettlementDate", b16(block_id), day)

    def agree_settlement_date(self, party: Party, block_id: str, day: int) -> Sent:
        return self.send(party, "agreeSettlementDate", b16(block_id), day)

    # views
    def get_block(self, reader: Party, block_id: str) -> Block:
        b = self.read(reader, "getBlock", b16(block_id))
        return Block(block_id, b.version, BlockState(b.state), bytes(b.isin).decode(), ref.Side(b.side),
                     ref.OrderType(b.orderType), b.tradeDate, b.settlementDate, b.tradingUnit, b.totalQuantity,
                     b.avgPrice_e4, b.notional_e4, b.scheduleIndex, b.proposedSettlementDate, b.settlementProposedBy)

    def fills_of(self, reader: Party, block_id: str, version: int) -> list[ref.Fill]:
        return [ref.Fill(f.quantity, f.price_e4, bytes(f.execId).rstrip(b"\0"), bytes(f.venueMic))
                for f in self.read(reader, "fillsOf", b16(block_id), version)]

    def allocations_of(self, reader: Party, block_id: str, version: int) -> list[AllocationLine]:
        return [AllocationLine(text_of(ln.fundCode), ln.orderedQuantity, ln.allocatedQuantity, ln.allocationBook)
                for ln in self.read(reader, "allocationsOf", b16(block_id), version)]

    def fund_figures(self, reader: Party, block_id: str) -> dict[str, ref.Figures]:
        """Each fund's figures under the schedule, computed on chain by the shared calculator."""
        codes, figures = self.read(reader, "fundFigures", b16(block_id))
        return {text_of(c): figures_of(f) for c, f in zip(codes, figures, strict=True)}

    def calc_method_hash(self, reader: Party, schedule_index: int) -> bytes:
        return bytes(self.read(reader, "calcMethodHash", schedule_index))


class AllocationBook(Instance):
    """FundAllocationBook of one broker–investor–trustee triple: allocations, confirmations, matches."""

    CONTRACT = "FundAllocationBook"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert self.parties is not None
        self.broker, self.investor, self.trustee = self.parties[0], self.parties[1], self.parties[2]

    @classmethod
    def deploy(cls, net: PostTradeNetwork, broker: Party, investor: Party, trustee: Party,
               fund_registry: FundRegistry | None, ssi_registry: SsiRegistry | None,
               profile: ref.MatchingProfile | None = None, *, trustee_approval_required: bool = False,
               ssi_security_type: str = "EQU") -> AllocationBook:
        """Deployed by the investor, privateFor {broker, investor, trustee} (recipe step 5). Every
        party must also be a party of the registries the book reads, or their states would diverge."""
        parties = [broker, investor, trustee]
        for registry in (fund_registry, ssi_registry):
            if registry is None:
                continue
            held = {p.ptm_public_key for p in registry.parties or ()}
            missing = [str(p) for p in parties if p.ptm_public_key not in held]
            if registry.parties is None or missing:
                raise ValueError(f"{type(registry).__name__} {registry.address} is not private to "
                                 f"{', '.join(missing) or 'these parties'}: every party of the allocation book "
                                 f"must be a party of the registries it reads (docs/postrade.md §6)")
        profile = profile or ref.MatchingProfile()
        return cls._deploy(net, investor, [
            broker.address, investor.address, trustee.address,
            fund_registry.address if fund_registry else ZERO_ADDRESS,
            ssi_registry.address if ssi_registry else ZERO_ADDRESS,
            fixed(ssi_security_type, 4), trustee_approval_required, profile.as_abi()], parties)

    def post_allocation(self, investor: Party, allocation: AllocationInput) -> Sent:
        return self.send(investor, "postAllocation", allocation.as_abi())

    def submit_confirmation(self, party: Party, allocation: AllocationInput, figures: ref.Figures,
                            calc_method_hash: bytes = ZERO_HASH) -> Sent:
        """A side's figures with the L1 echo; the match runs when both sides are in."""
        return self.send(party, "submitConfirmation", allocation.confirmation_abi(figures, calc_method_hash))

    def affirm(self, investor: Party, alloc_id: bytes) -> Sent:
        return self.send(investor, "affirm", alloc_id)

    def trustee_approve(self, trustee: Party, alloc_id: bytes) -> Sent:
        return self.send(trustee, "trusteeApprove", alloc_id)

    def acknowledge(self, trustee: Party, alloc_id: bytes) -> Sent:
        return self.send(trustee, "acknowledge", alloc_id)

    def request_cancel(self, party: Party, alloc_id: bytes) -> Sent:
        return self.send(party, "requestCancel", alloc_id)

    def agree_cancel(self, party: Party, alloc_id: bytes) -> Sent:
        return self.send(party, "agreeCancel", alloc_id)

    def reject_cancel(self, party: Party, alloc_id: bytes) -> Sent:
        return self.send(party, "rejectCancel", alloc_id)

    def void_allocation(self, party: Party, alloc_id: bytes, superseded: bool = False) -> Sent:
        return self.send(party, "voidAllocation", alloc_id, superseded)

    def supersede_block_version(self, broker: Party, block_id: str, new_version: int) -> Sent:
        """The broker's first step of an amendment: the book's open allocations of older versions
        become SUPERSEDED and their confirmations void (refused once one is MATCH_AGREED)."""
        return self.send(broker, "supersedeBlockVersion", b16(block_id), new_version)

    def check_supersede(self, broker: Party, block_id: str, new_version: int) -> None:
        """Simulates `supersedeBlockVersion` on the broker's node (nothing sent): PostTradeError
        with the contract's reason when the book would refuse it."""
        self.read(broker, "supersedeBlockVersion", b16(block_id), new_version)

    def instruct_settlement(self, trustee: Party, alloc_id: bytes) -> Sent:
        """Records the SSI version in force for the settlement date."""
        return self.send(trustee, "instructSettlement", alloc_id)

    def report_settled(self, trustee: Party, alloc_id: bytes) -> Sent:
        return self.send(trustee, "reportSettled", alloc_id)

    # views
    def get_allocation(self, reader: Party, alloc_id: bytes) -> Allocation:
        a = self.read(reader, "getAllocation", alloc_id)
        i = a.input
        inp = AllocationInput(text_of(i.blockId), i.blockVersion, text_of(i.fundCode), bytes(i.isin).decode(),
                              ref.Side(i.side), ref.OrderType(i.orderType), i.tradeDate, i.settlementDate,
                              i.orderedQuantity, i.quantity, i.avgPrice_e4)
        return Allocation(alloc_id, inp, AllocState(a.state), ref.MatchStatus(a.matchStatus), a.investorAffirmed,
                          a.trusteeApproved, a.trusteeAcknowledged, a.cancelRequestedBy, a.ssiVersion,
                          a.profileIndex)

    def state_of(self, reader: Party, alloc_id: bytes) -> AllocState:
        return self.get_allocation(reader, alloc_id).state

    def match_of(self, reader: Party, alloc_id: bytes) -> MatchResult:
        status, diff, agreed = self.read(reader, "matchOf", alloc_id)
        return MatchResult(ref.MatchStatus(status), figures_of(diff), figures_of(agreed))

    def confirmation_of(self, reader: Party, alloc_id: bytes, broker_side: bool) -> ConfirmationRecord:
        c = self.read(reader, "confirmationOf", alloc_id, broker_side)
        return ConfirmationRecord(c.version, figures_of(c.figures), bytes(c.calcMethodHash), c.voided)

    def block_version(self, reader: Party, block_id: str) -> int:
        """The block's current version as this book knows it (older allocations cannot move)."""
        return int(self.read(reader, "blockVersion", b16(block_id)))


@dataclass(frozen=True)
class PostedAllocation:
    """A fund's allocation in its trustee's book."""

    book: AllocationBook
    input: AllocationInput
    sent: Sent | None = None

    @property
    def id(self) -> bytes:
        return self.input.allocation_id


def allocate_block(block_book: BlockBook, investor: Party, block_id: str,
                   orders: Sequence[tuple[str, int, AllocationBook]]) -> tuple[Sent, dict[str, PostedAllocation]]:
    """The investor allocates an agreed block (the schedule's method decides the quantities on
    chain), then posts each allocated fund's line, with its L1 fields, to that fund's trustee's book."""
    block = block_book.get_block(investor, block_id)
    sent = block_book.post_allocation(investor, block_id, block.version, orders)
    books = {code: book for code, _, book in orders}
    posted: dict[str, PostedAllocation] = {}
    for line in block_book.allocations_of(investor, block_id, block.version):
        allocation = AllocationInput(block_id, block.version, line.fund_code, block.isin, block.side,
                                     block.order_type, block.trade_date, block.settlement_date,
                                     line.ordered_quantity, line.allocated_quantity, block.avg_price_e4)
        book = books[line.fund_code]
        posted[line.fund_code] = PostedAllocation(book, allocation, book.post_allocation(investor, allocation))
    return sent, posted


@dataclass(frozen=True)
class Amendment:
    """What `amend_block` sent: the supersede step per allocation book, then the new version."""

    version: int
    superseded: tuple[Sent, ...]
    sent: Sent


def amend_block(block_book: BlockBook, broker: Party, notice: ExecutionNotice, fills: Sequence[ref.Fill],
                books: Sequence[AllocationBook] = ()) -> Amendment:
    """Amends a block (§2.4, TC-14): every allocation book holding a line of the current version
    first supersedes the old allocations (voiding their confirmations), then the block book takes
    the new version. The books' steps are simulated before anything is sent, so an amendment that
    one book refuses (an allocation MATCH_AGREED: cancel bilaterally and re-book, TC-13) sends
    nothing. `books` must include each book the block's lines name; a book already at the new
    version is skipped, so a failed amendment can be retried."""
    block = block_book.get_block(broker, notice.block_id)
    new_version = block.version + 1
    by_address = {book.address: book for book in books}
    needed: list[AllocationBook] = []
    if block.state == BlockState.ALLOCATED:
        for line in block_book.allocations_of(broker, notice.block_id, block.version):
            book = by_address.get(line.allocation_book)
            if book is None:
                raise ValueError(f"{line.fund_code}'s allocation book {line.allocation_book} was not given")
            if book not in needed and book.block_version(broker, notice.block_id) < new_version:
                needed.append(book)
    for book in needed:
        book.check_supersede(broker, notice.block_id, new_version)
    superseded = tuple(book.supersede_block_version(broker, notice.block_id, new_version) for book in needed)
    return Amendment(new_version, superseded, block_book.amend_execution(broker, notice, fills))
