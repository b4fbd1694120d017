"""Domain values shared by the chain node and the JSON-RPC layer.

The RPC layer turns wire hex into these (rpc/params.py) and these back into wire hex
(rpc/formatters.py); the node never sees a hex string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal, NewType

Address = NewType("Address", bytes)  # 20 bytes
Hash32 = NewType("Hash32", bytes)  # 32 bytes
PayloadHash = NewType("PayloadHash", bytes)  # 64 bytes, SHA3-512 of the manager's ciphertext
PtmPublicKey = NewType("PtmPublicKey", str)  # base64 of a 32-byte public key, as Tessera shows it

BlockTag = Literal["latest", "earliest", "pending", "safe", "finalized"]
BlockId = int | BlockTag | Hash32

PRIVATE_V_VALUES = (37, 38)


class PrivacyFlag(IntEnum):
    """GoQuorum privacy flags. `from_wire` rejects unknown values (Tessera maps them silently)."""

    STANDARD_PRIVATE = 0
    PARTY_PROTECTION = 1
    MANDATORY_RECIPIENTS = 2
    PRIVATE_STATE_VALIDATION = 3

    @classmethod
    def from_wire(cls, value: int) -> PrivacyFlag:
        try:
            return cls(value)
        except ValueError:
            raise ValueError("invalid privacy flag") from None


@dataclass(frozen=True)
class PrivateArgs:
    """The GoQuorum private fields of a transaction request."""

    private_for: tuple[PtmPublicKey, ...]
    private_from: PtmPublicKey | None = None
    privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE
    mandatory_for: tuple[PtmPublicKey, ...] = ()


@dataclass(frozen=True)
class SignedAuthorization:
    """One EIP-7702 authorization tuple of a type-4 transaction, as its signer gave it."""

    chain_id: int
    address: Address
    nonce: int
    y_parity: int
    r: int
    s: int


@dataclass(frozen=True)
class TxRequest:
    """A call, estimate or unsigned transaction request, normalised."""

    sender: Address | None = None
    to: Address | None = None
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    value: int = 0
    data: bytes = b""
    nonce: int | None = None
    chain_id: int | None = None
    tx_type: int | None = None
    access_list: tuple[tuple[Address, tuple[int, ...]], ...] = ()
    private: PrivateArgs | None = None
    authorization_list: tuple[SignedAuthorization, ...] = ()  # EIP-7702 (type 4)


@dataclass(frozen=True)
class LogView:
    address: Address
    topics: tuple[Hash32, ...]
    data: bytes
    block_number: int
    block_hash: Hash32
    transaction_hash: Hash32
    transaction_index: int
    log_index: int
    removed: bool = False


@dataclass(frozen=True)
class TransactionView:
    hash: Hash32
    tx_type: int
    sender: Address
    to: Address | None
    nonce: int
    gas: int
    value: int
    data: bytes
    v: int
    r: int
    s: int
    gas_price: int | None = None  # legacy / 2930; for 1559 the effective price once mined
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    chain_id: int | None = None
    access_list: tuple[tuple[Address, tuple[int, ...]], ...] = ()
    y_parity: int | None = None
    block_hash: Hash32 | None = None
    block_number: int | None = None
    transaction_index: int | None = None
    is_private: bool = False
    authorization_list: tuple[SignedAuthorization, ...] | None = None  # type 4 only


@dataclass(frozen=True)
class ReceiptView:
    transaction_hash: Hash32
    transaction_index: int
    block_hash: Hash32
    block_number: int
    sender: Address
    to: Address | None
    cumulative_gas_used: int
    gas_used: int
    effective_gas_price: int
    contract_address: Address | None
    logs: tuple[LogView, ...]
    logs_bloom: int
    status: int
    tx_type: int
    revert_reason: bytes | None = None
    is_private: bool = False
    is_privacy_marker: bool = False  # a PMT (to the privacy precompile): GoQuorum's isPrivacyMarkerTransaction


@dataclass(frozen=True)
class BlockView:
    number: int
    hash: Hash32
    parent_hash: Hash32
    nonce: bytes
    sha3_uncles: Hash32
    logs_bloom: int
    transactions_root: Hash32
    state_root: Hash32
    receipts_root: Hash32
    miner: Address
    difficulty: int
    extra_data: bytes
    size: int
    gas_limit: int
    gas_used: int
    timestamp: int
    mix_hash: Hash32
    base_fee_per_gas: int | None
    withdrawals_root: Hash32 | None
    blob_gas_used: int | None
    excess_blob_gas: int | None
    parent_beacon_block_root: Hash32 | None
    requests_hash: Hash32 | None
    transactions: tuple[TransactionView, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class LogFilter:
    """`eth_getLogs` / `eth_newFilter` criteria, with block ids already resolved to numbers."""

    from_block: int
    to_block: int
    addresses: tuple[Address, ...] = ()
    # one entry per topic position: None = wildcard, else any of the listed hashes
    topics: tuple[tuple[Hash32, ...] | None, ...] = ()
    block_hash: Hash32 | None = None


@dataclass(frozen=True)
class FeeHistory:
    oldest_block: int
    base_fee_per_gas: tuple[int, ...]
    gas_used_ratio: tuple[float, ...]
    reward: tuple[tuple[int, ...], ...] | None


@dataclass(frozen=True)
class AccountOverride:
    """geth's per-account state override of eth_call / eth_estimateGas / eth_createAccessList.

    `state` replaces all the account's storage; `state_diff` patches slots (never both).
    """

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: tuple[tuple[int, int], ...] | None = None
    state_diff: tuple[tuple[int, int], ...] | None = None


StateOverrides = Mapping[Address, AccountOverride]  # per account, as geth's `StateOverride`


@dataclass(frozen=True)
class AccessListResult:
    """eth_createAccessList's answer: the list, the gas a transaction carrying it uses, the VM error."""

    access_list: tuple[tuple[Address, tuple[int, ...]], ...]
    gas_used: int
    error: str | None = None


# -- eth_simulateV1 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockOverrides:
    """geth's block overrides of one simulated block; unset fields take geth's defaults."""

    number: int | None = None
    time: int | None = None
    gas_limit: int | None = None
    fee_recipient: Address | None = None
    prev_randao: Hash32 | None = None
    base_fee_per_gas: int | None = None


@dataclass(frozen=True)
class SimulatedBlockRequest:
    """One entry of `blockStateCalls`: overrides applied before its calls, which run in order."""

    block_overrides: BlockOverrides | None = None
    state_overrides: StateOverrides | None = None
    calls: tuple[TxRequest, ...] = ()


@dataclass(frozen=True)
class SimulateOptions:
    blocks: tuple[SimulatedBlockRequest, ...]
    trace_transfers: bool = False
    validation: bool = False
    return_full_transactions: bool = False


@dataclass(frozen=True)
class CallError:
    """A failed simulated call: code 3 with the revert bytes, or geth's -32015 for a VM error."""

    code: int
    message: str
    data: bytes | None = None


@dataclass(frozen=True)
class SimulatedCall:
    return_data: bytes
    logs: tuple[LogView, ...]
    gas_used: int
    max_used_gas: int  # before refunds (geth's `maxUsedGas`)
    status: int
    error: CallError | None = None


@dataclass(frozen=True)
class SimulatedBlock:
    block: BlockView
    calls: tuple[SimulatedCall, ...]
    full_transactions: bool = False
