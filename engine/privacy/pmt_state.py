"""The private side of privacy marker transactions (GoQuorum's `privacyMarker` precompile).

A PMT's public side is an ordinary call (engine/chain/pmt.py). Here a party fetches the PMT's
payload from its manager, decodes the signed inner private transaction, checks it, and runs it as
any private marker through `execute_private`, so its private receipt is stored under the *inner*
transaction's hash. The PMT → inner transaction mapping is stored with the block, for
`eth_getPrivateTransactionByHash`, `eth_getPrivateTransactionReceipt` and a party's log queries
(`privacy_marker_receipt`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace

import rlp
from eth.abc import AtomicDatabaseAPI, BlockAPI, BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS

from engine.abc import PrivacyManagerClientAPI, ReceivedPayload
from engine.chain.marker import PrivateMarkerAwareLegacyTransaction, marker_payload_hash
from engine.chain.pmt import (
    InvalidInnerTransaction,
    PrivacyMarkerExecutorAPI,
    decode_inner_transaction,
    inner_problem,
    is_privacy_marker,
    precompile_active,
)
from engine.db import schema
from engine.privacy.private_state import PrivateStateManager
from engine.types import Address, Hash32, PayloadHash, ReceiptView

logger = logging.getLogger(__name__)


class PrivacyMarkerPrivateState(PrivateStateManager, PrivacyMarkerExecutorAPI):
    """`PrivateStateManager` that also runs PMTs from the genesis' `privacyPrecompileBlock` on.

    Without a precompile block (the default) it behaves exactly as its base: a call to the
    precompile address is then an ordinary call on every node.
    """

    def __init__(self, manager: PrivacyManagerClientAPI, db: AtomicDatabaseAPI,
                 precompile_block: int | None = None) -> None:
        super().__init__(manager, db)
        self.precompile_block = precompile_block
        self._markers: dict[bytes, bytes] = {}  # PMT hash → inner tx RLP, for the block under way
        self._inner_keys: set[bytes] = set()  # inner payload hashes fetched for the block under way
        self._block_thread: int | None = None

    # -- block lifecycle ---------------------------------------------------------------------
    def prefetch(self, transactions: Sequence[SignedTransactionAPI]) -> None:
        """The base's prefetch, then the PMTs' payloads, then their inner markers' payloads."""
        super().prefetch(transactions)
        if self.precompile_block is None:
            return
        keys = [key for key in (marker_payload_hash(tx) for tx in transactions if is_privacy_marker(tx))
                if key is not None]
        fresh = [k for k in dict.fromkeys(keys) if k not in self._payloads and k not in self._sent]
        if fresh:
            self._payloads.update(self.manager.receive_many([PayloadHash(k) for k in fresh]))
        inner = []
        for key in keys:
            received = self._sent.get(key) or self._payloads.get(key)
            if received is not None:
                try:
                    inner.append(decode_inner_transaction(received.payload))
                except InvalidInnerTransaction:
                    continue  # refused at execution, with a log line
        if inner:
            super().prefetch(inner)

    def begin_block(self, parent: BlockHeaderAPI) -> None:
        super().begin_block(parent)
        self._markers = {}
        self._block_thread = threading.get_ident()

    def abort_block(self) -> None:
        super().abort_block()
        self._forget_block()

    def finish_block(self, block: BlockAPI) -> None:
        in_block = self._block is not None
        super().finish_block(block)
        if in_block:
            for pmt_hash, inner in self._markers.items():
                self._db[schema.make_privacy_marker_key(pmt_hash)] = inner
        self._forget_block()

    def _forget_block(self) -> None:
        for key in self._inner_keys:
            self._payloads.pop(key, None)
            self._sent.pop(key, None)
        self._inner_keys = set()
        self._markers = {}
        self._block_thread = None

    # -- the precompile ------------------------------------------------------------------------
    def execute_privacy_marker(self, transaction: SignedTransactionAPI, public_state: StateAPI) -> None:
        """GoQuorum's `privacyMarker.Run` on this node.

        1. Only inside a block this node is executing (never for eth_call and friends), and only
           from the precompile block on.
        2. The manager's 404: not a party, nothing private happens. A manager that cannot answer
           raises PrivacyManagerUnavailable: the block halts, as for any private marker.
        3. A payload that is not a signed transaction, or an inner transaction that fails
           `inner_problem` (not private, another signer, another nonce), is logged and skipped.
        4. Otherwise the inner private marker runs through `execute_private`; its receipt is
           keyed by its own hash.
        """
        if self._block is None or self._block_thread != threading.get_ident():
            return
        if not precompile_active(int(public_state.block_number), self.precompile_block):
            return
        pmt_hash = bytes(transaction.hash)
        key = marker_payload_hash(transaction)
        if key is None:
            logger.warning("privacy marker transaction 0x%s: data is not a 64-byte manager hash; skipped",
                           pmt_hash.hex())
            return
        received: ReceivedPayload | None = self._payload_for(key)
        if received is None:
            return  # not a party
        try:
            inner = decode_inner_transaction(received.payload)
        except InvalidInnerTransaction as exc:
            logger.warning("privacy marker transaction 0x%s: its payload is not a private transaction (%s); "
                           "skipped", pmt_hash.hex(), exc)
            return
        self._markers[pmt_hash] = bytes(rlp.encode(inner))
        inner_key = marker_payload_hash(inner)
        if inner_key is not None:
            self._inner_keys.add(inner_key)
        problem = inner_problem(inner, transaction)
        if problem is not None:
            logger.warning("privacy marker transaction 0x%s: %s; its inner transaction 0x%s is skipped",
                           pmt_hash.hex(), problem, bytes(inner.hash).hex())
            return
        self.execute_private(inner, public_state)

    # -- reads ---------------------------------------------------------------------------------
    def inner_transaction(self, pmt_hash: bytes) -> SignedTransactionAPI | None:
        """The inner private transaction of a mined PMT, or None when this node was not a party
        (or the PMT's payload was no transaction)."""
        try:
            raw = bytes(self._db[schema.make_privacy_marker_key(pmt_hash)])
        except KeyError:
            return None
        return rlp.decode(raw, sedes=PrivateMarkerAwareLegacyTransaction)  # type: ignore[no-any-return]

    def privacy_marker_receipt(self, public: ReceiptView) -> ReceiptView | None:
        """The inner transaction's private receipt, read under the inner hash with the inner
        transaction's `from`/`to`, then placed at the PMT: GoQuorum derives a stored PMT receipt's
        logs from the block's transaction at that index, so receipt and logs carry the PMT's hash."""
        inner = self.inner_transaction(public.transaction_hash)
        if inner is None:
            return None
        to = None if inner.to == CREATE_CONTRACT_ADDRESS else Address(inner.to)
        keyed = replace(public, transaction_hash=Hash32(inner.hash), sender=Address(inner.sender), to=to,
                        tx_type=0, is_privacy_marker=False)
        private = self.private_receipt(keyed)
        if private is None:
            return None  # the inner transaction did not run (another signer, another nonce, ...)
        logs = tuple(replace(entry, transaction_hash=public.transaction_hash) for entry in private.logs)
        return replace(private, transaction_hash=public.transaction_hash, logs=logs)
