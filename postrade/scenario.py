"""The post-trade scenario of `privnet demo` and of the e2e tests, run with the clients.

Roles (DOMAIN.md §6): node1 = broker A, node2 = asset manager M, node3 = trust bank TB1 (trustee
of fund A, and the lender of the SBL agreement), node4 = broker B, the outsider whose node must see
none of it. With a fifth node, node5 = trust bank TB2, trustee of fund B (otherwise TB1 holds both
funds). With a sixth node, node6 = regulator R, a mandatory recipient (privacy flag 2) of every
private record. The platform administrator is node1's second account; its contracts are public.

One business day, as in §2-§4: both funds and their SSIs are registered; broker A executes a
block of 30,000 shares in three fills; M accepts it and allocates it (pro rata: 17,100 / 12,900);
both sides confirm each fund. The broker's system rounds commission up, so fund A matches within
tolerance (M's figures adopted); for fund B the broker first uses a stale rate (MISMATCHED), then
resubmits the shared calculator's figures (MATCHED). M affirms, the trustees instruct settlement
with the SSI in force and report it settled. A second, small block for fund A is allocated and
then amended (a corrected fill price): its version-1 allocation becomes SUPERSEDED in TB1's book,
M's confirmation of it void, and M accepts and re-allocates version 2. TB1 lends 100,000 shares to broker A from fund A;
the April statement is submitted by the lender (the contract's figures), the manager and the
borrower (reference-model figures), matches, and is paid.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from postrade import reference as ref
from postrade.calendar_data import reference_calendar, reference_tax_table
from postrade.clients import (
    AllocationBook,
    BlockBook,
    BlockState,
    ExecutionNotice,
    FundInput,
    FundRegistry,
    Infrastructure,
    Institution,
    LoanTerms,
    MatchResult,
    Party,
    PostedAllocation,
    PostTradeError,
    PostTradeNetwork,
    Role,
    SblAgreement,
    Sent,
    SsiInput,
    SsiRegistry,
    StatementFigures,
    StatementParams,
    allocate_block,
    amend_block,
    breakdown_hash,
)

CALENDAR = reference_calendar()
TAX = reference_tax_table()
ISIN = "JP3633400001"
TRADE_DATE = ref.to_day("2025-03-18")
FUND_ESTABLISHED = ref.to_day("2019-01-04")
FILLS = (ref.Fill(12_000, 28_515_000), ref.Fill(10_400, 28_520_000), ref.Fill(7_600, 28_507_000))
ORDERS = {"A": 20_000, "B": 15_000}  # 35,000 ordered, 30,000 executed: a pro-rata allocation
SCHEDULE = ref.Schedule(rate_by_order_type_e6=(1_000, 800, 600, 0))  # 0.10 % on agency orders
PROFILE = ref.MatchingProfile()  # commission ±1, tax ±1, net ±2 yen, investor adopted
BROKER_LEGACY = ref.Schedule(rate_by_order_type_e6=(1_000, 800, 600, 0),
                             commission_rounding=ref.Rounding.CEIL)  # broker A's own system rounds up
STALE_RATE_E6 = 1_200  # the rate broker A's system still had for fund B
AMEND_ORDER = 1_000  # fund A's order in the amended block
AMEND_FILLS = (ref.Fill(1_000, 28_530_000),)  # as first reported
AMENDED_FILLS = (ref.Fill(1_000, 28_525_000),)  # the fill price corrected by broker A
LOAN_START = ref.to_day("2025-04-07")
LOAN_SHARES = 100_000
FEE_RATE_E6 = 5_000  # 0.50 %
REBATE_RATE_E6 = 1_000  # 0.10 %
REFERENCE_PRICE_E4 = 25_000_000
PERIOD = 202504
SBL_PARAMS = ref.SblParams()
STATEMENT_PARAMS = StatementParams(require_manager_statement=True)  # lender, manager and borrower agree

LEIS = {"admin": "549300PLATFORM000097", "broker A": "5493001BROKERA000084", "broker B": "5493002BROKERB000081",
        "asset manager M": "549300AMMJAPAN000015", "trust bank TB1": "5493003TRUSTBK100050",
        "trust bank TB2": "5493004TRUSTBK200081", "regulator R": "549300JFSAREGUL00062"}
BICS = {"admin": "PLATJPJT", "broker A": "BRKAJPJT", "broker B": "BRKBJPJT", "asset manager M": "AMMJJPJT",
        "trust bank TB1": "TBONJPJT", "trust bank TB2": "TBTWJPJT", "regulator R": "FSAJJPJT"}
JASDEC = {"broker A": "10001", "broker B": "10002", "trust bank TB1": "20001", "trust bank TB2": "20002"}
ROLES = {"admin": Role.OPERATOR, "broker A": Role.SECURITIES_COMPANY, "broker B": Role.SECURITIES_COMPANY,
         "asset manager M": Role.ASSET_MANAGER, "trust bank TB1": Role.TRUST_BANK, "trust bank TB2": Role.TRUST_BANK,
         "regulator R": Role.REGULATOR}


def closes_for_april() -> dict[int, int]:
    """The closes the lender posts: every business day 2025-04-01..30 (deterministic values)."""
    return {d: 25_000_000 + (d * 7919 % 23) * 5_000
            for d in range(ref.to_day("2025-04-01"), ref.to_day("2025-04-30") + 1) if CALENDAR.is_business_day(d)}


def yen(value: int) -> str:
    return f"¥{value:,}"


def price(value_e4: int) -> str:
    return f"{value_e4 // 10_000:,}.{value_e4 % 10_000:04d}"


@dataclass(frozen=True)
class Cast:
    """Who is who on the network."""

    admin: Party
    broker_a: Party
    manager: Party
    trust_bank: Party
    broker_b: Party
    trust_bank_2: Party | None = None
    regulator: Party | None = None  # a mandatory recipient of every private record (DOMAIN.md §6)

    @classmethod
    def from_network(cls, net: PostTradeNetwork) -> Cast:
        count = len(net.spec["nodes"])
        if count < 4:
            raise ValueError("the post-trade scenario needs at least four nodes")
        return cls(admin=net.party(0, "admin", account=1), broker_a=net.party(0, "broker A"),
                   manager=net.party(1, "asset manager M"), trust_bank=net.party(2, "trust bank TB1"),
                   broker_b=net.party(3, "broker B"),
                   trust_bank_2=net.party(4, "trust bank TB2") if count >= 5 else None,
                   regulator=net.party(5, "regulator R") if count >= 6 else None)

    @property
    def trustee_b(self) -> Party:
        """Trustee of fund B: TB2 on a five-node network, else TB1."""
        return self.trust_bank_2 or self.trust_bank

    @property
    def per_node(self) -> list[Party]:
        """One party per node, in node order (the demo's columns)."""
        return [p for p in (self.broker_a, self.manager, self.trust_bank, self.broker_b, self.trust_bank_2,
                            self.regulator) if p]

    def institutions(self) -> list[Institution]:
        out = []
        for party in (self.admin, *self.per_node):
            label = party.label
            out.append(Institution(LEIS[label], label, int(ROLES[label]), (party,), (BICS[label],),
                                   JASDEC.get(label, "")))
        return out


@dataclass
class StepLog:
    """One sent step (or refused attempt), as the demo prints it."""

    actor: Party
    action: str
    detail: str
    outcome: str
    sent: Sent | None = None


@dataclass
class PostTradeScenario:
    """Deploys everything for `cast` and runs the day; keeps the handles and what each step did."""

    net: PostTradeNetwork
    cast: Cast
    tag: str = field(default_factory=lambda: secrets.token_hex(3).upper())
    on_step: Callable[[StepLog], None] | None = None

    steps: list[StepLog] = field(default_factory=list)
    sent: dict[str, Sent] = field(default_factory=dict)  # the key transactions, by name
    match_trail: dict[str, list[MatchResult]] = field(default_factory=dict)  # fund -> each evaluation

    def __post_init__(self) -> None:
        if self.cast.regulator is not None:  # every private record goes to the regulator too
            self.net = self.net.with_mandatory_recipients([self.cast.regulator])
        self.block_id = f"BLK-{self.tag}"
        self.amend_id = f"AMD-{self.tag}"  # the block amended in `amend`
        self.amended: dict[int, PostedAllocation] = {}  # block version -> fund A's allocation of it
        self.fills = tuple(replace(f, exec_id=f"X{self.tag}{i}".encode()) for i, f in enumerate(FILLS, start=1))
        self.funds = {"A": f"FA-{self.tag}", "B": f"FB-{self.tag}"}
        self.trustees = {"A": self.cast.trust_bank, "B": self.cast.trustee_b}
        self.loan_id = f"LN-{self.tag}"
        self.closes = closes_for_april()
        self.settlement_date = CALENDAR.add_business_days(TRADE_DATE, SCHEDULE.settlement_cycle_days)

    # -- plumbing ----------------------------------------------------------------------------------
    def _log(self, actor: Party, action: str, detail: str, outcome: str, sent: Sent | None = None,
             key: str | None = None) -> None:
        step = StepLog(actor, action, detail, outcome, sent)
        self.steps.append(step)
        if key is not None and sent is not None:
            self.sent[key] = sent
        if self.on_step is not None:
            self.on_step(step)

    def run(self) -> PostTradeScenario:
        self.deploy()
        self.register_master_data()
        self.trade()
        self.amend()
        self.lend()
        self.refusals()
        return self

    # -- 1. deployment (docs/postrade.md §7) -----------------------------------------------------
    def deploy(self) -> None:
        c, net = self.cast, self.net
        self.infra = Infrastructure.deploy(net, c.admin, institutions=c.institutions())
        self._log(c.admin, "deploy public", "calendar, tax table, calculators, identifier checker, institutions",
                  f"{len(self.infra.deployments)} public transactions", self.infra.deployments[0], "calendar")
        trustees = list(dict.fromkeys([self.trustees["A"], self.trustees["B"]]))
        # one fund registry per (manager, trustee), so a trustee never sees another trustee's funds;
        # broker A trades the funds, so it is a (read-only) party of each
        self.fund_registries: dict[str, FundRegistry] = {}
        self.ssi_registries: dict[str, SsiRegistry] = {}
        self.alloc_books: dict[str, AllocationBook] = {}
        for trustee in trustees:
            registry = FundRegistry.deploy(net, c.manager, [trustee], [c.broker_a])
            ssi = SsiRegistry.deploy(net, c.manager, trustee, c.broker_a)
            self.fund_registries[trustee.node] = registry
            self.ssi_registries[trustee.node] = ssi
            self._log(c.manager, "deploy private", f"FundRegistry + SsiRegistry for {trustee.label}",
                      _scope(registry.parties), registry.deployment, f"fund registry {trustee.node}")
        self.block_book = BlockBook.deploy(net, self.infra, c.broker_a, c.manager, SCHEDULE)
        self._log(c.broker_a, "deploy private", "TradeBlockBook (commission 0.10 %, T+2)",
                  _scope(self.block_book.parties), self.block_book.deployment, "block book")
        for trustee in trustees:
            book = AllocationBook.deploy(net, c.broker_a, c.manager, trustee, self.fund_registries[trustee.node],
                                         self.ssi_registries[trustee.node], PROFILE)
            self.alloc_books[trustee.node] = book
            self._log(c.manager, "deploy private", f"FundAllocationBook for {trustee.label}", _scope(book.parties),
                      book.deployment, f"allocation book {trustee.node}")
        self.sbl = SblAgreement.deploy(net, self.infra, c.trust_bank, c.broker_a, c.manager, SBL_PARAMS,
                                       STATEMENT_PARAMS)
        self._log(c.trust_bank, "deploy private", "SblMarketData + SblLoanBook + SblStatementBook + SblCollateralBook",
                  _scope(self.sbl.parties), self.sbl.statements.deployment, "sbl statements")

    def fund_registry(self, fund: str) -> FundRegistry:
        return self.fund_registries[self.trustees[fund].node]

    def ssi_registry(self, fund: str) -> SsiRegistry:
        return self.ssi_registries[self.trustees[fund].node]

    def alloc_book(self, fund: str) -> AllocationBook:
        return self.alloc_books[self.trustees[fund].node]

    # -- 2. master data ------------------------------------------------------------------------------
    def register_master_data(self) -> None:
        c = self.cast
        for fund, code in self.funds.items():
            trustee, registry = self.trustees[fund], self.fund_registry(fund)
            created = registry.create_fund(c.manager, FundInput(code, trustee, FUND_ESTABLISHED, LEIS[c.manager.label],
                                                                LEIS[trustee.label]))
            self._log(c.manager, "createFund", f"{code} (trustee {trustee.label})", "DRAFT", created,
                      f"fund {fund}")
            registry.submit_fund(c.manager, code)
            confirmed = registry.confirm_fund(trustee, code)
            state = registry.status_on(trustee, code, TRADE_DATE)
            self._log(trustee, "confirmFund", code, f"{state.name} on {ref.to_iso(TRADE_DATE)}", confirmed)
            ssi, account = self.ssi_registry(fund), f"{trustee.label[-3:]}-{fund}-{self.tag}"
            registered = ssi.register_ssi(c.manager, SsiInput(code, FUND_ESTABLISHED, account, f"CASH-{account}"))
            version = ssi.version_count(c.manager, code)
            self._log(c.manager, "registerSsi", f"{code}/EQU v{version} JASDEC, safekeeping {account}",
                      ssi.get_ssi(c.manager, code, version).state.name, registered, f"ssi {fund}")
            approved = ssi.approve_ssi(c.broker_a, code, version)
            self._log(c.broker_a, "approveSsi", f"{code}/EQU v{version}", ssi.get_ssi(c.broker_a, code, version)
                      .state.name, approved)

    # -- 3. trade confirmation -----------------------------------------------------------------------
    def trade(self) -> None:
        c, book = self.cast, self.block_book
        notice = ExecutionNotice(self.block_id, ISIN, ref.Side.BUY, TRADE_DATE)
        sent = book.post_execution_notice(c.broker_a, notice, self.fills)
        block = book.get_block(c.broker_a, self.block_id)
        self._log(c.broker_a, "postExecutionNotice", f"{self.block_id} BUY {block.total_quantity:,} {ISIN} in "
                  f"{len(FILLS)} fills, settles {ref.to_iso(block.settlement_date)}", block.state.name, sent, "block")
        # the investor accepts the totals its own system computes (the contract checks they agree)
        total, notional = ref.block_totals(self.fills)
        avg = ref.average_price(notional, total, SCHEDULE.avg_price_digits, SCHEDULE.avg_price_rounding)
        sent = book.accept_block(c.manager, self.block_id, block.version, total, avg)
        self._log(c.manager, "acceptBlock", f"{total:,} @ {price(avg)}", self._block_state(c.manager).name, sent)
        orders = [(self.funds[f], ORDERS[f], self.alloc_book(f)) for f in ("A", "B")]
        sent, self.posted = allocate_block(book, c.manager, self.block_id, orders)
        split = ", ".join(f"{code} {p.input.quantity:,}" for code, p in self.posted.items())
        self._log(c.manager, "postAllocation", f"ordered {sum(ORDERS.values()):,}, allocated {split}",
                  self._block_state(c.manager).name, sent, "block allocation")
        for fund in ("A", "B"):
            posted = self.posted[self.funds[fund]]
            self.sent[f"allocation {fund}"] = posted.sent  # type: ignore[assignment]
            self.match_trail[fund] = []
        self._confirm()
        for fund in ("A", "B"):
            posted = self._posted(fund)
            sent = posted.book.affirm(c.manager, posted.id)
            self._log(c.manager, "affirm", self.funds[fund], posted.book.state_of(c.manager, posted.id).name, sent)
        sent = book.refresh_status(c.broker_a, self.block_id)
        self._log(c.broker_a, "refreshStatus", self.block_id, self._block_state(c.broker_a).name, sent)
        for fund in ("A", "B"):
            posted, trustee = self._posted(fund), self.trustees[fund]
            sent = posted.book.instruct_settlement(trustee, posted.id)
            allocation = posted.book.get_allocation(trustee, posted.id)
            self._log(trustee, "instructSettlement", f"{self.funds[fund]} with SSI v{allocation.ssi_version}",
                      allocation.state.name, sent)
            sent = posted.book.report_settled(trustee, posted.id)
            self._log(trustee, "reportSettled", self.funds[fund], posted.book.state_of(trustee, posted.id).name, sent)
        sent = book.refresh_status(c.manager, self.block_id)
        self._log(c.manager, "refreshStatus", self.block_id, self._block_state(c.manager).name, sent)

    def _posted(self, fund: str) -> PostedAllocation:
        return self.posted[self.funds[fund]]

    def _block_state(self, reader: Party) -> BlockState:
        return self.block_book.get_block(reader, self.block_id).state

    def investor_figures(self, fund: str) -> ref.Figures:
        """What M's own system (the reference model) computes for the fund."""
        quantity = self._posted(fund).input.quantity
        avg = self._posted(fund).input.avg_price_e4
        return ref.fund_figures(quantity, avg, SCHEDULE.rate_by_order_type_e6[ref.OrderType.AGENCY],
                                TAX.rate_on(TRADE_DATE), ref.Side.BUY, SCHEDULE)

    def _confirm(self) -> None:
        c = self.cast
        for fund in ("A", "B"):
            posted, code, figures = self._posted(fund), self.funds[fund], self.investor_figures(fund)
            sent = posted.book.submit_confirmation(c.manager, posted.input, figures)
            self._log(c.manager, "submitConfirmation", f"{code} net {yen(figures.net_settlement_yen)}",
                      posted.book.state_of(c.manager, posted.id).name, sent, f"confirmation {fund} investor")
        # fund A: the broker's system rounds commission up → within tolerance, M's figures adopted
        a = self._posted("A")
        legacy = ref.fund_figures(a.input.quantity, a.input.avg_price_e4, BROKER_LEGACY.rate_by_order_type_e6[0],
                                  TAX.rate_on(TRADE_DATE), ref.Side.BUY, BROKER_LEGACY)
        sent = a.book.submit_confirmation(c.broker_a, a.input, legacy)
        self._record_match("A", c.broker_a, f"{self.funds['A']} net {yen(legacy.net_settlement_yen)} "
                           "(commission rounded up)", sent)
        # fund B: a stale rate first → MISMATCHED; then the shared calculator's figures → MATCHED
        b = self._posted("B")
        stale = ref.fund_figures(b.input.quantity, b.input.avg_price_e4, STALE_RATE_E6, TAX.rate_on(TRADE_DATE),
                                 ref.Side.BUY, SCHEDULE)
        sent = b.book.submit_confirmation(c.broker_a, b.input, stale)
        self._record_match("B", c.broker_a, f"{self.funds['B']} net {yen(stale.net_settlement_yen)} (stale rate "
                           f"{STALE_RATE_E6 / 10_000:.2f} %)", sent)
        shared = self.block_book.fund_figures(c.broker_a, self.block_id)[self.funds["B"]]
        block = self.block_book.get_block(c.broker_a, self.block_id)
        method = self.block_book.calc_method_hash(c.broker_a, block.schedule_index)
        sent = b.book.submit_confirmation(c.broker_a, b.input, shared, method)
        self._record_match("B", c.broker_a, f"{self.funds['B']} corrected: net {yen(shared.net_settlement_yen)} "
                           "(shared calculator)", sent)

    def _record_match(self, fund: str, actor: Party, detail: str, sent: Sent) -> None:
        posted = self._posted(fund)
        result = posted.book.match_of(actor, posted.id)
        self.match_trail[fund].append(result)
        d = result.broker_minus_investor
        diff = f" (Δ commission {d.commission_yen:+,}, tax {d.consumption_tax_yen:+,}, net {d.net_settlement_yen:+,})" \
            if result.status != ref.MatchStatus.MATCHED else ""
        self._log(actor, "submitConfirmation", detail, result.status.name + diff, sent,
                  f"confirmation {fund} broker {len(self.match_trail[fund])}")

    # -- 3b. an amendment that supersedes (DOMAIN.md §2.4, TC-14) ----------------------------------------
    def amend(self) -> None:
        """A small block for fund A, allocated, then amended: v1's allocation SUPERSEDED (its
        confirmation void, nothing of it can move), v2 accepted and re-allocated."""
        c, book, code, alloc_book = self.cast, self.block_book, self.funds["A"], self.alloc_book("A")
        notice = ExecutionNotice(self.amend_id, ISIN, ref.Side.BUY, TRADE_DATE)
        sent = book.post_execution_notice(c.broker_a, notice, AMEND_FILLS)
        self._log(c.broker_a, "postExecutionNotice", f"{self.amend_id} BUY {AMEND_ORDER:,} {ISIN} @ "
                  f"{price(AMEND_FILLS[0].price_e4)}", self._amend_state(c.broker_a), sent, "amend block")
        self.amended = {1: self._accept_and_allocate(1, AMEND_FILLS)}
        v1 = self.amended[1]
        figures = self._investor_figures_of(v1)
        sent = alloc_book.submit_confirmation(c.manager, v1.input, figures)
        self._log(c.manager, "submitConfirmation", f"{code} v1 net {yen(figures.net_settlement_yen)}",
                  alloc_book.state_of(c.manager, v1.id).name, sent, "amend confirmation v1")
        amendment = amend_block(book, c.broker_a, notice, AMENDED_FILLS, [alloc_book])
        void = alloc_book.confirmation_of(c.broker_a, v1.id, broker_side=False).voided
        self._log(c.broker_a, "supersedeBlockVersion", f"{self.amend_id} → v{amendment.version} in "
                  f"{self.trustees['A'].label}'s book", f"{code} v1 {alloc_book.state_of(c.broker_a, v1.id).name}"
                  f"{', confirmation void' if void else ''}", amendment.superseded[0], "amend supersede")
        self._log(c.broker_a, "amendExecution", f"{self.amend_id} v{amendment.version}: fill price "
                  f"{price(AMEND_FILLS[0].price_e4)} → {price(AMENDED_FILLS[0].price_e4)}",
                  self._amend_state(c.broker_a), amendment.sent, "amend execution")
        try:
            alloc_book.affirm(c.manager, v1.id)
        except PostTradeError as exc:
            self._log(c.manager, f"affirm {code} v1", "refused", f'"{exc.reason}"')
        else:  # pragma: no cover - would be a contract bug
            raise AssertionError("a superseded allocation was affirmed")
        self.amended[2] = self._accept_and_allocate(2, AMENDED_FILLS)

    def _accept_and_allocate(self, version: int, fills: tuple[ref.Fill, ...]) -> PostedAllocation:
        """M accepts the amended block's version with its own totals and allocates it to fund A."""
        c, book, code = self.cast, self.block_book, self.funds["A"]
        total, notional = ref.block_totals(fills)
        avg = ref.average_price(notional, total, SCHEDULE.avg_price_digits, SCHEDULE.avg_price_rounding)
        sent = book.accept_block(c.manager, self.amend_id, version, total, avg)
        self._log(c.manager, "acceptBlock", f"{self.amend_id} v{version}: {total:,} @ {price(avg)}",
                  self._amend_state(c.manager), sent)
        sent, posted = allocate_block(book, c.manager, self.amend_id, [(code, AMEND_ORDER, self.alloc_book("A"))])
        self.sent[f"amend allocation v{version}"] = posted[code].sent  # type: ignore[assignment]
        self._log(c.manager, "postAllocation", f"{self.amend_id} v{version}: {code} {posted[code].input.quantity:,}",
                  self._amend_state(c.manager), sent)
        return posted[code]

    def _amend_state(self, reader: Party) -> str:
        block = self.block_book.get_block(reader, self.amend_id)
        return f"{block.state.name} v{block.version}"

    @staticmethod
    def _investor_figures_of(posted: PostedAllocation) -> ref.Figures:
        i = posted.input
        return ref.fund_figures(i.quantity, i.avg_price_e4, SCHEDULE.rate_by_order_type_e6[ref.OrderType.AGENCY],
                                TAX.rate_on(TRADE_DATE), ref.Side.BUY, SCHEDULE)

    # -- 4. securities lending -------------------------------------------------------------------------
    def loan_terms(self) -> LoanTerms:
        return LoanTerms(self.loan_id, self.funds["A"], ISIN, LOAN_START, LOAN_SHARES, REFERENCE_PRICE_E4,
                         FEE_RATE_E6, REBATE_RATE_E6)

    def reference_loan(self) -> ref.LoanModel:
        """The loan as the manager's and the borrower's systems model it (reference.py)."""
        cash = ref.required_collateral(LOAN_SHARES, REFERENCE_PRICE_E4, SBL_PARAMS.default_margin_e6)
        return ref.LoanModel(ISIN, LOAN_START, ref.CollateralType.CASH, [(LOAN_START, LOAN_SHARES)],
                             [(LOAN_START, cash)], [(LOAN_START, FEE_RATE_E6)], [(LOAN_START, REBATE_RATE_E6)])

    def reference_statement(self) -> tuple[StatementFigures, bytes]:
        loan = self.reference_loan()
        figures = ref.period_figures(loan, PERIOD, SBL_PARAMS, self.closes, CALENDAR)
        days = ref.breakdown(loan, PERIOD, SBL_PARAMS, self.closes, CALENDAR)
        return StatementFigures.of(figures), breakdown_hash(days)

    def lend(self) -> None:
        c, sbl = self.cast, self.sbl
        sent = sbl.market.post_prices(c.trust_bank, ISIN, self.closes)
        self._log(c.trust_bank, "postPrices", f"{ISIN}: {len(self.closes)} closes, April 2025", "posted", sent)
        opened = sbl.open_loan(c.broker_a, self.loan_terms())
        loan = sbl.loans.get_loan(c.trust_bank, self.loan_id)
        self._log(c.broker_a, "proposeLoan", f"{self.loan_id}: {LOAN_SHARES:,} sh from {self.funds['A']}, fee "
                  f"{FEE_RATE_E6 / 10_000:.2f} %, rebate {REBATE_RATE_E6 / 10_000:.2f} %", "PROPOSED", opened[0],
                  "loan")
        self._log(c.trust_bank, "confirmTerms", f"{self.loan_id}, cash collateral {yen(loan.initial_cash_yen)}",
                  "CONFIRMED", opened[1])
        self._log(c.trust_bank, "reportDelivery", f"{self.loan_id} on {ref.to_iso(LOAN_START)}", loan.state.name,
                  opened[2])
        statements = sbl.statements
        sent = statements.submit_computed_statement(c.trust_bank, self.loan_id, PERIOD)
        view = statements.period_figures(c.trust_bank, self.loan_id, PERIOD)
        self._log(c.trust_bank, "submitComputedStatement", f"{self.loan_id} {PERIOD}: fee {yen(view.figures.fee_yen)}"
                  f", interest {yen(view.figures.collateral_interest_yen)}, {view.accrual_days} days",
                  statements.get_statement(c.trust_bank, self.loan_id, PERIOD).state.name, sent, "statement lender")
        figures, hashed = self.reference_statement()
        for party, key in ((c.manager, "statement manager"), (c.broker_a, "statement borrower")):
            sent = statements.submit_statement(party, self.loan_id, PERIOD, figures, hashed)
            self._log(party, "submitStatement", f"{self.loan_id} {PERIOD}: net {yen(figures.net_yen)} (own system)",
                      statements.get_statement(party, self.loan_id, PERIOD).state.name, sent, key)
        payer, payee = (c.broker_a, c.trust_bank) if figures.net_yen >= 0 else (c.trust_bank, c.broker_a)
        sent = statements.instruct_payment(payer, self.loan_id, PERIOD)
        statement = statements.get_statement(payer, self.loan_id, PERIOD)
        self._log(payer, "instructPayment", f"{yen(statement.agreed.net_yen)} on {ref.to_iso(statement.payment_date)}",
                  statement.state.name, sent)
        sent = statements.confirm_payment(payee, self.loan_id, PERIOD)
        self._log(payee, "confirmPayment", f"{self.loan_id} {PERIOD}",
                  statements.get_statement(payee, self.loan_id, PERIOD).state.name, sent)

    # -- 5. refused attempts ---------------------------------------------------------------------------
    def refusals(self) -> None:
        """A wrong party's attempt is refused at send time with the contract's reason; an outsider's
        node has no code to simulate against."""
        c, a, code = self.cast, self._posted("A"), self.funds["A"]
        attempts: list[tuple[Party, str, Callable[[], Sent]]] = [
            (self.trustees["A"], "requestCancel " + code, lambda: a.book.request_cancel(self.trustees["A"], a.id)),
            (c.broker_a, "confirmFund " + code, lambda: self.fund_registry("A").confirm_fund(c.broker_a, code)),
            (c.manager, "postPrices " + ISIN, lambda: self.sbl.market.post_prices(c.manager, ISIN, {LOAN_START: 1})),
            (c.broker_b, "cancelBlock " + self.block_id, lambda: self.block_book.cancel_block(
                c.broker_b, self.block_id, "not mine")),
        ]
        for actor, action, attempt in attempts:
            try:
                attempt()
            except PostTradeError as exc:
                self._log(actor, action, "refused", f'"{exc.reason}"')
            else:  # pragma: no cover - would be a contract bug
                raise AssertionError(f"{actor} could {action}")

    # -- what each node sees ------------------------------------------------------------------------------
    def visibility(self) -> tuple[list[str], list[tuple[str, list[str]]]]:
        """(column headers, rows): per record, what each node reads from its own state; "—" where
        the node holds no state of it (not a party)."""
        readers = self.cast.per_node
        rows: list[tuple[str, list[str]]] = []

        def row(label: str, holder: object, read: Callable[[Party], str]) -> None:
            cells = []
            for reader in readers:
                visible = holder.visible_to(reader)  # type: ignore[attr-defined]
                cells.append(read(reader) if visible else "—")
            rows.append((label, cells))

        cal = self.infra.calendar
        row(f"calendar: T+2 of {ref.to_iso(TRADE_DATE)}", cal,
            lambda r: ref.to_iso(cal.add_business_days(r, TRADE_DATE, 2)))
        for fund in ("A", "B"):
            registry, code = self.fund_registry(fund), self.funds[fund]
            row(f"fund {code}", registry, lambda r, reg=registry, cd=code: reg.status_on(r, cd, TRADE_DATE).name)
        for fund in ("A", "B"):
            ssi, code = self.ssi_registry(fund), self.funds[fund]

            def read_ssi(r: Party, s: SsiRegistry = ssi, cd: str = code) -> str:
                version = s.ssi_in_force(r, cd, self.settlement_date)
                return "none" if version is None else f"{s.get_ssi(r, cd, version).state.name} v{version}"

            row(f"SSI {code}/EQU", ssi, read_ssi)
        book = self.block_book
        row(f"block {self.block_id}", book, lambda r: f"{book.get_block(r, self.block_id).state.name} "
            f"{book.get_block(r, self.block_id).total_quantity:,}")
        for fund in ("A", "B"):
            posted = self._posted(fund)

            def read_alloc(r: Party, p: PostedAllocation = posted) -> str:
                allocation = p.book.get_allocation(r, p.id)
                agreed = p.book.match_of(r, p.id).agreed
                return f"{allocation.state.name} {yen(agreed.net_settlement_yen)}"

            row(f"allocation {self.funds[fund]}", posted.book, read_alloc)
        row(f"block {self.amend_id}", book, lambda r: self._amend_state(r))
        for version, amended in self.amended.items():  # the amendment: v1 SUPERSEDED, v2 at the new price

            def read_amended(r: Party, p: PostedAllocation = amended) -> str:
                return f"{p.book.state_of(r, p.id).name} @ {price(p.input.avg_price_e4)}"

            row(f"allocation {self.amend_id}/v{version} {self.funds['A']}", amended.book, read_amended)
        st = self.sbl.statements

        def read_statement(r: Party) -> str:
            statement = st.get_statement(r, self.loan_id, PERIOD)
            return f"{statement.state.name} {yen(statement.agreed.net_yen)}"

        row(f"SBL {self.loan_id} {PERIOD // 100}-{PERIOD % 100:02d}", st, read_statement)
        headers = [f"{p.node} {p.label}" for p in readers]
        return headers, rows


def _scope(parties: tuple[Party, ...] | None) -> str:
    if parties is None:
        return "public"
    return "private to " + ", ".join(dict.fromkeys(p.node for p in parties))
