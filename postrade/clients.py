"""Typed Python clients for the post-trade contracts on the private network.

A `Party` is an institution's account on its node (JSON-RPC URL, address, the manager's public
key). `PostTradeNetwork` holds one web3 connection per node and the compiled contracts. Each
contract has a client class (`BlockBook`, `AllocationBook`, `FundRegistry`, `SsiRegistry`,
`SblMarketData`, `SblLoanBook`, `SblStatementBook`, and the public `Infrastructure`) whose
`deploy` follows the recipe of docs/postrade.md §7 and whose methods send one workflow step as
the acting party, or read state as a party on its own node.

Every private instance is deployed and driven with privacy flag 1 (party protection) and
`privateFor` = the instance's other parties, so the node simulates first: a revert comes back at
send time and surfaces here as `PostTradeError` carrying the contract's reason string. A send
returns once every party's node has imported the transaction and executed it successfully.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Self

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, TimeExhausted, Web3Exception, Web3RPCError

from devnet.solc import REPO_ROOT, SOLIDITY_DIR, Artifact, compile_paths
from postrade import reference as ref
from postrade.calendar_data import CALENDAR_FROM, CALENDAR_UNTIL, TAX_TABLE, holiday_days

#: Party protection (PROTOCOL.md §3): the only flag the post-trade instances use (docs/postrade.md §6).
PRIVACY_FLAG = 1
#: Gas limits of the transactions the clients send. Gas is free on this network; a limit only caps
#: a step, and the block's gas accounting counts the public marker's use, not the limit.
DEPLOY_GAS = 30_000_000
TX_GAS = 20_000_000
RECEIPT_TIMEOUT_S = 60.0
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = b"\0" * 32
POSTRADE_SOURCES = ("lib", "trade_confirmation", "securities_lending", "master_data")


def load_artifacts() -> dict[str, Artifact]:
    """The post-trade contracts compiled by the pinned solc (cached under build/solc-cache)."""
    return compile_paths([SOLIDITY_DIR / d for d in POSTRADE_SOURCES], base=REPO_ROOT)


# ---------------------------------------------------------------------------------------------
# Errors, parties, the network
# ---------------------------------------------------------------------------------------------


class PostTradeError(Exception):
    """A refused step: `reason` is the contract's revert reason, or the node's error message."""

    def __init__(self, reason: str, *, action: str = "", party: Party | None = None) -> None:
        who = f"{party.label} ({party.node})" if party is not None else ""
        super().__init__(" ".join(x for x in (who, action + ":" if action else "", reason) if x))
        self.reason = reason
        self.action = action
        self.party = party


class NotAParty(PostTradeError):
    """A read on a node that holds no state of the private instance (its node is not a party)."""


_ERROR_SELECTOR = function_signature_to_4byte_selector("Error(string)")  # require(cond, "reason") / revert("reason")
_PANIC_SELECTOR = function_signature_to_4byte_selector("Panic(uint256)")  # assert, overflow, bounds, ...


def error_string(data: bytes) -> str | None:
    """The reason string of an `Error(string)` revert payload, or None (a panic, a custom error, no data)."""
    if data[:4] != _ERROR_SELECTOR:
        return None
    try:
        return str(abi_decode(["string"], data[4:])[0])
    except (DecodingError, ValueError):  # truncated payload, bad padding, not UTF-8
        return None


def receipt_revert_reason(raw: Any) -> str | None:
    """A failed receipt's `revertReason` (0x-hex or bytes): the Error(string), `panic 0x..` for a Panic, else None."""
    data = bytes.fromhex(raw[2:]) if isinstance(raw, str) else bytes(raw)
    if data[:4] == _PANIC_SELECTOR and len(data) >= 36:
        return f"panic 0x{int.from_bytes(data[4:36], 'big'):02x}"
    return error_string(data)


def revert_reason(exc: BaseException) -> str:
    """The reason a web3 error carries: the decoded Error(string), else the node's message.

    For a Panic the node's message already names it ("execution reverted: panic: ... (0x11)").
    """
    data: Any = getattr(exc, "data", None)
    message = getattr(exc, "message", None) or str(exc)
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, Mapping) and isinstance(response.get("error"), Mapping):
        error = response["error"]
        data = error.get("data", data)
        message = str(error.get("message", message))
    if isinstance(data, str) and data.startswith("0x") and len(data) > 10:
        try:
            decoded = error_string(bytes.fromhex(data[2:]))
        except ValueError:
            decoded = None
        if decoded is not None:
            return decoded
    return str(message).removeprefix("execution reverted: ")  # a revert without a reason stays "execution reverted"


@dataclass(frozen=True)
class Party:
    """An institution's account on its node: who signs, where, and which manager key names it."""

    label: str  # "broker A", "asset manager M", ...
    node: str  # node name in network.json
    rpc_url: str
    address: str  # checksum address, unlocked on `node`
    ptm_public_key: str  # the node's manager public key (base64): what privateFor names

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], node: int | str, label: str, account: int = 0) -> Party:
        """Party on `node` (index or name) of a network.json spec, using its `account`-th account."""
        nodes = spec["nodes"]
        entry = nodes[node] if isinstance(node, int) else next(n for n in nodes if n["name"] == node)
        return cls(label, entry["name"], entry["rpc_url"], to_checksum_address(entry["accounts"][account]["address"]),
                   entry["ptm_public_key"])

    @property
    def ptm_key_bytes(self) -> bytes:
        return base64.b64decode(self.ptm_public_key)

    def __str__(self) -> str:
        return f"{self.label} ({self.node})"


def _unique_keys(parties: Iterable[Party]) -> list[str]:
    keys: list[str] = []
    for p in parties:
        if p.ptm_public_key not in keys:
            keys.append(p.ptm_public_key)
    return keys


@dataclass(frozen=True)
class Sent:
    """One transaction as sent and imported: what the tests and the demo need to follow it."""

    tx_hash: str
    payload: bytes  # what the parties execute: init code + arguments, or call data
    contract: str  # the contract created or called
    action: str
    sender: Party
    parties: tuple[Party, ...] | None  # None: a public transaction
    receipts: Mapping[str, Mapping[str, Any]]  # node name -> receipt as that node serves it

    @property
    def logs(self) -> list[Mapping[str, Any]]:
        """The logs the sender's node holds for it (a party's private logs)."""
        return list(self.receipts[self.sender.node]["logs"])


class PostTradeNetwork:
    """Web3 connections to every node of a network.json spec, and the compiled contracts."""

    def __init__(self, spec: Mapping[str, Any], artifacts: Mapping[str, Artifact] | None = None,
                 timeout: float = RECEIPT_TIMEOUT_S) -> None:
        self.spec = spec
        self.node_urls: dict[str, str] = {n["name"]: n["rpc_url"] for n in spec["nodes"]}
        self.artifacts: Mapping[str, Artifact] = artifacts if artifacts is not None else load_artifacts()
        self.timeout = timeout
        self._web3: dict[str, Web3] = {}

    def party(self, node: int | str, label: str, account: int = 0) -> Party:
        return Party.from_spec(self.spec, node, label, account)

    def web3(self, node: str | Party) -> Web3:
        name = node.node if isinstance(node, Party) else node
        if name not in self._web3:
            self._web3[name] = Web3(Web3.HTTPProvider(self.node_urls[name], request_kwargs={"timeout": 120}))
        return self._web3[name]

    def contract(self, reader: Party, name: str, address: str, decode_tuples: bool = True) -> Any:
        """The web3 contract object on `reader`'s node (struct results as named tuples)."""
        return self.web3(reader).eth.contract(address=to_checksum_address(address), abi=self.artifacts[name].abi,
                                              decode_tuples=decode_tuples)

    # -- sending ----------------------------------------------------------------------------------
    def deploy(self, sender: Party, name: str, args: Sequence[Any], parties: Sequence[Party] | None) -> Sent:
        """Deploy `name(*args)` from `sender`: public when `parties` is None, else private to them."""
        artifact = self.artifacts[name]
        data = self.web3(sender).eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(
            *args).data_in_transaction
        return self._send(sender, None, bytes.fromhex(data[2:]), parties, f"deploy {name}", DEPLOY_GAS)

    def transact(self, sender: Party, name: str, address: str, fn: str, args: Sequence[Any],
                 parties: Sequence[Party] | None) -> Sent:
        """Call `fn(*args)` of contract `name` at `address` as `sender` (private to `parties`)."""
        data = self.contract(sender, name, address).encode_abi(fn, list(args))
        return self._send(sender, address, bytes.fromhex(data[2:]), parties, fn, TX_GAS)

    def _send(self, sender: Party, to: str | None, payload: bytes, parties: Sequence[Party] | None, action: str,
              gas: int) -> Sent:
        w3 = self.web3(sender)
        tx: dict[str, Any] = {"from": sender.address, "data": "0x" + payload.hex(), "gas": gas}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if parties is not None:
            tx["privateFor"] = [k for k in _unique_keys(parties) if k != sender.ptm_public_key]
            tx["privacyFlag"] = PRIVACY_FLAG
        try:
            tx_hash = w3.eth.send_transaction(tx)  # type: ignore[arg-type]
        except (Web3RPCError, ContractLogicError) as exc:
            raise PostTradeError(revert_reason(exc), action=action, party=sender) from exc
        # every node that executes it (the parties; all nodes for a public one) must have imported it
        nodes = list(dict.fromkeys([sender.node, *(p.node for p in parties)])) if parties is not None \
            else list(self.node_urls)
        receipts = {node: self._wait_receipt(node, tx_hash, action, sender) for node in nodes}
        failed = {n: r for n, r in receipts.items() if int(r["status"]) != 1}
        if failed:
            node, receipt = next(iter(failed.items()))
            raw = receipt.get("revertReason")
            reason = receipt_revert_reason(raw) if raw else None
            diverged = "" if len(failed) == len(receipts) else f" (diverged: failed on {sorted(failed)} only)"
            raise PostTradeError(f"{reason or 'transaction failed'} on {node}{diverged}", action=action, party=sender)
        address = receipts[sender.node]["contractAddress"] if to is None else to
        return Sent(tx_hash="0x" + bytes(tx_hash).hex(), payload=payload, contract=to_checksum_address(str(address)),
                    action=action, sender=sender, parties=tuple(parties) if parties is not None else None,
                    receipts=receipts)

    def _wait_receipt(self, node: str, tx_hash: Any, action: str, sender: Party) -> Mapping[str, Any]:
        try:
            return dict(self.web3(node).eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout,
                                                                         poll_latency=0.02))
        except TimeExhausted as exc:
            raise PostTradeError(f"{node} did not import the transaction within {self.timeout:.0f} s",
                                 action=action, party=sender) from exc

    # -- reading ----------------------------------------------------------------------------------
    def call(self, reader: Party, name: str, address: str, fn: str, args: Sequence[Any]) -> Any:
        """A view as `reader` on its own node: the private state when its node is a party."""
        # web3 names a result's fields after the outputs: functions with several unnamed outputs
        # decode as plain tuples (named tuples would collapse them)
        outputs = next(e["outputs"] for e in self.artifacts[name].abi if e["type"] == "function" and e["name"] == fn)
        contract = self.contract(reader, name, address, decode_tuples=len(outputs) == 1)
        function = getattr(contract.functions, fn)(*args)
        try:
            return function.call({"from": reader.address})
        except ContractLogicError as exc:
            raise PostTradeError(revert_reason(exc), action=fn, party=reader) from exc
        except (BadFunctionCallOutput, Web3Exception) as exc:
            if not self.has_state(reader, address):
                raise NotAParty(f"{reader.node} holds no state of {name} at {address}", action=fn,
                                party=reader) from exc
            raise PostTradeError(revert_reason(exc), action=fn, party=reader) from exc

    def has_state(self, reader: Party | str, address: str) -> bool:
        """Whether `reader`'s node holds the contract (a private one only on its parties' nodes)."""
        return len(self.web3(reader).eth.get_code(to_checksum_address(address))) > 0


# ---------------------------------------------------------------------------------------------
# Encoding helpers
# ---------------------------------------------------------------------------------------------


def fixed(text: str | bytes, size: int) -> bytes:
    """A `bytesN` value: the text right-padded with zero bytes (error when longer than N)."""
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if len(raw) > size:
        raise ValueError(f"{raw!r} is longer than bytes{size}")
    return raw.ljust(size, b"\0")


def b16(text: str | bytes) -> bytes:
    return fixed(text, 16)


def text_of(raw: bytes) -> str:
    """The text of a zero-padded `bytesN` value."""
    return bytes(raw).rstrip(b"\0").decode()


def figures_of(value: Any) -> ref.Figures:
    return ref.Figures(int(value[0]), int(value[1]), int(value[2]), int(value[3]))


# ---------------------------------------------------------------------------------------------
# Enumerations (Solidity ordinals)
# ---------------------------------------------------------------------------------------------


class BlockState(IntEnum):
    NONE = 0
    NOE_POSTED = 1
    BLOCK_AGREED = 2
    BLOCK_DISPUTED = 3
    ALLOCATED = 4
    CONFIRMED = 5
    SETTLEMENT_INSTRUCTED = 6
    SETTLED = 7
    CANCELLED = 8


class AllocState(IntEnum):
    NONE = 0
    ALLOCATED = 1
    MATCHED = 2
    MATCHED_WITH_TOLERANCE = 3
    MISMATCHED = 4
    MATCH_AGREED = 5
    SETTLEMENT_INSTRUCTED = 6
    SETTLED = 7
    CANCEL_REQUESTED = 8
    CANCELLED = 9
    SUPERSEDED = 10


class FundType(IntEnum):
    INVESTMENT_TRUST = 0
    DISCRETIONARY = 1
    SPECIFIED_MONEY_TRUST = 2
    PROPRIETARY = 3


class FundState(IntEnum):
    NONE = 0
    DRAFT = 1
    PENDING_TRUSTEE = 2
    REGISTERED = 3
    ACTIVE = 4
    SUSPENDED = 5
    REDEMPTION_SCHEDULED = 6
    REDEEMED = 7


class AmlStatus(IntEnum):
    NOT_STARTED = 0
    IN_REVIEW = 1
    APPROVED = 2
    REJECTED = 3
    REVIEW_DUE = 4


class SsiState(IntEnum):
    NONE = 0
    PENDING_COUNTERPARTY_APPROVAL = 1
    ACTIVE = 2
    REJECTED = 3
    SUPERSEDED = 4
    TERMINATION_REQUESTED = 5
    TERMINATED = 6


class LoanState(IntEnum):
    NONE = 0
    PROPOSED = 1
    CONFIRMED = 2
    OPEN = 3
    RECALL_PENDING = 4
    CLOSED = 5


class RateKind(IntEnum):
    FEE = 0
    REBATE = 1


class StatementState(IntEnum):
    NONE = 0
    LENDER_SUBMITTED = 1
    MANAGER_SUBMITTED = 2
    BORROWER_SUBMITTED = 3
    MATCHED = 4
    MATCHED_WITH_TOLERANCE = 5
    MISMATCHED = 6
    PAYMENT_INSTRUCTED = 7
    PAID = 8


class Submitter(IntEnum):
    LENDER = 0
    MANAGER = 1
    BORROWER = 2


class SblAdoptSide(IntEnum):
    LENDER = 0
    BORROWER = 1


class Role(IntEnum):
    """InstitutionRegistry role bits."""

    ASSET_MANAGER = 1
    TRUST_BANK = 2
    SECURITIES_COMPANY = 4
    REGULATOR = 8
    OPERATOR = 16


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


@dataclass(frozen=True)
class FundInput:
    """Static data of a fund as the manager creates it (FundRegistry.FundInput)."""

    fund_code: str
    trustee: Party
    establishment_date: int
    asset_manager_lei: str
    trustee_lei: str
    name_ja: str = ""
    name_en: str = ""
    fund_type: FundType = FundType.INVESTMENT_TRUST
    fund_lei: str = ""
    fiscal_period_end: str = "0331"
    tax_status: str = "TAXABLE"
    giin: str = ""
    fatca_classification: str = "NFFE"
    crs_status: str = "REPORTABLE"

    def as_abi(self) -> tuple[Any, ...]:
        return (b16(self.fund_code), int(self.fund_type), self.name_ja or f"{self.fund_code} ファンド",
                self.name_en or f"{self.fund_code} Fund", self.asset_manager_lei, self.trustee_lei,
                self.trustee.address, self.fund_lei, self.establishment_date, self.fiscal_period_end,
                self.tax_status, self.giin, self.fatca_classification, self.crs_status)


@dataclass(frozen=True)
class FundRecord:
    fund_code: str
    fund_type: FundType
    state: FundState  # stored state; `FundRegistry.status_on` derives ACTIVE
    asset_manager_lei: str
    establishment_date: int
    redemption_date: int
    aml_status: AmlStatus
    version: int


@dataclass(frozen=True)
class SsiInput:
    """Standing settlement instruction of a fund for one security type (SsiRegistry.SsiInput)."""

    fund_code: str
    effective_date: int
    safekeeping_account: str
    cash_account: str
    security_type: str = "EQU"
    market: str = "JP"
    method: str = "JASDEC"
    pset: str = "JJSDJPJT"
    agent_bic: str = "MHCBJPJT"
    agent_jasdec_code: str = "12345"

    def as_abi(self) -> tuple[Any, ...]:
        return (b16(self.fund_code), fixed(self.security_type, 4), fixed(self.market, 2), fixed(self.method, 8),
                self.pset, self.agent_bic, self.agent_jasdec_code, fixed(self.safekeeping_account, 32),
                fixed(self.cash_account, 32), self.effective_date)


@dataclass(frozen=True)
class SsiRecord:
    input: SsiInput
    version: int
    state: SsiState
    registered_by: str
    approved_by: str
    termination_requested_by: str


@dataclass(frozen=True)
class Institution:
    """An InstitutionRegistry record: LEI ↔ accounts ↔ manager keys ↔ BICs / JASDEC code (§1.4)."""

    lei: str
    name_en: str
    roles: int
    parties: tuple[Party, ...]
    bics: tuple[str, ...] = ()
    jasdec_participant_code: str = ""
    corporate_number: str = ""
    name_ja: str = ""

    def as_abi(self) -> tuple[Any, ...]:
        return (self.lei, self.corporate_number, list(self.bics), self.jasdec_participant_code, self.name_ja,
                self.name_en, self.roles, [p.address for p in self.parties],
                list(dict.fromkeys(p.ptm_key_bytes for p in self.parties)))


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


# ---------------------------------------------------------------------------------------------
# Contract clients
# ---------------------------------------------------------------------------------------------


class Instance:
    """A deployed contract: public (`parties` None) or private to exactly `parties`."""

    CONTRACT: ClassVar[str]

    def __init__(self, net: PostTradeNetwork, address: str, parties: Sequence[Party] | None,
                 deployment: Sent | None = None) -> None:
        self.net = net
        self.address = to_checksum_address(address)
        self.parties: tuple[Party, ...] | None = tuple(parties) if parties is not None else None
        self.deployment = deployment

    def __repr__(self) -> str:
        scope = "public" if self.parties is None else "private to " + ", ".join(sorted({p.node for p in self.parties}))
        return f"{type(self).__name__}({self.address}, {scope})"

    @classmethod
    def _deploy(cls, net: PostTradeNetwork, sender: Party, args: Sequence[Any],
                parties: Sequence[Party] | None) -> Self:
        sent = net.deploy(sender, cls.CONTRACT, args, parties)
        return cls(net, sent.contract, parties, sent)

    def send(self, sender: Party, fn: str, *args: Any) -> Sent:
        """`fn(*args)` as `sender`; private to this instance's parties."""
        return self.net.transact(sender, self.CONTRACT, self.address, fn, args, self.parties)

    def read(self, reader: Party, fn: str, *args: Any) -> Any:
        """View `fn(*args)` on `reader`'s node (NotAParty when its node holds no state of this instance)."""
        return self.net.call(reader, self.CONTRACT, self.address, fn, args)

    def visible_to(self, reader: Party | str) -> bool:
        """Whether `reader`'s node (or the named node) holds this instance."""
        return self.net.has_state(reader, self.address)


# -- public infrastructure --------------------------------------------------------------------


class BusinessCalendar(Instance):
    CONTRACT = "BusinessCalendar"

    def is_business_day(self, reader: Party, day: int) -> bool:
        return bool(self.read(reader, "isBusinessDay", day))

    def add_business_days(self, reader: Party, day: int, n: int) -> int:
        return int(self.read(reader, "addBusinessDays", day, n))

    def set_holidays(self, admin: Party, days: Sequence[int], holiday: bool = True) -> Sent:
        return self.send(admin, "setHolidays", list(days), holiday)


class ConsumptionTaxTable(Instance):
    CONTRACT = "ConsumptionTaxTable"

    def rate_on(self, reader: Party, day: int) -> int:
        return int(self.read(reader, "rateOn", day))


class TradeCalculator(Instance):
    CONTRACT = "TradeCalculator"


class SblCalculator(Instance):
    CONTRACT = "SblCalculator"


class IdentifierChecker(Instance):
    CONTRACT = "IdentifierChecker"

    def is_valid(self, reader: Party, kind: str, value: str) -> bool:
        """kind: Isin, Lei, CorporateNumber, Bic, JasdecCode, Giin or FundCode."""
        return bool(self.read(reader, f"isValid{kind}", value))


class InstitutionRegistry(Instance):
    CONTRACT = "InstitutionRegistry"

    def register(self, admin: Party, institution: Institution) -> Sent:
        return self.send(admin, "register", institution.as_abi())

    def lei_of(self, reader: Party, account: str) -> str:
        return str(self.read(reader, "leiOfAccount", to_checksum_address(account)))

    def has_role(self, reader: Party, account: str, role: Role) -> bool:
        return bool(self.read(reader, "hasRole", to_checksum_address(account), int(role)))


@dataclass
class Infrastructure:
    """The public contracts every private instance reads (docs/postrade.md §7 step 1)."""

    admin: Party
    calendar: BusinessCalendar
    tax_table: ConsumptionTaxTable
    trade_calculator: TradeCalculator
    sbl_calculator: SblCalculator
    identifier_checker: IdentifierChecker
    institutions: InstitutionRegistry
    deployments: list[Sent] = field(default_factory=list)

    @classmethod
    def deploy(cls, net: PostTradeNetwork, admin: Party, *, holidays: Sequence[int] | None = None,
               valid_from: str = CALENDAR_FROM, valid_until: str = CALENDAR_UNTIL,
               tax_table: Sequence[tuple[str, int]] = TAX_TABLE, weekend_mask: int = ref.WEEKEND_SAT_SUN,
               year_end_closure: bool = True, institutions: Sequence[Institution] = ()) -> Infrastructure:
        """Deploy calendar, tax table, calculators, identifier checker and institution registry
        publicly from `admin`, then register `institutions`."""
        days = holiday_days() if holidays is None else list(holidays)
        calendar = BusinessCalendar._deploy(net, admin, [admin.address, weekend_mask, year_end_closure,
                                                         ref.to_day(valid_from), ref.to_day(valid_until), days], None)
        tax = ConsumptionTaxTable._deploy(net, admin, [admin.address, [ref.to_day(d) for d, _ in tax_table],
                                                       [p for _, p in tax_table]], None)
        infra = cls(admin, calendar, tax, TradeCalculator._deploy(net, admin, [], None),
                    SblCalculator._deploy(net, admin, [], None), IdentifierChecker._deploy(net, admin, [], None),
                    InstitutionRegistry._deploy(net, admin, [admin.address, True], None))
        infra.deployments = [c.deployment for c in (calendar, tax, infra.trade_calculator, infra.sbl_calculator,
                                                     infra.identifier_checker, infra.institutions)
                             if c.deployment is not None]
        for institution in institutions:
            infra.deployments.append(infra.institutions.register(admin, institution))
        return infra


# -- master data ----------------------------------------------------------------------------------

FUND_REGISTRY_DEFAULTS = (True, True, True, True, 0x18, True)  # FundRegistry.Params defaults (§5)


class FundRegistry(Instance):
    """The funds of one asset manager, private to the manager, the listed trustees and the brokers
    that trade the funds (read only)."""

    CONTRACT = "FundRegistry"

    @classmethod
    def deploy(cls, net: PostTradeNetwork, manager: Party, trustees: Sequence[Party], brokers: Sequence[Party],
               params: tuple[bool, bool, bool, bool, int, bool] = FUND_REGISTRY_DEFAULTS) -> FundRegistry:
        """Deployed by the manager, privateFor {manager, trustees, brokers}."""
        parties = [manager, *trustees, *brokers]
        return cls._deploy(net, manager, [manager.address, [t.address for t in trustees], params], parties)

    def create_fund(self, manager: Party, fund: FundInput) -> Sent:
        return self.send(manager, "createFund", fund.as_abi())

    def submit_fund(self, manager: Party, fund_code: str) -> Sent:
        return self.send(manager, "submitFund", b16(fund_code))

    def confirm_fund(self, trustee: Party, fund_code: str) -> Sent:
        return self.send(trustee, "confirmFund", b16(fund_code))

    def reject_fund(self, trustee: Party, fund_code: str, reason: str) -> Sent:
        return self.send(trustee, "rejectFund", b16(fund_code), reason)

    def suspend_fund(self, party: Party, fund_code: str, reason: str) -> Sent:
        return self.send(party, "suspendFund", b16(fund_code), reason)

    def resume_fund(self, party: Party, fund_code: str) -> Sent:
        return self.send(party, "resumeFund", b16(fund_code))

    def set_aml_status(self, party: Party, fund_code: str, status: AmlStatus, reviewed_on: int) -> Sent:
        return self.send(party, "setAmlStatus", b16(fund_code), int(status), reviewed_on)

    def register_fund(self, manager: Party, fund: FundInput) -> list[Sent]:
        """createFund → submitFund (manager) → confirmFund (the fund's trustee): REGISTERED."""
        return [self.create_fund(manager, fund), self.submit_fund(manager, fund.fund_code),
                self.confirm_fund(fund.trustee, fund.fund_code)]

    def get_fund(self, reader: Party, fund_code: str) -> FundRecord:
        f = self.read(reader, "getFund", b16(fund_code))
        return FundRecord(text_of(f.fundCode), FundType(f.fundType), FundState(f.state), f.assetManagerLei,
                          f.establishmentDate, f.redemptionDate, AmlStatus(f.amlStatus), f.version)

    def status_on(self, reader: Party, fund_code: str, day: int) -> FundState:
        return FundState(self.read(reader, "statusOn", b16(fund_code), day))

    def check_eligibility(self, reader: Party, fund_code: str, trade_date: int, settlement_date: int,
                          trustee: Party) -> tuple[bool, str]:
        ok, reason = self.read(reader, "checkEligibility", b16(fund_code), trade_date, settlement_date,
                               trustee.address)
        return bool(ok), str(reason)


class SsiRegistry(Instance):
    """SSIs of one (manager, trustee, broker), private to exactly those three."""

    CONTRACT = "SsiRegistry"

    @classmethod
    def deploy(cls, net: PostTradeNetwork, manager: Party, trustee: Party, broker: Party,
               effective_dating: bool = True, strict_identifier_case: bool = True) -> SsiRegistry:
        return cls._deploy(net, manager, [manager.address, trustee.address, broker.address, effective_dating,
                                          strict_identifier_case], [manager, trustee, broker])

    def register_ssi(self, party: Party, ssi: SsiInput) -> Sent:
        """By either settlement party → PENDING_COUNTERPARTY_APPROVAL (the new version is
        `version_count` afterwards)."""
        return self.send(party, "registerSsi", ssi.as_abi())

    def approve_ssi(self, party: Party, fund_code: str, version: int, security_type: str = "EQU") -> Sent:
        return self.send(party, "approveSsi", b16(fund_code), fixed(security_type, 4), version)

    def reject_ssi(self, party: Party, fund_code: str, version: int, security_type: str = "EQU") -> Sent:
        return self.send(party, "rejectSsi", b16(fund_code), fixed(security_type, 4), version)

    def request_termination(self, party: Party, fund_code: str, version: int, security_type: str = "EQU") -> Sent:
        return self.send(party, "requestTermination", b16(fund_code), fixed(security_type, 4), version)

    def confirm_termination(self, party: Party, fund_code: str, version: int, security_type: str = "EQU") -> Sent:
        return self.send(party, "confirmTermination", b16(fund_code), fixed(security_type, 4), version)

    def version_count(self, reader: Party, fund_code: str, security_type: str = "EQU") -> int:
        return int(self.read(reader, "versionCount", b16(fund_code), fixed(security_type, 4)))

    def get_ssi(self, reader: Party, fund_code: str, version: int, security_type: str = "EQU") -> SsiRecord:
        s = self.read(reader, "getSsi", b16(fund_code), fixed(security_type, 4), version)
        i = s.input
        ssi = SsiInput(text_of(i.fundCode), i.effectiveDate, text_of(i.safekeepingAccount), text_of(i.cashAccount),
                       text_of(i.securityType), text_of(i.market), text_of(i.method), i.pset, i.agentBic,
                       i.agentJasdecCode)
        return SsiRecord(ssi, s.version, SsiState(s.state), s.registeredBy, s.approvedBy, s.terminationRequestedBy)

    def state_on(self, reader: Party, fund_code: str, version: int, day: int, security_type: str = "EQU") -> SsiState:
        return SsiState(self.read(reader, "stateOn", b16(fund_code), fixed(security_type, 4), version, day))

    def ssi_in_force(self, reader: Party, fund_code: str, day: int, security_type: str = "EQU") -> int | None:
        found, version = self.read(reader, "ssiInForce", b16(fund_code), fixed(security_type, 4), day)
        return int(version) if found else None


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
        return ConfirmationRecord(c.version, figures_of(c.figures), bytes(c.calcMethodHash))


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
        if price_source is not None and price_source.ptm_public_key not in _unique_keys(parties):
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
