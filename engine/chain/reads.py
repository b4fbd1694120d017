"""What a node answers about its chain: blocks, transactions, receipts, logs and account state.

Reads resolve this node's private view first, as GoQuorum does: an account that exists in
the private state is read from there, and a party sees its private receipt and logs for a
marker, and in log queries the logs of a privacy marker transaction's inner transaction (whose
receipt stays the public one). The private side is asked with the header and the public state
as arguments.

The `pending` block is a view, as geth's: the pool's ready transactions (the batch the producer
would take) in an unsealed block on top of the head. Nothing is executed or stored, so its
state root is the head's and its gas used, receipts root and bloom are those of no execution.
"""

from __future__ import annotations

import time
from typing import Any

from eth.abc import BlockAPI, StateAPI
from eth.db.trie import make_trie_root_and_nodes
from eth_bloom import BloomFilter

from engine.abc import PrivateStateAPI
from engine.chain.canonical import CanonicalChain
from engine.chain.marker import is_private_marker
from engine.chain.pmt import is_privacy_marker
from engine.chain.txpool import TxPool
from engine.chain.views import block_view, pending_block_view, transaction_view
from engine.errors import InvalidParams
from engine.types import (
    Address,
    BlockId,
    BlockView,
    FeeHistory,
    Hash32,
    LogFilter,
    LogView,
    ReceiptView,
    TransactionView,
)

MAX_LOG_RANGE = 10_000
PENDING_COINBASE = b"\x00" * 20  # the producer's (engine.chain.producer.COINBASE); geth prints it as null


class ChainReads:
    def __init__(self, chain: CanonicalChain, pool: TxPool, private: PrivateStateAPI,
                 max_txs_per_block: int = 500) -> None:
        self.chain = chain
        self.pool = pool
        self.private = private
        self.max_txs_per_block = max_txs_per_block  # the batch a producer takes: the pending block's size

    # -- chain data ------------------------------------------------------------------------
    def block_number(self) -> int:
        return int(self.chain.head.block_number)

    def get_block(self, block_id: BlockId, full_transactions: bool) -> BlockView | None:
        if block_id == "pending":
            return pending_block_view(self._pending_block(), full_transactions)
        block = self.chain.block(block_id)
        return None if block is None else block_view(block, full_transactions)

    def _pending_block(self) -> BlockAPI:
        """The next block as the producer would start it, unsealed and unexecuted (see the module doc)."""
        head = self.chain.head
        txs = [pooled.tx for pooled in self.pool.ready_batch(self.max_txs_per_block)]
        vm_class = self.chain.chain_class.get_vm_class_for_block_number(head.block_number + 1)
        header = vm_class.create_header_from_parent(
            head, timestamp=max(int(time.time()), head.timestamp), coinbase=PENDING_COINBASE,
            gas_limit=head.gas_limit, transaction_root=make_trie_root_and_nodes(txs)[0])
        return vm_class.get_block_class()(header, txs, [])  # no uncles (nor withdrawals)

    def get_transaction(self, tx_hash: Hash32) -> TransactionView | None:
        loc = self.chain.locate(tx_hash)
        if loc is None:
            pooled = self.pool.get(tx_hash)
            return transaction_view(pooled.tx) if pooled is not None else None
        return self.get_transaction_by_block(loc[0], loc[1])

    def get_transaction_by_block(self, block_id: BlockId, index: int) -> TransactionView | None:
        if block_id == "pending":
            pending = self._pending_block().transactions
            return transaction_view(pending[index]) if 0 <= index < len(pending) else None
        block = self.chain.block(block_id)
        if block is None or not 0 <= index < len(block.transactions):
            return None
        return transaction_view(block.transactions[index], block, index, _base_fee(block))

    def get_raw_transaction(self, tx_hash: Hash32) -> bytes | None:
        loc = self.chain.locate(tx_hash)
        if loc is None:
            pooled = self.pool.get(tx_hash)
            return bytes(pooled.tx.encode()) if pooled is not None else None
        return self.get_raw_transaction_by_block(loc[0], loc[1])

    def get_raw_transaction_by_block(self, block_id: BlockId, index: int) -> bytes | None:
        block = self._pending_block() if block_id == "pending" else self.chain.block(block_id)
        if block is None or not 0 <= index < len(block.transactions):
            return None
        return bytes(block.transactions[index].encode())

    def _visible_receipt(self, public: ReceiptView) -> ReceiptView:
        """This node's view: the private receipt where it is a party, else the public one."""
        if not public.is_private:
            return public
        return self.private.private_receipt(public) or public

    def _visible_logs(self, public: ReceiptView) -> tuple[LogView, ...]:
        """The logs a party's log queries see for a transaction: a marker's private ones, and for a
        PMT also its inner transaction's (GoQuorum's `GetLogs` adds the PMTs' private receipts)."""
        logs = self._visible_receipt(public).logs
        if public.is_privacy_marker:
            inner = self.private.privacy_marker_receipt(public)
            if inner is not None:
                logs += inner.logs
        return logs

    def get_receipt(self, tx_hash: Hash32) -> ReceiptView | None:
        public = self.chain.public_receipt(tx_hash)
        return None if public is None else self._visible_receipt(public)

    def get_logs(self, log_filter: LogFilter) -> list[LogView]:
        if log_filter.block_hash is not None:
            header = self.chain.header(log_filter.block_hash)
            start = end = int(header.block_number)
        else:
            start, end = log_filter.from_block, min(log_filter.to_block, self.block_number())
        if end - start > MAX_LOG_RANGE:
            raise InvalidParams(f"block range too large: {end - start + 1} blocks, limit {MAX_LOG_RANGE + 1}")
        found: list[LogView] = []
        for number in range(start, end + 1):
            block = self.chain.block(number)
            if block is None or not block.transactions:
                continue
            # Private logs are not in the public bloom: a block with markers or PMTs is always read.
            if not _bloom_may_match(int(block.header.bloom), log_filter) and not any(
                    is_private_marker(t) or is_privacy_marker(t) for t in block.transactions):
                continue
            for public in self.chain.block_receipts(block):
                found.extend(log for log in self._visible_logs(public) if _log_matches(log, log_filter))
        return found

    def fee_history(self, block_count: int, newest: BlockId,
                    reward_percentiles: tuple[float, ...] | None) -> FeeHistory:
        newest_number = int(self.chain.header(newest).block_number)
        count = max(0, min(block_count, 1024, newest_number + 1))
        oldest = newest_number - count + 1
        ratios = []
        for number in range(oldest, newest_number + 1):
            header = self.chain.header(number)
            ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
        rewards = tuple(tuple(0 for _ in reward_percentiles) for _ in range(count)) if reward_percentiles else None
        return FeeHistory(oldest_block=oldest, base_fee_per_gas=tuple(0 for _ in range(count + 1)),
                          gas_used_ratio=tuple(ratios), reward=rewards)

    # -- account state ---------------------------------------------------------------------
    # Read on a snapshot of a committed block, without the chain lock: a read never waits
    # for the block being built (see CanonicalChain.committed_header).
    def _read_state(self, address: Address, block_id: BlockId) -> StateAPI:
        """The state holding `address`: the private one when it exists there (dual state)."""
        header = self.chain.committed_header(block_id)
        public = self.chain.snapshot_state(header)
        return self.private.state_for(address, header, public) or public

    def get_balance(self, address: Address, block_id: BlockId) -> int:
        return int(self._read_state(address, block_id).get_balance(address))

    def get_nonce(self, address: Address, block_id: BlockId) -> int:
        if block_id in ("latest", "pending"):
            nonce = self.chain.account_at_head(address).nonce
        else:
            nonce = int(self.chain.snapshot_state(self.chain.committed_header(block_id)).get_nonce(address))
        if block_id == "pending":
            return self.pool.pending_nonce(address, nonce)
        return nonce

    def get_code(self, address: Address, block_id: BlockId) -> bytes:
        return bytes(self._read_state(address, block_id).get_code(address))

    def get_storage_at(self, address: Address, slot: int, block_id: BlockId) -> bytes:
        value = self._read_state(address, block_id).get_storage(address, slot)
        return int(value).to_bytes(32, "big")

    def get_storage_root(self, address: Address, block_id: BlockId) -> Hash32:
        state: Any = self._read_state(address, block_id)
        return Hash32(state._account_db._get_storage_root(address))


def _base_fee(block: BlockAPI) -> int:
    return int(getattr(block.header, "base_fee_per_gas", 0) or 0)


def _bloom_may_match(bloom: int, log_filter: LogFilter) -> bool:
    bf = BloomFilter(bloom)
    if log_filter.addresses and not any(a in bf for a in log_filter.addresses):
        return False
    for position in log_filter.topics:
        if position and not any(t in bf for t in position):
            return False
    return True


def _log_matches(log: LogView, log_filter: LogFilter) -> bool:
    if log_filter.addresses and log.address not in log_filter.addresses:
        return False
    if len(log_filter.topics) > len(log.topics):
        return False  # as geth: a null position still needs a topic there
    for i, wanted in enumerate(log_filter.topics):
        if wanted and log.topics[i] not in wanted:
            return False
    return True
