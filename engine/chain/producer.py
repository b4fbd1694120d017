"""Building blocks while this node holds the producer role.

The producer pulls what other nodes submitted to the ordering service into its pool,
builds a block from a ready batch (payloads fetched first, outside the chain lock), and
appends it at the next height; a height another producer took first is rolled back.
A producer that cannot build (its manager is down) resigns; its pool is already durable in
the ordering service, where the next producer finds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import rlp
from eth.abc import SignedTransactionAPI
from eth_utils import keccak

from engine.abc import OrderingServiceAPI, PrivateStateAPI
from engine.chain.builder import build_block
from engine.chain.canonical import CanonicalChain
from engine.chain.importer import prefetch_payloads
from engine.chain.txpool import TxPool
from engine.errors import ChainHalted, InvalidParams, PrivacyManagerUnavailable, TransactionRejected

logger = logging.getLogger(__name__)

COINBASE = b"\x00" * 20

Decoder = Callable[[bytes], SignedTransactionAPI]


class BlockProducer:
    def __init__(self, name: str, chain: CanonicalChain, pool: TxPool, ordering: OrderingServiceAPI,
                 private: PrivateStateAPI, decode: Decoder, max_txs_per_block: int) -> None:
        self.name = name
        self.chain = chain
        self.pool = pool
        self.ordering = ordering
        self.private = private
        self.decode = decode
        self.max_txs_per_block = max_txs_per_block
        self.producing = False

    def pull_submissions(self) -> None:
        """Move what other nodes submitted into the pool; refuse for good what cannot enter."""
        refused = []
        for raw in self.ordering.take_pending(self.max_txs_per_block * 4):
            if self.pool.get(keccak(raw)) is not None:
                continue  # submitted at this node: pooled already (a transaction's hash is keccak of its bytes)
            try:
                tx = self.decode(raw)
                replaced = self.pool.admit(tx, raw, tx.sender).replaced
            except (TransactionRejected, InvalidParams) as exc:
                logger.info("dropped a forwarded transaction: %s", exc.message)
                refused.append(keccak(raw))
                continue
            if replaced is not None:
                refused.append(replaced)  # outbid by a same-nonce replacement: never to be mined
        self.ordering.acknowledge(refused)

    def produce_block(self, allow_empty: bool = False) -> None:
        """Build and append the next block from the pool's ready batch; an empty pool makes a
        block only with `allow_empty` (the node's `empty_block_interval_s` clock)."""
        # The batch and the payloads are gathered without the chain lock: RPC reads go on meanwhile.
        batch = self.pool.ready_batch(self.max_txs_per_block)
        if not batch and not allow_empty:
            return
        chain = self.chain
        txs = [p.tx for p in batch]
        prefetch_payloads(self.private, txs, f"cannot build block #{chain.head.block_number + 1}")
        with chain.lock:
            parent = chain.head
            timestamp = max(int(time.time()), parent.timestamp)
            try:
                try:
                    self.private.begin_block(parent)
                    built = build_block(chain.py_evm, parent, txs, timestamp, COINBASE)
                except PrivacyManagerUnavailable as exc:
                    raise ChainHalted(f"cannot build block #{parent.block_number + 1}: {exc.message}") from None
                chain.persist(built.block)
                self.private.finish_block(built.block)
                appended = self.ordering.append_block(built.block.number, rlp.encode(built.block))
            except BaseException:
                chain.abort()
                raise
            if not appended:
                logger.info("%s: height %d taken by another producer", self.name, built.block.number)
                chain.abort()
                return
            chain.commit(built.block, built.receipts)
            for tx, reason in built.rejected:
                logger.info("dropped transaction %s: %s", tx.hash.hex(), reason)
                self.pool.remove(tx.hash)
            self.ordering.acknowledge([bytes(tx.hash) for tx in built.block.transactions]
                                      + [bytes(tx.hash) for tx, _ in built.rejected])

    def resign(self) -> None:
        """Hand the producer role to whoever can go on (GoQuorum exits here).

        Nothing else needs handing over: every pooled transaction is still a submission in the
        ordering service (written before it was acknowledged, deleted only once mined or refused),
        so the next producer reads all of them.
        """
        if not self.producing:
            return
        self.producing = False
        self.ordering.resign()
        logger.warning("%s: resigned as block producer; %d pooled transactions stay with the ordering service",
                       self.name, len(self.pool))
