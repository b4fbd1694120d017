"""The node's private side: private execution during a block, and the private view.

The public chain carries only the manager's 64-byte hash. On import every node asks its
own manager for the payload: a party decrypts and executes it on its private state, a
non-party is told 404 and skips it (engine/chain/vm.py is the public side). Everything is
written through the node's database inside the block's transaction; the node commits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import AtomicDatabaseAPI, BlockAPI, BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS

from engine.abc import PrivacyManagerClientAPI, PrivateStateAPI, ReceivedPayload
from engine.chain.marker import (
    MARKER_CALL_INTRINSIC_GAS,
    MARKER_CREATE_INTRINSIC_GAS,
    PAYLOAD_HASH_BYTES,
    is_private_marker,
    marker_payload_hash,
)
from engine.chain.views import contract_address_for
from engine.db import schema
from engine.errors import TransactionRejected
from engine.privacy.execution import ZERO_ADDRESS, outcome_of, private_receipt_view, run_message
from engine.privacy.receipts import PrivateOutcome
from engine.privacy.state import DualPrivateState
from engine.types import Address, PayloadHash, ReceiptView, TxRequest

logger = logging.getLogger(__name__)

MSG_VALUE = "ether value is not supported for private transactions"


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


class PrivateStateManager(PrivateStateAPI):
    """One private state trie per node, its root stored under each block hash."""

    def __init__(self, manager: PrivacyManagerClientAPI, db: AtomicDatabaseAPI) -> None:
        self.manager = manager
        self._db = db
        self._state_class = DualPrivateState.configure(__name__="NodeDualPrivateState")
        self._block: _BlockContext | None = None
        self._payloads: dict[bytes, ReceivedPayload | None] = {}  # prefetched for the next block
        self._sent: dict[bytes, ReceivedPayload] = {}  # sent from here, not yet in a block

    def close(self) -> None:
        close = getattr(self.manager, "close", None)
        if close is not None:
            close()

    def note_sent(self, payload_hash: bytes, payload: ReceivedPayload) -> None:
        """Remember a payload this node just distributed: its block needs no manager round trip."""
        self._sent[payload_hash] = payload

    # -- private roots ---------------------------------------------------------------------
    def on_genesis(self, genesis: BlockHeaderAPI) -> None:
        self._db[schema.make_private_state_root_key(genesis.hash)] = BLANK_ROOT_HASH

    def private_root(self, header: BlockHeaderAPI) -> bytes:
        try:
            return bytes(self._db[schema.make_private_state_root_key(header.hash)])
        except KeyError:
            return BLANK_ROOT_HASH

    def _open_state(self, root: bytes, public_state: StateAPI) -> DualPrivateState:
        state = self._state_class(self._db, public_state.execution_context, root)
        return state.attach_public(public_state)

    # -- block lifecycle ---------------------------------------------------------------------
    def validate_marker(self, transaction: SignedTransactionAPI) -> None:
        return None  # a node with a manager takes every well-formed marker

    def prefetch(self, transactions: Sequence[SignedTransactionAPI]) -> None:
        wanted = [marker_payload_hash(tx) for tx in transactions if is_private_marker(tx)]
        fresh = [h for h in dict.fromkeys(wanted) if h is not None and h not in self._payloads and h not in self._sent]
        if fresh:
            self._payloads.update(self.manager.receive_many([PayloadHash(h) for h in fresh]))

    def begin_block(self, parent: BlockHeaderAPI) -> None:
        self._block = _BlockContext(self.private_root(parent))

    def abort_block(self) -> None:
        self._block = None
        self._payloads.clear()  # ask again next time: a manager may have recovered data meanwhile

    def finish_block(self, block: BlockAPI) -> None:
        ctx = self._block
        if ctx is None:
            return
        root = ctx.parent_root
        if ctx.state is not None:
            ctx.state.persist()
            root = ctx.state.state_root
        self._db[schema.make_private_state_root_key(block.hash)] = root
        for tx_hash, outcome in ctx.outcomes.items():
            self._db[schema.make_private_receipt_key(tx_hash)] = outcome.to_bytes()
        for address, meta in ctx.created.items():
            self._db[schema.make_contract_privacy_key(address)] = json.dumps(meta).encode()
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

    def execute_private(self, transaction: SignedTransactionAPI, public_state: StateAPI) -> None:
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
        tx = transaction
        received = self._payload_for(bytes(tx.data))
        if received is None:
            return
        if ctx.state is None:
            ctx.state = self._open_state(ctx.parent_root, public_state)
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
        created_at = contract_address_for(tx)
        computation = run_message(state, tx.sender, None if creating else bytes(tx.to), received.payload, gas,
                                  create_address=created_at)
        outcome = outcome_of(computation, created_at if creating else None, gas)
        ctx.outcomes[bytes(tx.hash)] = outcome
        if creating and outcome.status == 1 and outcome.contract_address is not None:
            ctx.created[outcome.contract_address] = {
                "creationTxHash": "0x" + bytes(tx.data).hex(),
                "privacyFlag": int(received.privacy_flag),
                "mandatoryFor": list(received.mandatory_recipients),
            }

    # -- the private view ---------------------------------------------------------------------
    def state_for(self, address: Address, header: BlockHeaderAPI, public_state: StateAPI) -> StateAPI | None:
        root = self.private_root(header)
        if root == BLANK_ROOT_HASH:
            return None
        state = self._open_state(root, public_state)
        return state if state.private_account_exists(address) else None

    def run_call(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI,
                 gas: int) -> ComputationAPI | None:
        if request.to is not None:
            return self._call(request, header, public_state, gas)
        if request.private is not None:
            return self._simulate_creation(request, header, public_state, gas)
        return None

    def _call(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI,
              gas: int) -> ComputationAPI | None:
        """eth_call / eth_estimateGas against a private contract (None: not private here)."""
        assert request.to is not None
        state = self.state_for(request.to, header, public_state)
        if state is None:
            return None
        assert isinstance(state, DualPrivateState)
        if request.value:
            raise TransactionRejected(MSG_VALUE)
        # The gas a private execution gets is the marker's gas less the marker's intrinsic gas
        # (charged on the 64-byte hash), so that is what an estimate must add on top.
        intrinsic = MARKER_CALL_INTRINSIC_GAS if request.private is not None else _calldata_intrinsic(request.data)
        if gas < intrinsic:
            raise TransactionRejected(f"intrinsic gas too low: have {gas}, want {intrinsic}")
        snapshot = state.snapshot()
        try:
            return run_message(state, request.sender or ZERO_ADDRESS, request.to, request.data, gas - intrinsic)
        finally:
            state.revert(snapshot)

    def _simulate_creation(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI,
                           gas: int) -> ComputationAPI:
        """eth_estimateGas / the pre-send simulation of a private contract creation: the init code
        runs on this node's private state (falling through to public accounts, read-only), as it
        will on import, so a constructor can read the sender's private contracts. The gas counts the
        creating marker's intrinsic gas, as for calls."""
        if request.value:
            raise TransactionRejected(MSG_VALUE)
        if gas < MARKER_CREATE_INTRINSIC_GAS:
            raise TransactionRejected(f"intrinsic gas too low: have {gas}, want {MARKER_CREATE_INTRINSIC_GAS}")
        state = self._open_state(self.private_root(header), public_state)
        sender = request.sender or ZERO_ADDRESS
        create_address = Address(generate_contract_address(Address(sender), public_state.get_nonce(sender)))
        snapshot = state.snapshot()
        try:
            return run_message(state, sender, None, request.data, gas - MARKER_CREATE_INTRINSIC_GAS,
                               create_address=create_address)
        finally:
            state.revert(snapshot)

    def private_receipt(self, public: ReceiptView) -> ReceiptView | None:
        try:
            raw = self._db[schema.make_private_receipt_key(public.transaction_hash)]
        except KeyError:
            return None
        return private_receipt_view(public, PrivateOutcome.from_bytes(bytes(raw)))

    def contract_metadata(self, address: Address) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self._db[schema.make_contract_privacy_key(address)]))
        except KeyError:
            return None
