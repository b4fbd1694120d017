"""The chain node: its roles composed behind `NodeAPI`, and the loop that drives them.

Roles (as py-evm splits its chain): `CanonicalChain` (the committed chain, head, lock),
`BlockImporter`, `BlockProducer`, `ChainReads` and `CallRunner` (what the node answers),
`UnlockedAccounts` (what it signs). The private side is a `PrivateStateAPI` handed in at
construction; the node never knows more of privacy than that interface.

Threads: RPC handlers call in from a thread pool; one `node-loop` thread imports blocks
from the ordering service and, when this node is the producer, builds blocks.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from eth.abc import BlockAPI, SignedTransactionAPI
from eth.vm.forks.prague.constants import PER_EMPTY_ACCOUNT_BASE_COST
from eth_account import Account
from eth_utils import to_checksum_address

from engine.abc import EnhancedPrivacyMetadata, NodeAPI, OrderingServiceAPI, PrivateStateAPI
from engine.chain.accounts import UnlockedAccounts
from engine.chain.calls import CallRunner
from engine.chain.canonical import CanonicalChain
from engine.chain.genesis import DevAccount, GenesisSpec, derive_dev_accounts, dev_genesis
from engine.chain.importer import BlockImporter
from engine.chain.intake import decode_raw_transaction
from engine.chain.marker import check_marker_shape, is_private_marker
from engine.chain.noprivacy import NoPrivateState
from engine.chain.pacing import FollowerPacing
from engine.chain.producer import BlockProducer
from engine.chain.reads import ChainReads
from engine.chain.simulate import Simulator
from engine.chain.txpool import TxPool
from engine.chain.unsigned import encode_unsigned
from engine.chain.views import block_view
from engine.config import NodeSettings
from engine.db.store import NodeDatabase
from engine.errors import ChainHalted, EngineError, InvalidParams, OrderingUnavailable, TransactionRejected
from engine.types import (
    AccessListResult,
    Address,
    BlockId,
    BlockView,
    FeeHistory,
    Hash32,
    LogFilter,
    LogView,
    ReceiptView,
    SimulatedBlock,
    SimulateOptions,
    StateOverrides,
    TransactionView,
    TxRequest,
)

logger = logging.getLogger(__name__)

RESIGN_PAUSE_S = 3.0


class Node(NodeAPI):
    """A node of the network; `Node.open(settings)` then `start()`."""

    def __init__(self, settings: NodeSettings, genesis: GenesisSpec, accounts: UnlockedAccounts,
                 ordering: OrderingServiceAPI, database: NodeDatabase, private: PrivateStateAPI) -> None:
        self.settings = settings
        self.chain_id = settings.chain_id
        self.genesis = genesis
        self.ordering = ordering
        self.database = database
        self.private = private
        self.unlocked = accounts
        self.dev_accounts = accounts.keys()
        self.chain = CanonicalChain(settings.chain_id, genesis, database, private)
        self.pool = TxPool(self.chain.account_at_head, settings.block_gas_limit, settings.txpool_max_size,
                           settings.txpool_max_gap)
        self.reads = ChainReads(self.chain, self.pool, private, settings.max_txs_per_block)
        self.calls = CallRunner(self.chain, private, gas_cap=settings.rpc.gas_cap,
                                evm_timeout_s=settings.rpc.evm_timeout_s)
        self.simulator = Simulator(self.calls)
        self.importer = BlockImporter(self.chain, ordering, private)
        self.producer = BlockProducer(settings.name, self.chain, self.pool, ordering, private, self._decode_raw,
                                      settings.max_txs_per_block)
        self.pacing = FollowerPacing(settings.name, ordering, settings.producer_max_lead_blocks,
                                     settings.producer_pacing_wait_ms / 1000)
        self._subscribers: list[Callable[[BlockView], None]] = []
        self.chain.on_commit(self._after_commit)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.halted: str | None = None
        self._halted_at = 0.0
        self._last_block_at = 0.0
        self._last_head_at = time.monotonic()  # when the head last moved (any producer), for empty blocks

    # -- construction ------------------------------------------------------------------
    @classmethod
    def open(cls, settings: NodeSettings, ordering: OrderingServiceAPI | None = None,
             private: PrivateStateAPI | None = None, database: NodeDatabase | None = None) -> Node:
        """Open (or create) the node's database; dev genesis unless settings name a genesis file.

        Without `private` the node has no transaction manager (`NoPrivateState`). A private side
        must share the node's `database` (its writes join each block's transaction).
        """
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
        if private is not None and database is None:
            raise ValueError("a private side writes into the node's database: pass the database it was built on")
        private = private or NoPrivateState()
        try:
            database = database or open_database(settings)
            ordering = ordering or open_ordering(settings)
        except BaseException:
            private.close()
            raise
        try:
            return cls(settings, genesis, UnlockedAccounts(unlocked), ordering, database, private)
        except BaseException:
            ordering.close()
            database.close()
            private.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._catch_up()
        self._restore_pool()
        self._thread = threading.Thread(target=self._loop, name=f"{self.settings.name}-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.ordering.wake()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self.chain.lock:
            self.database.close()
        self.ordering.close()
        self.private.close()

    # -- development snapshots (engine/dev/snapshots.py) ------------------------------------
    def pause(self, timeout_s: float = 60.0) -> None:
        """Stop the node loop without closing anything: no block is imported or built until
        `resume`. A dev snapshot's revert replaces the database under a paused node."""
        self._stop.set()
        self.ordering.wake()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():  # e.g. waiting out a manager's retries: let it go on
                self._stop.clear()
                raise EngineError(f"the node loop did not stop within {timeout_s:g} s; try again")
            self._thread = None

    def reload(self) -> None:
        """Re-read the chain after its database was replaced under a paused node, and forget
        what was derived from the old one: the chain's caches, the pool, a halt, the clock of
        empty blocks (the next one comes a whole interval from now)."""
        with self.chain.lock:
            self.chain.reload()
            self.pool.clear()
            self.halted = None
            self._last_block_at = self._last_head_at = time.monotonic()

    def resume(self) -> None:
        """Run the loop again after `pause` (it imports whatever the ordering service holds)."""
        self._stop.clear()
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name=f"{self.settings.name}-loop", daemon=True)
        self._thread.start()

    def _restore_pool(self) -> None:
        """Take the submissions still waiting in the ordering service back into the pool.

        A node that restarts (even after SIGKILL) then counts the transactions it acknowledged
        before, not yet mined, in its pending nonces: a new send from the same account gets the
        next nonce instead of one of theirs. Those that no longer fit are left to the producer.
        """
        restored = 0
        replaced: list[bytes] = []
        for raw in self.ordering.take_pending(self.settings.txpool_max_size):
            try:
                tx = self._decode_raw(raw)
                admission = self.pool.admit(tx, raw, tx.sender)
            except (TransactionRejected, InvalidParams):
                continue
            restored += admission.added
            if admission.replaced is not None:  # killed between a replacement's submit and withdrawal
                replaced.append(admission.replaced)
        self.ordering.acknowledge(replaced)
        if restored:
            logger.info("%s: %d submitted transactions not yet mined are pending again", self.settings.name, restored)

    def _catch_up(self) -> bool:
        imported = self.importer.catch_up(self._stop)
        if imported:
            self.halted = None
        return imported

    def _loop(self) -> None:
        max_wait = self.settings.max_block_time_ms / 1000
        empty_interval = self.settings.empty_block_interval_s
        producer = self.producer
        while not self._stop.is_set():
            try:
                imported = self._catch_up()
                producer.producing = self._may_produce() and self.ordering.is_producer()
                wait_limit = max_wait
                if producer.producing:
                    producer.pull_submissions()
                    if self.pool.has_ready():
                        wait = self._last_block_at + self.settings.min_block_interval_ms / 1000 - time.monotonic()
                        if wait > 0:
                            self._stop.wait(wait)  # let a busy pool fill the block
                        # Slow nodes set the pace: the block grows meanwhile (pacing.py).
                        paced = self.pacing.wait_for_followers(self.chain.head.block_number, self._stop)
                        if wait > 0 or paced:
                            producer.pull_submissions()
                        producer.produce_block()
                        self._last_block_at = time.monotonic()
                        continue
                    if empty_interval > 0:
                        # QBFT's block period: an idle chain still grows, so confirmation counts
                        # (ethers' tx.wait(n), web3's wait for n blocks) come to an end.
                        due = self._last_head_at + empty_interval - time.monotonic()
                        if due <= 0:
                            producer.produce_block(allow_empty=True)
                            self._last_block_at = self._last_head_at = time.monotonic()
                            continue
                        wait_limit = min(max_wait, due)
                if not imported:
                    # Every submission, the producer's own included, goes through the ordering
                    # service first, so its activity is all a producer waits for too.
                    self.ordering.wait_for_activity(wait_limit)
            except OrderingUnavailable as exc:
                logger.warning("%s: %s; retrying", self.settings.name, exc.message)
                self._stop.wait(0.5)
            except ChainHalted as exc:
                self.halted = exc.message
                self._halted_at = time.monotonic()
                logger.error("%s: block import stopped: %s", self.settings.name, exc.message)
                producer.resign()
                self._stop.wait(1.0)  # retry: a manager that comes back lets the node resume
            except Exception:
                logger.exception("%s: unexpected error in the node loop", self.settings.name)
                self._stop.wait(0.5)

    def _may_produce(self) -> bool:
        """A halted node lets others produce; it tries again only after a pause (alone, it must)."""
        return self.halted is None or time.monotonic() - self._halted_at > RESIGN_PAUSE_S

    def _after_commit(self, block: BlockAPI) -> None:
        self._last_head_at = time.monotonic()
        self.pool.remove_mined([(tx.sender, tx.nonce) for tx in block.transactions])
        if self._subscribers:
            view = block_view(block, full=False)
            for callback in list(self._subscribers):
                try:
                    callback(view)
                except Exception:
                    logger.exception("new-block subscriber failed")

    # -- intake --------------------------------------------------------------------------
    def _decode_raw(self, raw: bytes) -> SignedTransactionAPI:
        return decode_raw_transaction(self.chain.tx_builder, raw, self.chain_id, self.settings.max_tx_bytes)

    def _submit(self, tx: SignedTransactionAPI, raw: bytes) -> Hash32:
        """Admit a transaction; the hash is returned only once it is durable in the ordering service.

        Acknowledged means durable, on the producer too: the pool is memory, the ordering service
        is not. The pool's checks run first (nothing refusable is written), then the durable
        submit, then admission to this node's pool. A transaction that loses a race for its pool
        slot in between is withdrawn from the ordering service again and refused.
        """
        if self.halted is not None:
            raise ChainHalted(f"node is not importing blocks: {self.halted}")
        if not self.pool.check(tx, tx.sender):
            return Hash32(tx.hash)  # already pooled, hence already durable
        self.ordering.submit([raw])
        try:
            admission = self.pool.admit(tx, raw, tx.sender)
        except TransactionRejected:
            if self._mined(bytes(tx.hash)):
                # The submission woke a producer that mined it before it reached this pool (its
                # nonce now reads as used): it went through, so the sender gets its hash.
                return Hash32(tx.hash)
            self.ordering.acknowledge([bytes(tx.hash)])
            raise
        if admission.replaced is not None:
            # Withdraw the replaced one; a producer that pulled it already drops it (txpool.py).
            self.ordering.acknowledge([admission.replaced])
        return Hash32(tx.hash)

    def _mined(self, tx_hash: bytes) -> bool:
        """Whether this node's chain holds `tx_hash`; under the chain lock, so a block being
        committed (by this node's producer or importer) counts once it is in, never half-way."""
        with self.chain.lock:
            return self.chain.locate(tx_hash) is not None

    # -- NodeAPI: submission -----------------------------------------------------------
    def send_raw_transaction(self, raw: bytes) -> Hash32:
        tx = self._decode_raw(raw)
        if is_private_marker(tx):
            self.private.validate_marker(tx)
            check_marker_shape(tx)
        return self._submit(tx, raw)

    def send_transaction(self, request: TxRequest) -> Hash32:
        if request.sender is None:
            raise InvalidParams("missing value for required argument 'from'")
        self.unlocked.require(request.sender)
        if request.private is not None:
            # Private sends go through the privacy service, which submits a signed marker.
            raise TransactionRejected("private transactions need a privacy manager on this node")
        if request.gas is None:
            # The estimate runs without the EIP-7702 authorizations: add their intrinsic cost.
            extra = PER_EMPTY_ACCOUNT_BASE_COST * len(request.authorization_list)
            request = replace(request, gas=self.estimate_gas(request, "latest") + extra)
        with self.unlocked.nonce_guard(request.sender, request.nonce):
            return self.send_raw_transaction(self.unlocked.sign_transaction(request.sender,
                                                                            self.fill_transaction(request)))

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
        if request.authorization_list:  # EIP-7702: signed as given, never dropped
            fields["type"] = 4
            fields["authorizationList"] = [
                {"chainId": a.chain_id, "address": to_checksum_address(a.address), "nonce": a.nonce,
                 "yParity": a.y_parity, "r": a.r, "s": a.s}
                for a in request.authorization_list
            ]
        if request.access_list:
            fields["accessList"] = [
                {"address": to_checksum_address(a), "storageKeys": ["0x" + s.to_bytes(32, "big").hex() for s in slots]}
                for a, slots in request.access_list
            ]
            if "gasPrice" in fields:
                fields["type"] = 1
        return fields

    # -- NodeAPI: signing for external submission ------------------------------------------
    def sign_message(self, signer: Address, message: bytes) -> bytes:
        return self.unlocked.sign_message(signer, message)

    def sign_transaction(self, request: TxRequest) -> bytes:
        if request.sender is None:
            raise InvalidParams("missing value for required argument 'from'")
        self.unlocked.find(request.sender)
        return self.unlocked.sign_transaction(request.sender, self.fill_transaction(request))

    def fill_unsigned(self, request: TxRequest) -> bytes:
        if request.sender is None:
            raise InvalidParams("missing value for required argument 'from'")
        return encode_unsigned(self.chain.tx_builder, self.fill_transaction(request))

    # -- NodeAPI: reads, delegated to their roles ----------------------------------------
    def block_number(self) -> int:
        return self.reads.block_number()

    def get_block(self, block_id: BlockId, full_transactions: bool) -> BlockView | None:
        return self.reads.get_block(block_id, full_transactions)

    def get_transaction(self, tx_hash: Hash32) -> TransactionView | None:
        return self.reads.get_transaction(tx_hash)

    def get_transaction_by_block(self, block_id: BlockId, index: int) -> TransactionView | None:
        return self.reads.get_transaction_by_block(block_id, index)

    def get_raw_transaction(self, tx_hash: Hash32) -> bytes | None:
        return self.reads.get_raw_transaction(tx_hash)

    def get_raw_transaction_by_block(self, block_id: BlockId, index: int) -> bytes | None:
        return self.reads.get_raw_transaction_by_block(block_id, index)

    def get_receipt(self, tx_hash: Hash32) -> ReceiptView | None:
        return self.reads.get_receipt(tx_hash)

    def get_logs(self, log_filter: LogFilter) -> list[LogView]:
        return self.reads.get_logs(log_filter)

    def get_balance(self, address: Address, block_id: BlockId) -> int:
        return self.reads.get_balance(address, block_id)

    def get_nonce(self, address: Address, block_id: BlockId) -> int:
        return self.reads.get_nonce(address, block_id)

    def get_code(self, address: Address, block_id: BlockId) -> bytes:
        return self.reads.get_code(address, block_id)

    def get_storage_at(self, address: Address, slot: int, block_id: BlockId) -> bytes:
        return self.reads.get_storage_at(address, slot, block_id)

    def get_storage_root(self, address: Address, block_id: BlockId) -> Hash32:
        return self.reads.get_storage_root(address, block_id)

    def call(self, request: TxRequest, block_id: BlockId, overrides: StateOverrides | None = None) -> bytes:
        return self.calls.call(request, block_id, overrides)

    def estimate_gas(self, request: TxRequest, block_id: BlockId, overrides: StateOverrides | None = None) -> int:
        return self.calls.estimate_gas(request, block_id, overrides)

    def simulate_private_send(self, request: TxRequest, nonce: int) -> EnhancedPrivacyMetadata:
        return self.calls.simulate_private_send(request, nonce)

    def create_access_list(self, request: TxRequest, block_id: BlockId,
                           overrides: StateOverrides | None = None) -> AccessListResult:
        return self.calls.create_access_list(request, block_id, overrides)

    def simulate(self, options: SimulateOptions, block_id: BlockId) -> list[SimulatedBlock]:
        return self.simulator.simulate(options, block_id)

    def fee_history(self, block_count: int, newest: BlockId,
                    reward_percentiles: tuple[float, ...] | None) -> FeeHistory:
        return self.reads.fee_history(block_count, newest, reward_percentiles)

    # -- NodeAPI: fees and accounts ----------------------------------------------------
    def accounts(self) -> list[Address]:
        return self.unlocked.addresses()

    def gas_price(self) -> int:
        return 0  # gas-free network (base fee pinned to 0)

    def max_priority_fee(self) -> int:
        return 0

    def subscribe_new_blocks(self, callback: Callable[[BlockView], None]) -> None:
        self._subscribers.append(callback)

    def subscribe_pending_transactions(self, callback: Callable[[Hash32], None]) -> None:
        self.pool.listeners.append(lambda tx_hash: callback(Hash32(tx_hash)))


def open_database(settings: NodeSettings) -> NodeDatabase:
    """The node's database file under its data directory."""
    return NodeDatabase(settings.data_dir / "chain.sqlite")
