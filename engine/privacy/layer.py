"""Private transactions on one node: sending, executing on import, reading the private view.

The public chain carries only the manager's 64-byte hash. On import every node asks its
own manager for the payload: a party decrypts and executes it on its private state, a
non-party is told 404 and skips it (see engine/chain/vm.py for the public side).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert
from eth.vm.message import Message
from eth_keys import keys
from eth_utils import keccak

from engine.abc import PrivacyManagerClientAPI, ReceivedPayload
from engine.chain.views import contract_address_for
from engine.db import schema
from engine.db.store import SqliteKV
from engine.errors import PrivateTransactionRejected, TransactionRejected
from engine.privacy.receipts import PrivateOutcome
from engine.privacy.state import DualPrivateState
from engine.types import (
    Address,
    Hash32,
    LogView,
    PayloadHash,
    PrivacyFlag,
    PtmPublicKey,
    ReceiptView,
    TxRequest,
)

if TYPE_CHECKING:
    from engine.chain.node import Node

logger = logging.getLogger(__name__)

PAYLOAD_HASH_BYTES = 64
# 21,000 + 16 per non-zero byte of a 64-byte hash (a zero byte costs 4: the bound is the safe side).
MARKER_CALL_INTRINSIC_GAS = 21_000 + 16 * PAYLOAD_HASH_BYTES
# A creating marker adds 32,000 and EIP-3860's 2 gas per 32-byte word of its (64-byte) init code.
MARKER_CREATE_INTRINSIC_GAS = MARKER_CALL_INTRINSIC_GAS + 32_000 + 2 * 2


def _calldata_intrinsic(data: bytes) -> int:
    zeros = data.count(0)
    return 21_000 + 4 * zeros + 16 * (len(data) - zeros)


class _BlockContext:
    """Private execution state for the block being built or imported."""

    def __init__(self, parent_root: bytes) -> None:
        self.parent_root = parent_root
        self.state: DualPrivateState | None = None
        self.outcomes: dict[bytes, PrivateOutcome] = {}
        self.created: dict[bytes, dict[str, Any]] = {}


class PrivateExecutor:
    """The hook the public state transition calls for each private marker."""

    def __init__(self, layer: PrivacyLayer) -> None:
        self.layer = layer

    def execute_private(self, transaction: SignedTransactionAPI, public_state: StateAPI) -> None:
        self.layer.execute_private(transaction, public_state)


class PrivacyLayer:
    def __init__(self, manager: PrivacyManagerClientAPI, store: SqliteKV | None = None) -> None:
        self.manager = manager
        self.executor = PrivateExecutor(self)
        self._store: Any = store
        self._db: Any = None
        self._state_class: type[DualPrivateState] | None = None
        self._block: _BlockContext | None = None
        self._payloads: dict[bytes, ReceivedPayload | None] = {}
        self._sent: dict[bytes, ReceivedPayload] = {}
        self._lock = threading.Lock()

    def bind(self, node: Node) -> None:
        """Called by the node once its database exists."""
        self.node = node
        self._store = node.store
        self._db = node._db
        self._state_class = DualPrivateState.configure(__name__="NodeDualPrivateState")

    def close(self) -> None:
        close = getattr(self.manager, "close", None)
        if close is not None:
            close()

    # -- private roots ---------------------------------------------------------------------
    def on_genesis(self, header: BlockHeaderAPI) -> None:
        self._store[schema.make_private_state_root_key(header.hash)] = BLANK_ROOT_HASH

    def private_root(self, header: BlockHeaderAPI) -> bytes:
        try:
            return bytes(self._store[schema.make_private_state_root_key(header.hash)])
        except KeyError:
            return BLANK_ROOT_HASH

    def _open_state(self, root: bytes, public_state: StateAPI | None, execution_context: Any) -> DualPrivateState:
        assert self._state_class is not None
        state = self._state_class(self._db, execution_context, root)
        return state.attach_public(public_state)

    # -- block lifecycle (prefetch runs before the node takes its chain lock; the rest under it) --
    def prefetch(self, transactions: list[SignedTransactionAPI]) -> None:
        """Fetch the block's payloads from the manager in one round trip before executing it."""
        wanted = [bytes(tx.data) for tx in transactions if getattr(tx, "is_private", False)]
        wanted = [h for h in dict.fromkeys(wanted)
                  if h not in self._payloads and h not in self._sent and len(h) == PAYLOAD_HASH_BYTES]
        if wanted:
            self._payloads.update(self.manager.receive_many([PayloadHash(h) for h in wanted]))

    def begin_block(self, parent: BlockHeaderAPI) -> None:
        self._block = _BlockContext(self.private_root(parent))

    def abort_block(self) -> None:
        self._block = None
        self._payloads.clear()  # ask again next time: a manager may have recovered data meanwhile

    def finish_block(self, block: BlockAPI, store: SqliteKV) -> None:
        """Persist the private state and receipts in the block's database transaction."""
        ctx = self._block
        if ctx is None:
            return
        root = ctx.parent_root
        if ctx.state is not None:
            ctx.state.persist()
            root = ctx.state.state_root
        store[schema.make_private_state_root_key(block.hash)] = root
        for tx_hash, outcome in ctx.outcomes.items():
            store[schema.make_private_receipt_key(tx_hash)] = outcome.to_bytes()
        for address, meta in ctx.created.items():
            store[schema.make_contract_privacy_key(address)] = json.dumps(meta).encode()
        for tx in block.transactions:
            key = bytes(tx.data)
            self._payloads.pop(key, None)
            self._sent.pop(key, None)
        self._block = None

    # -- private execution --------------------------------------------------------------------
    def _payload_for(self, key: bytes) -> ReceivedPayload | None:
        if key in self._sent:
            return self._sent[key]
        if key in self._payloads:
            return self._payloads[key]
        if len(key) != PAYLOAD_HASH_BYTES:
            return None
        return self.manager.receive(PayloadHash(key))

    def execute_private(self, tx: SignedTransactionAPI, public_state: StateAPI) -> None:
        """Run the decrypted payload on the private state (or skip: not a party).

        1. 404 from the manager: not a party; nothing runs, the public nonce already moved.
        2. A party runs the payload with the transaction's gas limit (less the public
           intrinsic gas): creation at CreateAddress(sender, nonce) when `to` is empty.
        3. A transaction to a contract created with another privacy flag is a no-op (status 0).
        4. Reads of public-only accounts fall through to the public state, read-only.
        """
        ctx = self._block
        if ctx is None:
            return  # a costless call (eth_call on the public state): nothing private to do
        received = self._payload_for(bytes(tx.data))
        if received is None:
            return
        if ctx.state is None:
            ctx.state = self._open_state(ctx.parent_root, public_state, public_state.execution_context)
        else:
            ctx.state.attach_public(public_state)
        state = ctx.state
        state.lock_changes()
        gas = max(0, tx.gas - tx.intrinsic_gas)
        creating = tx.to == CREATE_CONTRACT_ADDRESS
        if not creating:
            meta = self.contract_metadata(Address(tx.to))
            if meta is not None and int(meta.get("privacyFlag", 0)) != int(received.privacy_flag):
                ctx.outcomes[bytes(tx.hash)] = PrivateOutcome(0, (), None, None, 0)
                return
        computation = self._run(state, tx.sender, None if creating else bytes(tx.to), received.payload, gas,
                                create_address=contract_address_for(tx))
        outcome = _outcome(computation, contract_address_for(tx) if creating else None, gas)
        ctx.outcomes[bytes(tx.hash)] = outcome
        if creating and outcome.status == 1 and outcome.contract_address is not None:
            ctx.created[outcome.contract_address] = {
                "creationTxHash": "0x" + bytes(tx.data).hex(),
                "privacyFlag": int(received.privacy_flag),
                "mandatoryFor": list(received.mandatory_recipients),
            }

    @staticmethod
    def _run(state: DualPrivateState, sender: bytes, to: bytes | None, payload: bytes, gas: int,
             create_address: bytes | None = None) -> Any:
        tx_context = state.get_transaction_context_class()(gas_price=0, origin=sender)
        if to is None:
            assert create_address is not None
            message = Message(gas=gas, to=CREATE_CONTRACT_ADDRESS, sender=sender, value=0, data=b"",
                              code=payload, create_address=create_address)
            if state.has_code_or_nonce(create_address):
                from eth.exceptions import ContractCreationCollision

                computation = state.get_computation(message, tx_context)
                computation.error = ContractCreationCollision("address collision")
                return computation
            return state.computation_class.apply_create_message(state, message, tx_context)
        message = Message(gas=gas, to=to, sender=sender, value=0, data=payload, code=state.get_code(to))
        return state.computation_class.apply_message(state, message, tx_context)

    # -- reads ----------------------------------------------------------------------------------
    def read_state_for(self, address: bytes, header: BlockHeaderAPI) -> DualPrivateState | None:
        """The private state at `header` if `address` exists in it, else None."""
        root = self.private_root(header)
        if root == BLANK_ROOT_HASH:
            return None
        public_state = self.node.vm_at(header).state
        state = self._open_state(root, public_state, public_state.execution_context)
        return state if state.private_account_exists(address) else None

    def call(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI, gas: int) -> Any | None:
        """eth_call / eth_estimateGas against a private contract (None: not private here)."""
        assert request.to is not None
        root = self.private_root(header)
        if root == BLANK_ROOT_HASH:
            return None
        state = self._open_state(root, public_state, public_state.execution_context)
        if not state.private_account_exists(request.to):
            return None
        if request.value:
            raise TransactionRejected("ether value is not supported for private transactions")
        # The gas a private execution gets is the marker's gas less the marker's intrinsic gas
        # (charged on the 64-byte hash), so that is what an estimate must add on top.
        intrinsic = MARKER_CALL_INTRINSIC_GAS if request.private is not None else _calldata_intrinsic(request.data)
        if gas < intrinsic:
            raise TransactionRejected(f"intrinsic gas too low: have {gas}, want {intrinsic}")
        snapshot = state.snapshot()
        try:
            return self._run(state, request.sender or b"\x00" * 20, request.to, request.data, gas - intrinsic)
        finally:
            state.revert(snapshot)

    def simulate_creation(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI, gas: int) -> Any:
        """eth_estimateGas / the pre-send simulation of a private contract creation: the init code
        runs on this node's private state (falling through to public accounts, read-only), as it
        will on import, so a constructor can read the sender's private contracts. The gas counts the
        creating marker's intrinsic gas, as for calls."""
        assert request.to is None and request.private is not None
        if request.value:
            raise TransactionRejected("ether value is not supported for private transactions")
        if gas < MARKER_CREATE_INTRINSIC_GAS:
            raise TransactionRejected(f"intrinsic gas too low: have {gas}, want {MARKER_CREATE_INTRINSIC_GAS}")
        state = self._open_state(self.private_root(header), public_state, public_state.execution_context)
        sender = request.sender or b"\x00" * 20
        create_address = Address(generate_contract_address(Address(sender), public_state.get_nonce(sender)))
        snapshot = state.snapshot()
        try:
            return self._run(state, sender, None, request.data, gas - MARKER_CREATE_INTRINSIC_GAS,
                             create_address=create_address)
        finally:
            state.revert(snapshot)

    def private_receipt(self, public: ReceiptView) -> ReceiptView | None:
        try:
            raw = self._store[schema.make_private_receipt_key(public.transaction_hash)]
        except KeyError:
            return None
        outcome = PrivateOutcome.from_bytes(bytes(raw))
        logs = tuple(
            LogView(address=Address(a), topics=tuple(Hash32(t.to_bytes(32, "big")) for t in topics), data=d,
                    block_number=public.block_number, block_hash=public.block_hash,
                    transaction_hash=public.transaction_hash, transaction_index=public.transaction_index,
                    # Private logs are numbered after the transaction index so they never collide
                    # with public logs of the same block (markers carry no public logs).
                    log_index=public.transaction_index * 10_000 + i)
            for i, (a, topics, d) in enumerate(outcome.logs)
        )
        from eth_bloom import BloomFilter

        bloom = BloomFilter()
        for a, topics, _ in outcome.logs:
            bloom.add(a)
            for t in topics:
                bloom.add(t.to_bytes(32, "big"))
        return ReceiptView(
            transaction_hash=public.transaction_hash, transaction_index=public.transaction_index,
            block_hash=public.block_hash, block_number=public.block_number, sender=public.sender, to=public.to,
            # GoQuorum: a party's receipt is the private one, with gasUsed 0 (private execution
            # is not charged); the block's public gas accounting is unchanged.
            cumulative_gas_used=public.cumulative_gas_used, gas_used=0,
            effective_gas_price=public.effective_gas_price,
            contract_address=Address(outcome.contract_address) if outcome.contract_address else None,
            logs=logs, logs_bloom=int(bloom), status=outcome.status, tx_type=public.tx_type,
            revert_reason=outcome.revert_reason, is_private=True,
        )

    def contract_metadata(self, address: bytes) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self._store[schema.make_contract_privacy_key(address)]))
        except KeyError:
            return None

    def get_payload(self, payload_hash: PayloadHash) -> bytes | None:
        if len(payload_hash) != PAYLOAD_HASH_BYTES:
            return None
        received = self.manager.receive(payload_hash)
        return None if received is None else received.payload

    def get_payload_extra(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        if len(payload_hash) != PAYLOAD_HASH_BYTES:
            return None
        return self.manager.receive(payload_hash)

    # -- sending ----------------------------------------------------------------------------------
    def _validate_send(self, node: Node, request: TxRequest) -> None:
        """GoQuorum's checks, in its order (PROTOCOL.md §9); the flag checks run at the RPC edge."""
        assert request.private is not None
        if request.value:
            raise PrivateTransactionRejected("ether value is not supported for private transactions")
        if not request.data:
            raise PrivateTransactionRejected("private transaction data is empty: nothing to send to the manager")
        flag = request.private.privacy_flag
        if flag != PrivacyFlag.STANDARD_PRIVATE and request.to is not None:
            if not node.get_code(request.to, "latest"):
                raise PrivateTransactionRejected("contract not found. cannot transact")
            meta = self.contract_metadata(request.to)
            if meta is not None and int(meta.get("privacyFlag", 0)) != int(flag):
                raise PrivateTransactionRejected("sent privacy flag doesn't match all affected contract flags")
        if flag != PrivacyFlag.STANDARD_PRIVATE:
            # Flagged transactions are simulated first; a revert is reported and nothing is sent.
            node.estimate_gas(request, "latest")

    def prepare_private_transaction(self, node: Node, request: TxRequest) -> tuple[bytes, int]:
        """Validate, send the payload to the manager; return (payload hash, the marker's gas).

        The caller then signs the marker (`sign_private_marker`) with the sender's next nonce.
        """
        assert request.private is not None and request.sender is not None
        self._validate_send(node, request)
        gas = request.gas if request.gas is not None else node.estimate_gas(request, "latest")
        private = request.private
        key = self.manager.send(request.data, private.private_from, private.private_for, private.privacy_flag,
                                mandatory_recipients=private.mandatory_for)
        self._sent[bytes(key)] = ReceivedPayload(request.data, private.privacy_flag, (), b"", private.mandatory_for)
        # The public form must cover intrinsic gas and EIP-7623's calldata floor on the 64-byte hash.
        marker_gas = max(gas, 24_000 + (32_100 if request.to is None else 0))
        return bytes(key), marker_gas

    def distribute_raw(self, tx: SignedTransactionAPI, private_for: tuple[PtmPublicKey, ...],
                       privacy_flag: PrivacyFlag, mandatory_for: tuple[PtmPublicKey, ...]) -> None:
        if not getattr(tx, "is_private", False):
            raise PrivateTransactionRejected("transaction is not private: sign it with v = 37/38 (27/28 + 10)")
        if tx.value:
            raise PrivateTransactionRejected("ether value is not supported for private transactions")
        key = bytes(tx.data)
        if len(key) != PAYLOAD_HASH_BYTES:
            raise PrivateTransactionRejected("private transaction data must be the 64-byte hash from /storeraw")
        distributed = self.manager.send_signed(PayloadHash(key), private_for, privacy_flag,
                                               mandatory_recipients=mandatory_for)
        if bytes(distributed) != key:
            raise PrivateTransactionRejected("manager returned a different hash for the stored raw payload")

    def check_marker_shape(self, tx: SignedTransactionAPI) -> None:
        if len(bytes(tx.data)) != PAYLOAD_HASH_BYTES:
            raise PrivateTransactionRejected("private transaction data must be a 64-byte manager hash")


def sign_private_marker(private_key: bytes, nonce: int, gas: int, to: bytes | None, payload_hash: bytes) -> bytes:
    """Homestead-signed legacy transaction (no chain id), gas price 0, v raised to 37/38."""
    fields = [nonce, 0, gas, to or b"", 0, payload_hash]
    signature = keys.PrivateKey(private_key).sign_msg_hash(keccak(rlp.encode(fields)))
    v, r, s = signature.vrs
    return bytes(rlp.encode([*fields, v + 27 + 10, r, s]))


def _outcome(computation: Any, contract_address: bytes | None, gas: int) -> PrivateOutcome:
    success = not computation.is_error
    revert = None
    if not success and isinstance(computation.error, Revert):
        args = computation.error.args
        revert = bytes(args[0]) if args and isinstance(args[0], bytes) else b""
    logs = tuple((bytes(a), tuple(int(t) for t in topics), bytes(d))
                 for a, topics, d in computation.get_log_entries()) if success else ()
    return PrivateOutcome(
        status=1 if success else 0,
        logs=logs,
        contract_address=contract_address if success else None,
        revert_reason=revert,
        gas_used=gas - int(computation.get_gas_remaining()) if success else gas,
    )
