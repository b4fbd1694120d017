"""The node's canonical chain: py-evm's `Chain` over the node's database, its head and lock.

Every role of the node (importer, producer, reads) goes through this object: it resolves
block ids, persists a block and commits it with whatever the private side wrote in the
same database transaction, or rolls the block back. Every use of the py-evm chain holds
`lock`; the lock order is always chain → pool. RPC calls and state reads instead run on a
committed snapshot (`committed_header`, `snapshot_vm`) and never take the lock.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import rlp
from eth._utils.rlp import validate_imported_block_unchanged
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, StateAPI
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound, TransactionNotFound
from eth.rlp.accounts import Account as RlpAccount
from eth_utils import keccak
from trie import HexaryTrie

from engine.abc import PrivateStateAPI
from engine.chain.genesis import LEGACY_GENESIS_BASE_FEE, GenesisSpec
from engine.chain.txpool import AccountView
from engine.chain.views import receipt_views
from engine.chain.vm import PrivnetVM, make_vm_class
from engine.db import schema
from engine.db.store import NodeDatabase
from engine.errors import ChainHalted, ResourceNotFound
from engine.types import BlockId, ReceiptView

logger = logging.getLogger(__name__)

# Receipts and locations of the most recent transactions, for clients polling for their
# receipts (geth keeps 32 blocks' worth). 50,000 made a busy node's heap grow for 13 minutes
# and its full garbage collections long (bench --sustained); the store answers older ones.
RECENT_CACHE_SIZE = 8_192

CommitListener = Callable[[BlockAPI], None]


class _LRU(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


class CanonicalChain:
    """The chain a node has committed, and the block it is writing (at most one at a time)."""

    def __init__(self, chain_id: int, genesis: GenesisSpec, database: NodeDatabase, private: PrivateStateAPI) -> None:
        self.chain_id = chain_id
        self.genesis = genesis
        self.database = database
        self.private = private
        vm_class = make_vm_class(private)
        self.vm_class: type[PrivnetVM] = vm_class
        self.chain_class = Chain.configure(__name__="PrivnetChain", vm_configuration=((0, vm_class),),
                                           chain_id=chain_id)
        self.tx_builder = vm_class.get_transaction_builder()
        self.block_class = vm_class.get_block_class()
        self.lock = threading.RLock()
        self._chain = self._open()
        # The same chain over the read-only connection: it sees committed blocks only.
        self._snapshot_chain = self.chain_class(AtomicDB(self.database.reader))
        self.head: BlockHeaderAPI = self._chain.get_canonical_head()
        self._account_cache: tuple[bytes, dict[bytes, AccountView]] = (self.head.hash, {})
        self._receipts: _LRU = _LRU(RECENT_CACHE_SIZE)
        self._tx_locations: _LRU = _LRU(RECENT_CACHE_SIZE)
        self._listeners: list[CommitListener] = []

    # -- opening ---------------------------------------------------------------------------
    def _open(self) -> Chain:
        kv = self.database.kv
        marker = schema.make_genesis_marker_key()
        if marker in kv:
            chain = self.chain_class(self.database.atomic)
            stored = kv[marker]
            ours = self._genesis_hash_of_spec()
            if stored != ours and self.genesis.base_fee_per_gas != LEGACY_GENESIS_BASE_FEE:
                # A database made from the built-in dev genesis before it said base fee 0.
                legacy = replace(self.genesis, base_fee_per_gas=LEGACY_GENESIS_BASE_FEE)
                if self._genesis_hash_of_spec(legacy) == stored:
                    self.genesis, ours = legacy, stored
            if chain.get_canonical_block_header_by_number(0).hash != stored or stored != ours:
                raise ChainHalted(f"the database was created with another genesis (0x{stored.hex()}; "
                                  f"this node's genesis is 0x{ours.hex()})")
            stored_chain_id = kv.get(schema.make_chain_id_key())
            if stored_chain_id is not None and int.from_bytes(stored_chain_id, "big") != self.chain_id:
                raise ChainHalted(f"the database was created for chain id {int.from_bytes(stored_chain_id, 'big')}, "
                                  f"not {self.chain_id}")
            return chain
        chain = self.chain_class.from_genesis(self.database.atomic, self.genesis.header_params(),
                                              self.genesis.state())
        self.private.on_genesis(chain.get_canonical_head())
        kv[marker] = chain.get_canonical_head().hash
        kv[schema.make_chain_id_key()] = self.chain_id.to_bytes(8, "big")
        self.database.commit()
        return chain

    def _genesis_hash_of_spec(self, spec: GenesisSpec | None = None) -> bytes:
        """The genesis hash this node's spec gives, built on a scratch in-memory database."""
        spec = spec or self.genesis
        scratch = self.chain_class.from_genesis(AtomicDB(), spec.header_params(), spec.state())
        return bytes(scratch.get_canonical_head().hash)

    # -- writing a block (caller holds the lock) ---------------------------------------------
    @property
    def py_evm(self) -> Chain:
        """py-evm's chain object, for building and importing (caller holds the lock)."""
        return self._chain

    def persist(self, block: BlockAPI) -> None:
        """`Chain.persist_block` without its read-back of every new canonical block."""
        self._chain.validate_block(block)
        self._chain.chaindb.persist_block(block)

    def import_validated(self, block: BlockAPI) -> tuple[BlockAPI, tuple[ReceiptAPI, ...]]:
        """`Chain.import_block`: re-execute, require the result to equal the block, persist."""
        imported, receipts = self.reexecute(block)
        self.persist(imported)
        return imported, receipts

    def reexecute(self, block: BlockAPI) -> tuple[BlockAPI, tuple[ReceiptAPI, ...]]:
        """Execute `block` on its parent's state and require the result to equal it (raises
        ValidationError); nothing is persisted but the state's own trie nodes. Import and the
        private-state replay (`engine/privacy/replay.py`) both run a block through here."""
        parent = self._chain.get_block_header_by_hash(block.header.parent_hash)
        base = self._chain.create_header_from_parent(parent).copy(gas_used=block.header.gas_used)
        vm = self._chain.get_vm(base)
        imported = vm.import_block(block).block
        validate_imported_block_unchanged(imported, block)
        return imported, tuple(vm.last_receipts)

    def commit(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        """Commit a persisted block (and the private side's writes) and make it the head."""
        self.database.commit()
        self.head = block.header
        self._account_cache = (block.hash, {})
        views = receipt_views(block, receipts)
        for index, (tx, view) in enumerate(zip(block.transactions, views, strict=True)):
            self._receipts.put(tx.hash, view)
            self._tx_locations.put(tx.hash, (block.number, index))
        for listener in list(self._listeners):
            try:
                listener(block)
            except Exception:
                logger.exception("a new-block listener failed")

    def abort(self) -> None:
        """Drop the block being written: roll the database back, tell the private side."""
        self.database.rollback()
        self.private.abort_block()
        self._chain = self.chain_class(self.database.atomic)
        self.head = self._chain.get_canonical_head()

    def reload(self) -> None:
        """Forget everything read from the database: after the file was replaced under the node
        (a dev snapshot's revert, engine/dev/snapshots.py). Caller holds the lock.

        Every cache of this class must be reset here: the chain objects (py-evm memoizes per
        chain database), the head, the account, receipt and transaction-location caches.
        """
        self.database.rollback()
        self._chain = self.chain_class(self.database.atomic)
        self._snapshot_chain = self.chain_class(AtomicDB(self.database.reader))
        self.head = self._chain.get_canonical_head()
        self._account_cache = (self.head.hash, {})
        self._receipts = _LRU(RECENT_CACHE_SIZE)
        self._tx_locations = _LRU(RECENT_CACHE_SIZE)

    def on_commit(self, listener: CommitListener) -> None:
        """Call `listener(block)` after each block is committed (on the node's thread)."""
        self._listeners.append(listener)

    # -- reads -----------------------------------------------------------------------------
    def header(self, block_id: BlockId) -> BlockHeaderAPI:
        with self.lock:
            if isinstance(block_id, bytes):
                try:
                    return self._chain.get_block_header_by_hash(block_id)
                except HeaderNotFound:
                    raise ResourceNotFound(f"block {block_id.hex()} not found") from None
            if isinstance(block_id, str):
                if block_id == "earliest":
                    return self._chain.get_canonical_block_header_by_number(0)
                return self.head
            if block_id > self.head.block_number:
                raise ResourceNotFound(f"block {block_id} not found (head is {self.head.block_number})")
            return self._chain.get_canonical_block_header_by_number(block_id)

    def block(self, block_id: BlockId) -> BlockAPI | None:
        try:
            header = self.header(block_id)
        except ResourceNotFound:
            return None
        with self.lock:
            return self._chain.get_block_by_header(header)

    def vm_at(self, header: BlockHeaderAPI) -> Any:
        return self._chain.get_vm(header)

    def state_at(self, header: BlockHeaderAPI) -> StateAPI:
        return self._chain.get_vm(header).state

    # -- committed snapshot (no lock) -------------------------------------------------------
    def committed_header(self, block_id: BlockId) -> BlockHeaderAPI:
        """`header(block_id)` without the lock, read from committed data only (see SqliteReader).

        Why: a call or state read must not wait while the node-loop thread builds a block.
        """
        head = self.head
        if isinstance(block_id, bytes):
            try:
                return self._snapshot_chain.get_block_header_by_hash(block_id)
            except HeaderNotFound:
                raise ResourceNotFound(f"block {block_id.hex()} not found") from None
        if isinstance(block_id, str):
            return self._snapshot_chain.get_canonical_block_header_by_number(0) if block_id == "earliest" else head
        if block_id > head.block_number:
            raise ResourceNotFound(f"block {block_id} not found (head is {head.block_number})")
        return self._snapshot_chain.get_canonical_block_header_by_number(block_id)

    def snapshot_vm(self, header: BlockHeaderAPI) -> Any:
        """A VM at committed `header` on the read-only connection. Each VM builds its own state
        objects, so concurrent calls share nothing mutable; a write through it raises."""
        return self._snapshot_chain.get_vm(header)

    def snapshot_state(self, header: BlockHeaderAPI) -> StateAPI:
        return self.snapshot_vm(header).state

    def account_at_head(self, address: bytes) -> AccountView:
        """Nonce and balance at the committed head, without the lock (see SqliteReader).

        The cache belongs to one head (the pair is swapped in one assignment on commit), so a
        read racing a commit never takes the previous head's values for the new one.
        """
        head = self.head
        cache_head, cache = self._account_cache
        cached = cache.get(address) if cache_head == head.hash else None
        if cached is not None:
            return cached
        encoded = HexaryTrie(self.database.reader, head.state_root).get(keccak(address))
        account = rlp.decode(encoded, sedes=RlpAccount) if encoded else RlpAccount()
        view = AccountView(nonce=int(account.nonce), balance=int(account.balance))
        if cache_head == head.hash:
            cache[address] = view
        return view

    def locate(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(block number, index) of a mined transaction."""
        loc = self._tx_locations.get(tx_hash)
        if loc is not None:
            return loc  # type: ignore[no-any-return]
        with self.lock:
            try:
                number, index = self._chain.chaindb.get_transaction_index(tx_hash)
            except TransactionNotFound:
                return None
        return int(number), int(index)

    def block_receipts(self, block: BlockAPI) -> list[ReceiptView]:
        """The block's public receipts: from the recent cache, else decoded once for the block."""
        cached = [self._receipts.get(tx.hash) for tx in block.transactions]
        if all(view is not None for view in cached):
            return cached  # type: ignore[return-value]
        with self.lock:
            receipts = block.get_receipts(self._chain.chaindb)
        return receipt_views(block, receipts)

    def public_receipt(self, tx_hash: bytes) -> ReceiptView | None:
        cached = self._receipts.get(tx_hash)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        loc = self.locate(tx_hash)
        if loc is None:
            return None
        block = self.block(loc[0])
        if block is None:
            return None
        return self.block_receipts(block)[loc[1]]

    def decode_block(self, block_rlp: bytes) -> BlockAPI:
        return rlp.decode(block_rlp, sedes=self.block_class)  # type: ignore[no-any-return]
