"""The chain node: one py-evm chain over a crash-safe store, a pool, a producer loop.

Threads: RPC handlers call in from a thread pool; one `node-loop` thread imports blocks
from the ordering service and, when this node is the producer, builds blocks. Every use
of the chain holds `_chain_lock`; lock order is always chain → pool.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import rlp
from eth._utils.rlp import validate_imported_block_unchanged
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth.chains.base import Chain
from eth.constants import CREATE_CONTRACT_ADDRESS, SECPK1_N
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound, Revert, TransactionNotFound, VMError
from eth.rlp.accounts import Account as RlpAccount
from eth.vm.spoof import SpoofTransaction
from eth_account import Account
from eth_utils import ValidationError, keccak, to_checksum_address
from trie import HexaryTrie

from engine.abc import NodeAPI, OrderingServiceAPI, ReceivedPayload
from engine.chain.builder import build_block
from engine.chain.genesis import DevAccount, GenesisSpec, derive_dev_accounts, dev_genesis
from engine.chain.txpool import AccountView, TxPool
from engine.chain.views import block_view, receipt_views, transaction_view
from engine.chain.vm import PrivnetVM, make_vm_class
from engine.config import NodeSettings
from engine.db import schema
from engine.db.store import SqliteKV, SqliteReader
from engine.errors import (
    ChainHalted,
    ExecutionReverted,
    InvalidParams,
    PrivacyManagerUnavailable,
    ResourceNotFound,
    TransactionRejected,
)
from engine.revert import decode_revert_reason
from engine.types import (
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

logger = logging.getLogger(__name__)

RECENT_CACHE_SIZE = 50_000
MAX_LOG_RANGE = 10_000
RESIGN_PAUSE_S = 3.0


class _LRU(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


class Node(NodeAPI):
    """A node of the network; `Node.open(settings)` then `start()`."""

    def __init__(self, settings: NodeSettings, genesis: GenesisSpec, unlocked: list[DevAccount],
                 ordering: OrderingServiceAPI, privacy: Any = None) -> None:
        self.settings = settings
        self.chain_id = settings.chain_id
        self.genesis = genesis
        self.ordering = ordering
        self.privacy = privacy  # engine.privacy.PrivacyLayer (None: this node has no manager)
        self._unlocked = {a.address: a for a in unlocked}
        self.dev_accounts = [(a.address, a.private_key) for a in unlocked]
        self.store = SqliteKV(settings.data_dir / "chain.sqlite")
        self._db = AtomicDB(self.store)
        self._reader = SqliteReader(self.store.path)
        if privacy is not None:
            privacy.bind(self)
        vm_class = make_vm_class(privacy.executor if privacy is not None else None)
        self._vm_class: type[PrivnetVM] = vm_class
        self._chain_class = Chain.configure(__name__="PrivnetChain", vm_configuration=((0, vm_class),),
                                            chain_id=settings.chain_id)
        self._tx_builder = vm_class.get_transaction_builder()
        self._block_class = vm_class.get_block_class()
        self._chain_lock = threading.RLock()
        self._chain = self._open_chain()
        self._head: BlockHeaderAPI = self._chain.get_canonical_head()
        self.pool = TxPool(self._account_at_head, settings.block_gas_limit, settings.txpool_max_size,
                           settings.txpool_max_gap)
        self._account_cache: dict[bytes, AccountView] = {}
        self._receipts: _LRU = _LRU(RECENT_CACHE_SIZE)
        self._tx_locations: _LRU = _LRU(RECENT_CACHE_SIZE)
        self._subscribers: list[Callable[[BlockView], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.halted: str | None = None
        self._halted_at = 0.0
        self._last_block_at = 0.0
        self._producing = False
        self._sender_locks: dict[bytes, threading.Lock] = {}
        self._sender_locks_guard = threading.Lock()

    # -- construction ------------------------------------------------------------------
    @classmethod
    def open(cls, settings: NodeSettings, ordering: OrderingServiceAPI | None = None,
             privacy: Any = None) -> Node:
        """Open (or create) the node's database; dev genesis unless settings name a genesis file."""
        from engine.ordering import open_ordering

        if settings.genesis_file is not None:
            genesis = GenesisSpec.load(settings.genesis_file)
            if genesis.chain_id != settings.chain_id:
                raise ValueError(f"genesis chain id {genesis.chain_id} differs from settings {settings.chain_id}")
            unlocked: list[DevAccount] = []
        else:
            unlocked = derive_dev_accounts(settings.dev_account_seed, settings.dev_accounts)
            genesis = dev_genesis(settings.chain_id, settings.block_gas_limit, unlocked)
        if settings.unlocked_keys_file is not None:
            keys = json.loads(Path(settings.unlocked_keys_file).read_text())
            unlocked = [DevAccount(bytes.fromhex(Account.from_key(k).address[2:]), bytes.fromhex(k[2:])) for k in keys]
        ordering = ordering or open_ordering(settings)
        try:
            return cls(settings, genesis, unlocked, ordering, privacy)
        except BaseException:
            ordering.close()
            if privacy is not None:
                privacy.close()
            raise

    def _open_chain(self) -> Chain:
        marker = schema.make_genesis_marker_key()
        if marker in self.store:
            chain = self._chain_class(self._db)
            stored = self.store[marker]
            ours = self._genesis_hash_of_spec()
            if chain.get_canonical_block_header_by_number(0).hash != stored or stored != ours:
                self.store.close()
                raise ChainHalted(f"the database was created with another genesis (0x{stored.hex()}; "
                                  f"this node's genesis is 0x{ours.hex()})")
            stored_chain_id = self.store.get(schema.make_chain_id_key())
            if stored_chain_id is not None and int.from_bytes(stored_chain_id, "big") != self.chain_id:
                self.store.close()
                raise ChainHalted(f"the database was created for chain id {int.from_bytes(stored_chain_id, 'big')}, "
                                  f"not {self.chain_id}")
            return chain
        chain = self._chain_class.from_genesis(self._db, self.genesis.header_params(), self.genesis.state())
        if self.privacy is not None:
            self.privacy.on_genesis(chain.get_canonical_head())
        self.store[marker] = chain.get_canonical_head().hash
        self.store[schema.make_chain_id_key()] = self.chain_id.to_bytes(8, "big")
        self.store.commit()
        return chain

    def _genesis_hash_of_spec(self) -> bytes:
        """The genesis hash this node's spec gives, built on a scratch in-memory database."""
        scratch = self._chain_class.from_genesis(AtomicDB(), self.genesis.header_params(), self.genesis.state())
        return bytes(scratch.get_canonical_head().hash)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._catch_up()
        self._thread = threading.Thread(target=self._loop, name=f"{self.settings.name}-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.pool.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self._chain_lock:
            self.store.close()
            self._reader.close()
        self.ordering.close()
        if self.privacy is not None:
            self.privacy.close()

    def _loop(self) -> None:
        max_wait = self.settings.max_block_time_ms / 1000
        while not self._stop.is_set():
            try:
                imported = self._catch_up()
                self._producing = self._may_produce() and self.ordering.is_producer()
                if self._producing:
                    self._pull_submissions()
                    if self.pool.has_ready():
                        wait = self._last_block_at + self.settings.min_block_interval_ms / 1000 - time.monotonic()
                        if wait > 0:
                            self._stop.wait(wait)  # let a busy pool fill the block
                            self._pull_submissions()
                        self._produce_block()
                        self._last_block_at = time.monotonic()
                        continue
                    if not imported:
                        self.pool.wait_for_change(min(max_wait, self.settings.ordering.poll_interval_ms * 4 / 1000))
                elif not imported:
                    self.ordering.wait_for_activity(max_wait)
            except ChainHalted as exc:
                self.halted = exc.message
                self._halted_at = time.monotonic()
                logger.error("%s: block import stopped: %s", self.settings.name, exc.message)
                self._resign()
                self._stop.wait(1.0)  # retry: a manager that comes back lets the node resume
            except Exception:
                logger.exception("%s: unexpected error in the node loop", self.settings.name)
                self._stop.wait(0.5)

    def _may_produce(self) -> bool:
        """A halted node lets others produce; it tries again only after a pause (alone, it must)."""
        return self.halted is None or time.monotonic() - self._halted_at > RESIGN_PAUSE_S

    def _resign(self) -> None:
        """Hand the producer role and this node's pool to whoever can go on (GoQuorum exits here)."""
        if not self._producing:
            return
        self._producing = False
        pending = self.pool.all_raw()
        if pending:
            self.ordering.submit(pending)
        self.ordering.resign()
        logger.warning("%s: resigned as block producer; %d pooled transactions handed over",
                       self.settings.name, len(pending))

    def _pull_submissions(self) -> None:
        refused = []
        for raw in self.ordering.take_pending(self.settings.max_txs_per_block * 4):
            try:
                tx = self._decode_raw(raw)
                self.pool.add(tx, raw, tx.sender)
            except (TransactionRejected, InvalidParams) as exc:
                logger.info("dropped a forwarded transaction: %s", exc.message)
                refused.append(keccak(raw))
        self.ordering.acknowledge(refused)

    def _produce_block(self) -> None:
        # The batch and the payloads are gathered without the chain lock: RPC reads go on meanwhile.
        batch = self.pool.ready_batch(self.settings.max_txs_per_block)
        if not batch:
            return
        txs = [p.tx for p in batch]
        self._prefetch_private(txs, f"cannot build block #{self._head.block_number + 1}")
        with self._chain_lock:
            parent = self._head
            timestamp = max(int(time.time()), parent.timestamp)
            try:
                try:
                    if self.privacy is not None:
                        self.privacy.begin_block(parent)
                    built = build_block(self._chain, parent, txs, timestamp, b"\x00" * 20)
                except PrivacyManagerUnavailable as exc:
                    raise ChainHalted(f"cannot build block #{parent.block_number + 1}: {exc.message}") from None
                self._persist(built.block)
                self._after_block_persisted(built.block)
                appended = self.ordering.append_block(built.block.number, rlp.encode(built.block))
            except BaseException:
                self._abort_block()
                raise
            if not appended:
                logger.info("%s: height %d taken by another producer", self.settings.name, built.block.number)
                self._abort_block()
                return
            self._commit_block(built.block, built.receipts)
            for tx, reason in built.rejected:
                logger.info("dropped transaction %s: %s", tx.hash.hex(), reason)
                self.pool.remove(tx.hash)
            self.ordering.acknowledge([bytes(tx.hash) for tx in built.block.transactions]
                                      + [bytes(tx.hash) for tx, _ in built.rejected])

    def _prefetch_private(self, txs: list[SignedTransactionAPI], context: str) -> None:
        if self.privacy is None:
            return
        try:
            self.privacy.prefetch(txs)
        except PrivacyManagerUnavailable as exc:
            raise ChainHalted(f"{context}: {exc.message}") from None

    def _abort_block(self) -> None:
        self.store.rollback()
        if self.privacy is not None:
            self.privacy.abort_block()
        self._chain = self._chain_class(self._db)
        self._head = self._chain.get_canonical_head()

    def _catch_up(self) -> bool:
        """Import every block the ordering service has beyond our head."""
        imported = False
        while not self._stop.is_set():
            number = self._head.block_number + 1
            block_rlp = self.ordering.get_block_rlp(number)
            if block_rlp is None:
                return imported
            self._import(block_rlp)
            imported = True
        return imported

    def _import(self, block_rlp: bytes) -> None:
        block = rlp.decode(block_rlp, sedes=self._block_class)
        self._prefetch_private(list(block.transactions), f"cannot import block #{block.number}")
        with self._chain_lock:
            try:
                if self.privacy is not None:
                    self.privacy.begin_block(self._head)
                imported, receipts = self._import_validated(block)
                self._after_block_persisted(imported)
            except ValidationError as exc:
                self._abort_block()
                raise ChainHalted(
                    f"block #{block.number} does not follow from our state ({exc}); refusing to diverge"
                ) from None
            except PrivacyManagerUnavailable as exc:
                self._abort_block()
                raise ChainHalted(f"cannot import block #{block.number}: {exc.message}") from None
            except BaseException:
                self._abort_block()
                raise
            self._commit_block(imported, receipts)
        self.halted = None

    def _persist(self, block: BlockAPI) -> None:
        """`Chain.persist_block` without its read-back of every new canonical block."""
        self._chain.validate_block(block)
        self._chain.chaindb.persist_block(block)

    def _import_validated(self, block: BlockAPI) -> tuple[BlockAPI, tuple[Any, ...]]:
        """`Chain.import_block`: re-execute, require the result to equal the block, persist."""
        parent = self._chain.get_block_header_by_hash(block.header.parent_hash)
        base = self._chain.create_header_from_parent(parent).copy(gas_used=block.header.gas_used)
        vm = self._chain.get_vm(base)
        imported = vm.import_block(block).block
        validate_imported_block_unchanged(imported, block)
        self._persist(imported)
        return imported, tuple(vm.last_receipts)

    def _after_block_persisted(self, block: BlockAPI) -> None:
        if self.privacy is not None:
            self.privacy.finish_block(block, self.store)

    def _commit_block(self, block: BlockAPI, receipts: tuple[Any, ...]) -> None:
        """Caller holds the chain lock; the block is persisted but not yet committed."""
        self.store.commit()
        self._head = block.header
        self._account_cache = {}
        views = receipt_views(block, receipts)
        for index, (tx, view) in enumerate(zip(block.transactions, views, strict=True)):
            self._receipts.put(tx.hash, view)
            self._tx_locations.put(tx.hash, (block.number, index))
        self.pool.remove_mined([(tx.sender, tx.nonce) for tx in block.transactions])
        if self._subscribers:
            bv = block_view(block, full=False)
            for callback in list(self._subscribers):
                try:
                    callback(bv)
                except Exception:
                    logger.exception("new-block subscriber failed")

    # -- helpers -----------------------------------------------------------------------
    def _account_at_head(self, address: bytes) -> AccountView:
        """Nonce and balance at the committed head, without the chain lock (see SqliteReader)."""
        cache = self._account_cache  # read before the head: a commit swaps the head, then the cache
        head = self._head
        cached = cache.get(address)
        if cached is not None:
            return cached
        encoded = HexaryTrie(self._reader, head.state_root).get(keccak(address))
        account = rlp.decode(encoded, sedes=RlpAccount) if encoded else RlpAccount()
        view = AccountView(nonce=int(account.nonce), balance=int(account.balance))
        cache[address] = view
        return view

    def _header(self, block_id: BlockId) -> BlockHeaderAPI:
        with self._chain_lock:
            if isinstance(block_id, bytes):
                try:
                    return self._chain.get_block_header_by_hash(block_id)
                except HeaderNotFound:
                    raise ResourceNotFound(f"block {block_id.hex()} not found") from None
            if isinstance(block_id, str):
                if block_id == "earliest":
                    return self._chain.get_canonical_block_header_by_number(0)
                return self._head
            if block_id > self._head.block_number:
                raise ResourceNotFound(f"block {block_id} not found (head is {self._head.block_number})")
            return self._chain.get_canonical_block_header_by_number(block_id)

    def _state(self, block_id: BlockId) -> Any:
        header = self._header(block_id)
        return self._chain.get_vm(header).state

    def _decode_raw(self, raw: bytes) -> SignedTransactionAPI:
        if len(raw) > self.settings.max_tx_bytes:
            raise TransactionRejected(f"oversized data: {len(raw)} bytes, limit {self.settings.max_tx_bytes}")
        try:
            tx = self._tx_builder.decode(raw)
            _check_signature(tx)
        except (rlp.exceptions.DeserializationError, rlp.exceptions.DecodingError, ValidationError,
                ValueError, TypeError, IndexError, KeyError) as exc:
            raise InvalidParams(f"invalid raw transaction: {exc}") from None
        except Exception as exc:  # eth-keys raises BadSignature and friends
            raise TransactionRejected(f"invalid sender: {exc}") from None
        if tx.chain_id is not None and tx.chain_id != self.chain_id:
            raise TransactionRejected(f"invalid chain id: {tx.chain_id}, this chain is {self.chain_id}")
        return tx

    def _submit(self, tx: SignedTransactionAPI, raw: bytes) -> Hash32:
        if self.halted is not None:
            raise ChainHalted(f"node is not importing blocks: {self.halted}")
        added = self.pool.add(tx, raw, tx.sender)
        if added and not self.ordering.is_producer():
            self.ordering.submit([raw])
        return Hash32(tx.hash)

    # -- NodeAPI: chain data -----------------------------------------------------------
    def block_number(self) -> int:
        return int(self._head.block_number)

    def _block(self, block_id: BlockId) -> BlockAPI | None:
        try:
            header = self._header(block_id)
        except ResourceNotFound:
            return None
        with self._chain_lock:
            return self._chain.get_block_by_header(header)

    def get_block(self, block_id: BlockId, full_transactions: bool) -> BlockView | None:
        block = self._block(block_id)
        return None if block is None else block_view(block, full_transactions)

    def _locate(self, tx_hash: bytes) -> tuple[int, int] | None:
        loc = self._tx_locations.get(tx_hash)
        if loc is not None:
            return loc  # type: ignore[no-any-return]
        with self._chain_lock:
            try:
                number, index = self._chain.chaindb.get_transaction_index(tx_hash)
            except TransactionNotFound:
                return None
        return int(number), int(index)

    def get_transaction(self, tx_hash: Hash32) -> TransactionView | None:
        loc = self._locate(tx_hash)
        if loc is None:
            pooled = self.pool.get(tx_hash)
            return transaction_view(pooled.tx) if pooled is not None else None
        block = self._block(loc[0])
        if block is None:
            return None
        return transaction_view(block.transactions[loc[1]], block, loc[1],
                                int(getattr(block.header, "base_fee_per_gas", 0) or 0))

    def get_transaction_by_block(self, block_id: BlockId, index: int) -> TransactionView | None:
        block = self._block(block_id)
        if block is None or not 0 <= index < len(block.transactions):
            return None
        return transaction_view(block.transactions[index], block, index,
                                int(getattr(block.header, "base_fee_per_gas", 0) or 0))

    def _block_receipts(self, block: BlockAPI) -> list[ReceiptView]:
        """The block's public receipts: from the recent cache, else decoded once for the block."""
        cached = [self._receipts.get(tx.hash) for tx in block.transactions]
        if all(view is not None for view in cached):
            return cached  # type: ignore[return-value]
        with self._chain_lock:
            receipts = block.get_receipts(self._chain.chaindb)
        return receipt_views(block, receipts)

    def _public_receipt(self, tx_hash: bytes) -> ReceiptView | None:
        cached = self._receipts.get(tx_hash)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        loc = self._locate(tx_hash)
        if loc is None:
            return None
        block = self._block(loc[0])
        if block is None:
            return None
        return self._block_receipts(block)[loc[1]]

    def _visible_receipt(self, public: ReceiptView) -> ReceiptView:
        """This node's view: the private receipt where it is a party, else the public one."""
        if not public.is_private or self.privacy is None:
            return public
        return self.privacy.private_receipt(public) or public

    def get_receipt(self, tx_hash: Hash32) -> ReceiptView | None:
        public = self._public_receipt(tx_hash)
        return None if public is None else self._visible_receipt(public)

    def get_logs(self, log_filter: LogFilter) -> list[LogView]:
        if log_filter.block_hash is not None:
            header = self._header(log_filter.block_hash)
            start = end = int(header.block_number)
        else:
            start, end = log_filter.from_block, min(log_filter.to_block, self.block_number())
        if end - start > MAX_LOG_RANGE:
            raise InvalidParams(f"block range too large: {end - start + 1} blocks, limit {MAX_LOG_RANGE + 1}")
        found: list[LogView] = []
        for number in range(start, end + 1):
            block = self._block(number)
            if block is None or not block.transactions:
                continue
            if not _bloom_may_match(int(block.header.bloom), log_filter):
                if self.privacy is None or not any(getattr(t, "is_private", False) for t in block.transactions):
                    continue
            for public in self._block_receipts(block):
                receipt = self._visible_receipt(public)
                found.extend(log for log in receipt.logs if _log_matches(log, log_filter))
        return found

    # -- NodeAPI: account state --------------------------------------------------------
    def _read_state(self, address: Address, block_id: BlockId) -> Any:
        """The state holding `address`: the private one when it exists there (dual state)."""
        if self.privacy is not None:
            header = self._header(block_id)
            with self._chain_lock:
                private = self.privacy.read_state_for(address, header)
            if private is not None:
                return private
        return self._state(block_id)

    def get_balance(self, address: Address, block_id: BlockId) -> int:
        with self._chain_lock:
            return int(self._read_state(address, block_id).get_balance(address))

    def get_nonce(self, address: Address, block_id: BlockId) -> int:
        if block_id in ("latest", "pending"):
            nonce = self._account_at_head(address).nonce
        else:
            with self._chain_lock:
                nonce = int(self._state(block_id).get_nonce(address))
        if block_id == "pending":
            return self.pool.pending_nonce(address, nonce)
        return nonce

    def get_code(self, address: Address, block_id: BlockId) -> bytes:
        with self._chain_lock:
            return bytes(self._read_state(address, block_id).get_code(address))

    def get_storage_at(self, address: Address, slot: int, block_id: BlockId) -> bytes:
        with self._chain_lock:
            value = self._read_state(address, block_id).get_storage(address, slot)
        return int(value).to_bytes(32, "big")

    def get_storage_root(self, address: Address, block_id: BlockId) -> Hash32:
        with self._chain_lock:
            state = self._read_state(address, block_id)
            return Hash32(state._account_db._get_storage_root(address))

    # -- NodeAPI: execution ------------------------------------------------------------
    def _spoof(self, request: TxRequest, state: Any, gas: int) -> SpoofTransaction:
        sender = request.sender or b"\x00" * 20
        unsigned = self._tx_builder.create_unsigned_transaction(
            nonce=state.get_nonce(sender),
            gas_price=0,
            gas=gas,
            to=request.to if request.to is not None else CREATE_CONTRACT_ADDRESS,
            value=request.value,
            data=request.data,
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _execute(self, request: TxRequest, header: BlockHeaderAPI, gas: int) -> Any:
        vm = self._chain.get_vm(header)
        with vm.in_costless_state() as state:
            if self.privacy is not None and request.to is not None:
                private_result = self.privacy.call(request, header, state, gas)
                if private_result is not None:
                    return private_result
            elif self.privacy is not None and request.private is not None:
                # a private creation runs on the private state: its constructor may read private contracts
                return self.privacy.simulate_creation(request, header, state, gas)
            tx = self._spoof(request, state, gas)
            try:
                return state.apply_transaction(tx)
            except ValidationError as exc:
                raise TransactionRejected(str(exc)) from None

    def call(self, request: TxRequest, block_id: BlockId) -> bytes:
        header = self._header("latest" if block_id == "pending" else block_id)
        gas = request.gas or header.gas_limit
        with self._chain_lock:
            computation = self._execute(request, header, min(gas, header.gas_limit))
        _raise_for_computation(computation)
        return bytes(computation.output)

    def estimate_gas(self, request: TxRequest, block_id: BlockId) -> int:
        header = self._header("latest" if block_id == "pending" else block_id)
        cap = min(request.gas or header.gas_limit, header.gas_limit)
        with self._chain_lock:

            def fits(gas: int) -> bool:
                try:
                    return not self._execute(request, header, gas).is_error
                except TransactionRejected:  # below intrinsic gas or EIP-7623's calldata floor
                    return False

            first = self._execute(request, header, cap)
            _raise_for_computation(first)
            used = int(cap - first.get_gas_remaining())
            if first.get_gas_refund() == 0 and fits(used):
                return used
            # EIP-150 keeps 1/64 back at each call depth: start a little above what was used,
            # then bisect down to the smallest limit that succeeds (as geth does).
            low, high = used - 1, min(cap, used + used // 32 + 2_300 + first.get_gas_refund())
            while not fits(high):
                low, high = high, min(cap, high * 2)
                if low >= cap:
                    return cap
            while high - low > 1:
                mid = (low + high) // 2
                if fits(mid):
                    high = mid
                else:
                    low = mid
            return high

    # -- NodeAPI: submission -----------------------------------------------------------
    def send_raw_transaction(self, raw: bytes) -> Hash32:
        tx = self._decode_raw(raw)
        if getattr(tx, "is_private", False):
            if self.privacy is None:
                raise TransactionRejected("private transactions need a privacy manager on this node")
            self.privacy.check_marker_shape(tx)
        return self._submit(tx, raw)

    def send_transaction(self, request: TxRequest) -> Hash32:
        if request.sender is None:
            raise InvalidParams("missing value for required argument 'from'")
        account = self._unlocked.get(request.sender)
        if account is None:
            raise TransactionRejected(f"unknown account: 0x{request.sender.hex()} is not unlocked on this node")
        if request.private is not None:
            if self.privacy is None:
                raise TransactionRejected("private transactions need a privacy manager on this node")
            from engine.privacy.layer import sign_private_marker

            payload_hash, gas = self.privacy.prepare_private_transaction(self, request)
            # Nonce, signature and pool admission under the sender's lock: concurrent sends from
            # one account get consecutive nonces (the slow manager round trip stays outside).
            with self._sender_lock(request.sender):
                nonce = request.nonce if request.nonce is not None else self.get_nonce(request.sender, "pending")
                raw = sign_private_marker(account.private_key, nonce, gas, request.to, payload_hash)
                return self.send_raw_transaction(raw)
        if request.gas is None:
            request = replace(request, gas=self.estimate_gas(request, "latest"))
        with self._sender_lock(request.sender):
            signed = Account.sign_transaction(self.fill_transaction(request), account.private_key)
            return self.send_raw_transaction(bytes(signed.raw_transaction))

    def _sender_lock(self, sender: bytes) -> threading.Lock:
        with self._sender_locks_guard:
            lock = self._sender_locks.get(sender)
            if lock is None:
                lock = self._sender_locks[sender] = threading.Lock()
            return lock

    def fill_transaction(self, request: TxRequest) -> dict[str, Any]:
        """An eth-account transaction dict with nonce, gas and fees filled in."""
        assert request.sender is not None
        nonce = request.nonce if request.nonce is not None else self.get_nonce(request.sender, "pending")
        gas = request.gas if request.gas is not None else self.estimate_gas(request, "latest")
        fields: dict[str, Any] = {"nonce": nonce, "gas": gas, "value": request.value, "data": request.data,
                                  "chainId": self.chain_id}
        if request.to is not None:
            fields["to"] = to_checksum_address(request.to)
        if request.gas_price is not None or request.tx_type == 0:
            fields["gasPrice"] = request.gas_price or 0
        else:
            fields["maxFeePerGas"] = request.max_fee_per_gas or 0
            fields["maxPriorityFeePerGas"] = request.max_priority_fee_per_gas or 0
            fields["type"] = 2
        if request.access_list:
            fields["accessList"] = [
                {"address": to_checksum_address(a), "storageKeys": ["0x" + s.to_bytes(32, "big").hex() for s in slots]}
                for a, slots in request.access_list
            ]
            if "gasPrice" in fields:
                fields["type"] = 1
        return fields

    def send_raw_private_transaction(self, raw: bytes, private_for: tuple[PtmPublicKey, ...],
                                     privacy_flag: PrivacyFlag, mandatory_for: tuple[PtmPublicKey, ...]) -> Hash32:
        if self.privacy is None:
            raise TransactionRejected("private transactions need a privacy manager on this node")
        tx = self._decode_raw(raw)
        self.privacy.distribute_raw(tx, private_for, privacy_flag, mandatory_for)
        return self._submit(tx, raw)

    # -- NodeAPI: fees and accounts ----------------------------------------------------
    def accounts(self) -> list[Address]:
        return [Address(a) for a in self._unlocked]

    def gas_price(self) -> int:
        return 0  # gas-free network (base fee pinned to 0)

    def max_priority_fee(self) -> int:
        return 0

    def fee_history(self, block_count: int, newest: BlockId,
                    reward_percentiles: tuple[float, ...] | None) -> FeeHistory:
        newest_number = int(self._header(newest).block_number)
        count = max(0, min(block_count, 1024, newest_number + 1))
        oldest = newest_number - count + 1
        ratios = []
        for number in range(oldest, newest_number + 1):
            header = self._header(number)
            ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
        rewards = tuple(tuple(0 for _ in reward_percentiles) for _ in range(count)) if reward_percentiles else None
        return FeeHistory(oldest_block=oldest, base_fee_per_gas=tuple(0 for _ in range(count + 1)),
                          gas_used_ratio=tuple(ratios), reward=rewards)

    # -- NodeAPI: privacy ----------------------------------------------------------------
    def get_quorum_payload(self, payload_hash: PayloadHash) -> bytes | None:
        if self.privacy is None:
            return None
        return self.privacy.get_payload(payload_hash)

    def get_quorum_payload_extra(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        if self.privacy is None:
            return None
        return self.privacy.get_payload_extra(payload_hash)

    def get_contract_privacy_metadata(self, address: Address) -> dict[str, object] | None:
        if self.privacy is None:
            return None
        with self._chain_lock:
            return self.privacy.contract_metadata(address)

    def subscribe_new_blocks(self, callback: Callable[[BlockView], None]) -> None:
        self._subscribers.append(callback)

    # -- used by the privacy layer -------------------------------------------------------
    @property
    def chain_lock(self) -> threading.RLock:
        return self._chain_lock

    @property
    def head(self) -> BlockHeaderAPI:
        return self._head

    def vm_at(self, header: BlockHeaderAPI) -> Any:
        return self._chain.get_vm(header)


def _check_signature(tx: SignedTransactionAPI) -> None:
    """The signature checks of py-evm's `check_signature_validity` with one ECDSA operation.

    py-evm recovers the key, verifies against it, and `.sender` recovers again; a successful
    recovery already proves the signature valid for that key, so one recovery (cached as the
    sender) plus the range checks is the same test.
    """
    if tx.y_parity not in (0, 1):
        raise ValidationError(f"invalid signature v: {tx.v}")
    if not (0 < tx.r < SECPK1_N and 0 < tx.s <= SECPK1_N // 2):
        raise ValidationError("invalid signature: r or s out of range (EIP-2 requires low s)")
    _ = tx.sender  # recovers; raises BadSignature when no key matches


def _raise_for_computation(computation: Any) -> None:
    if not computation.is_error:
        return
    error = computation.error
    if isinstance(error, Revert):
        data = bytes(error.args[0]) if error.args and isinstance(error.args[0], bytes) else b""
        raise ExecutionReverted(decode_revert_reason(data), data)
    if isinstance(error, VMError):
        raise ExecutionReverted(_vm_error_text(error), b"")
    raise ExecutionReverted(str(error), b"")


def _vm_error_text(error: Exception) -> str:
    name = type(error).__name__
    text = {"OutOfGas": "out of gas", "InsufficientFunds": "insufficient funds for transfer",
            "WriteProtection": "write protection", "InvalidInstruction": "invalid opcode"}.get(name)
    return text or (str(error) or name)


def _bloom_may_match(bloom: int, log_filter: LogFilter) -> bool:
    from eth_bloom import BloomFilter

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
    for i, wanted in enumerate(log_filter.topics):
        if wanted is None or not wanted:
            continue
        if i >= len(log.topics) or log.topics[i] not in wanted:
            return False
    return True
