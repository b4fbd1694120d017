"""A hand-written in-memory `NodeAPI` for the RPC layer's unit tests.

It holds a small chain of `BlockView`s that a test can extend, answers reads from plain
dicts, and keeps what was submitted. It executes nothing: the integration tests run the
real node.
"""

from __future__ import annotations

from collections.abc import Callable

from eth_utils import keccak

from engine.abc import EnhancedPrivacyMetadata, NodeAPI, PrivateTransactionsAPI, ReceivedPayload
from engine.errors import ExecutionReverted, ResourceNotFound, TransactionRejected
from engine.types import (
    AccessListResult,
    Address,
    BlockId,
    BlockView,
    FeeHistory,
    Hash32,
    LogFilter,
    LogView,
    PayloadHash,
    PrivacyFlag,
    PtmPublicKey,
    ReceiptView,
    TransactionView,
    TxRequest,
)

ALICE = Address(bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"))
BOB = Address(bytes.fromhex("fb6916095ca1df60bb79ce92ce3ea74c37c5d359"))
CONTRACT = Address(bytes.fromhex("dbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"))
TOPIC_A = Hash32(keccak(b"A"))
TOPIC_B = Hash32(keccak(b"B"))


def block_hash(number: int) -> Hash32:
    return Hash32(keccak(b"block" + number.to_bytes(8, "big")))


def tx_hash(number: int, index: int) -> Hash32:
    return Hash32(keccak(b"tx" + number.to_bytes(8, "big") + index.to_bytes(4, "big")))


def make_tx(number: int, index: int, *, mined: bool = True) -> TransactionView:
    return TransactionView(
        hash=tx_hash(number, index), tx_type=2, sender=ALICE, to=CONTRACT, nonce=index, gas=50_000,
        value=0, data=b"\x60\xfe\x47\xb1", v=1, r=2**255 + 1, s=7, gas_price=1_000_000_000,
        max_fee_per_gas=2_000_000_000, max_priority_fee_per_gas=1, chain_id=1337,
        access_list=((BOB, (0, 1)),), y_parity=1,
        block_hash=block_hash(number) if mined else None, block_number=number if mined else None,
        transaction_index=index if mined else None,
    )


def make_log(number: int, index: int, topics: tuple[Hash32, ...] = (TOPIC_A,),
             address: Address = CONTRACT) -> LogView:
    return LogView(address=address, topics=topics, data=b"\x00" * 31 + b"\x2a", block_number=number,
                   block_hash=block_hash(number), transaction_hash=tx_hash(number, 0), transaction_index=0,
                   log_index=index)


def make_block(number: int, tx_count: int = 1) -> BlockView:
    return BlockView(
        number=number, hash=block_hash(number), parent_hash=block_hash(number - 1) if number else Hash32(b"\0" * 32),
        nonce=b"\0" * 8, sha3_uncles=Hash32(keccak(b"\xc0")), logs_bloom=1 << 2047,
        transactions_root=Hash32(b"\x11" * 32), state_root=Hash32(b"\x22" * 32),
        receipts_root=Hash32(b"\x33" * 32), miner=BOB, difficulty=0, extra_data=b"privnet", size=600,
        gas_limit=100_000_000, gas_used=21_000 * tx_count, timestamp=1_700_000_000 + number,
        mix_hash=Hash32(b"\0" * 32), base_fee_per_gas=7, withdrawals_root=Hash32(b"\x44" * 32),
        blob_gas_used=0, excess_blob_gas=0, parent_beacon_block_root=Hash32(b"\0" * 32), requests_hash=None,
        transactions=tuple(make_tx(number, i) for i in range(tx_count)),
    )


class FakeNode(NodeAPI, PrivateTransactionsAPI):
    """Fixed chain data in dicts; `grow()` appends a block with one transaction and one log.

    It also stands in for the privacy service (what was sent privately is kept beside the rest)."""

    def __init__(self, chain_id: int = 1337, blocks: int = 3) -> None:
        self.chain_id = chain_id
        self.blocks: list[BlockView] = []
        self.logs: list[LogView] = []
        self.balances: dict[Address, int] = {ALICE: 10**21}
        self.code: dict[Address, bytes] = {CONTRACT: b"\x60\x00"}
        self.sent_raw: list[bytes] = []
        self.sent: list[TxRequest] = []
        self.sent_private: list[tuple[bytes, tuple[PtmPublicKey, ...], PrivacyFlag, tuple[PtmPublicKey, ...]]] = []
        self.calls: list[tuple[TxRequest, BlockId]] = []
        self.payloads: dict[bytes, bytes] = {}
        self.privacy_metadata: dict[Address, dict[str, object]] = {}
        self.payload_extras: dict[bytes, ReceivedPayload] = {}
        self.log_queries: list[LogFilter] = []
        self.fail_with: Exception | None = None
        self.block_subscribers: list[Callable[[BlockView], None]] = []
        self.pending_subscribers: list[Callable[[Hash32], None]] = []
        for _ in range(blocks):
            self.grow()

    # -- test controls -----------------------------------------------------------
    def grow(self, topics: tuple[Hash32, ...] = (TOPIC_A,)) -> BlockView:
        number = len(self.blocks)
        block = make_block(number, tx_count=1 if number else 0)
        self.blocks.append(block)
        if number:
            self.logs.append(make_log(number, 0, topics))
        return block

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def _resolve(self, block_id: BlockId) -> BlockView | None:
        if isinstance(block_id, bytes):
            return next((b for b in self.blocks if b.hash == block_id), None)
        if isinstance(block_id, int):
            return self.blocks[block_id] if block_id < len(self.blocks) else None
        return self.blocks[0] if block_id == "earliest" else self.blocks[-1]

    def _state_block(self, block_id: BlockId) -> BlockView:
        block = self._resolve(block_id)
        if block is None:
            raise ResourceNotFound("header not found")
        return block

    # -- NodeAPI -----------------------------------------------------------------
    def block_number(self) -> int:
        self._maybe_fail()
        return len(self.blocks) - 1

    def get_block(self, block_id: BlockId, full_transactions: bool) -> BlockView | None:
        self._maybe_fail()
        return self._resolve(block_id)

    def get_transaction(self, tx_hash_: Hash32) -> TransactionView | None:
        for block in self.blocks:
            for tx in block.transactions:
                if tx.hash == tx_hash_:
                    return tx
        return None

    def get_transaction_by_block(self, block_id: BlockId, index: int) -> TransactionView | None:
        block = self._resolve(block_id)
        if block is None or index >= len(block.transactions):
            return None
        return block.transactions[index]

    def get_receipt(self, tx_hash_: Hash32) -> ReceiptView | None:
        tx = self.get_transaction(tx_hash_)
        if tx is None or tx.block_number is None or tx.block_hash is None or tx.transaction_index is None:
            return None
        logs = tuple(log for log in self.logs if log.transaction_hash == tx_hash_)
        return ReceiptView(
            transaction_hash=tx.hash, transaction_index=tx.transaction_index, block_hash=tx.block_hash,
            block_number=tx.block_number, sender=tx.sender, to=tx.to, cumulative_gas_used=21_000,
            gas_used=21_000, effective_gas_price=8, contract_address=None, logs=logs, logs_bloom=0,
            status=1, tx_type=tx.tx_type,
        )

    def get_logs(self, log_filter: LogFilter) -> list[LogView]:
        self.log_queries.append(log_filter)
        out = []
        for log in self.logs:
            if not log_filter.from_block <= log.block_number <= log_filter.to_block:
                continue
            if log_filter.addresses and log.address not in log_filter.addresses:
                continue
            if any(
                want is not None and (i >= len(log.topics) or log.topics[i] not in want)
                for i, want in enumerate(log_filter.topics)
            ):
                continue
            out.append(log)
        return out

    def get_balance(self, address: Address, block_id: BlockId) -> int:
        self._state_block(block_id)
        return self.balances.get(address, 0)

    def get_nonce(self, address: Address, block_id: BlockId) -> int:
        if block_id != "pending":
            self._state_block(block_id)
        return 5 if block_id == "pending" else 4

    def get_code(self, address: Address, block_id: BlockId) -> bytes:
        self._state_block(block_id)
        return self.code.get(address, b"")

    def get_storage_at(self, address: Address, slot: int, block_id: BlockId) -> bytes:
        self._state_block(block_id)
        return slot.to_bytes(32, "big")

    def get_storage_root(self, address: Address, block_id: BlockId) -> Hash32:
        self._state_block(block_id)
        return Hash32(keccak(address))

    def call(self, request: TxRequest, block_id: BlockId, overrides: object = None) -> bytes:
        self._maybe_fail()
        self.calls.append((request, block_id))
        if request.data == b"revert":
            raise ExecutionReverted("unlucky number", b"\x08\xc3\x79\xa0")
        return request.data[::-1]

    def estimate_gas(self, request: TxRequest, block_id: BlockId, overrides: object = None) -> int:
        self.calls.append((request, block_id))
        return 21_000 + 16 * len(request.data)

    def simulate_private_send(self, request: TxRequest, nonce: int) -> EnhancedPrivacyMetadata:
        self.calls.append((request, "latest"))
        return EnhancedPrivacyMetadata()  # this fake has no private state: nothing is affected

    def create_access_list(self, request: TxRequest, block_id: BlockId, overrides: object = None) -> AccessListResult:
        self.calls.append((request, block_id))
        return AccessListResult(access_list=request.access_list, gas_used=21_000 + 16 * len(request.data))

    def simulate(self, options: object, block_id: BlockId) -> list[object]:
        self.calls.append((options, block_id))
        return []

    def send_transaction(self, request: TxRequest) -> Hash32:
        self._maybe_fail()
        self.sent.append(request)
        return Hash32(keccak(repr(request).encode()))

    def send_raw_transaction(self, raw: bytes) -> Hash32:
        self._maybe_fail()
        if raw.startswith(b"\xde\xad"):
            raise TransactionRejected("nonce too low")
        self.sent_raw.append(raw)
        return Hash32(keccak(raw))

    def send_raw_private_transaction(self, raw: bytes, private_for: tuple[PtmPublicKey, ...],
                                     privacy_flag: PrivacyFlag,
                                     mandatory_for: tuple[PtmPublicKey, ...]) -> Hash32:
        self.sent_private.append((raw, private_for, privacy_flag, mandatory_for))
        return Hash32(keccak(raw))

    def accounts(self) -> list[Address]:
        return [ALICE, BOB]

    def gas_price(self) -> int:
        return 1_000_000_007

    def max_priority_fee(self) -> int:
        return 1_000_000_000

    def fee_history(self, block_count: int, newest: BlockId,
                    reward_percentiles: tuple[float, ...] | None) -> FeeHistory:
        last = self._state_block(newest).number
        first = max(0, last - block_count + 1)
        n = last - first + 1
        reward = None if reward_percentiles is None else tuple(
            tuple(int(p) for p in reward_percentiles) for _ in range(n))
        return FeeHistory(oldest_block=first, base_fee_per_gas=(7,) * (n + 1), gas_used_ratio=(0.5,) * n,
                          reward=reward)

    def get_quorum_payload(self, payload_hash: PayloadHash) -> bytes | None:
        return self.payloads.get(payload_hash)

    def get_quorum_payload_extra(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        return self.payload_extras.get(payload_hash)

    def get_contract_privacy_metadata(self, address: Address) -> dict[str, object] | None:
        return self.privacy_metadata.get(address)

    def subscribe_new_blocks(self, callback: Callable[[BlockView], None]) -> None:
        self.block_subscribers.append(callback)

    def subscribe_pending_transactions(self, callback: Callable[[Hash32], None]) -> None:
        self.pending_subscribers.append(callback)

    def get_raw_transaction(self, tx_hash_: Hash32) -> bytes | None:
        return None if self.get_transaction(tx_hash_) is None else b"\x02raw" + tx_hash_

    def get_raw_transaction_by_block(self, block_id: BlockId, index: int) -> bytes | None:
        block = self._resolve(block_id)
        if block is None or index >= len(block.transactions):
            return None
        return b"\x02raw" + block.transactions[index].hash

    def sign_message(self, signer: Address, message: bytes) -> bytes:
        if signer not in self.accounts():
            raise TransactionRejected("unknown account")
        return keccak(signer + message) * 2 + b"\x1b"

    def sign_transaction(self, request: TxRequest) -> bytes:
        raise TransactionRejected("unknown account")

    def fill_unsigned(self, request: TxRequest) -> bytes:
        raise TransactionRejected("not in the fake")

    def fill_transaction(self, request: TxRequest) -> bytes:
        raise TransactionRejected("not in the fake")
