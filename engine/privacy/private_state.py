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
from eth.db.atomic import AtomicDB
from eth.db.batch import BatchDB

from engine.abc import (
    EnhancedPrivacyMetadata,
    PrivacyManagerClientAPI,
    PrivateExecutionHookAPI,
    PrivateStateAPI,
    ReceivedPayload,
)
from engine.chain.calls import raise_for_computation
from engine.chain.marker import (
    MARKER_CALL_INTRINSIC_GAS,
    MARKER_CREATE_INTRINSIC_GAS,
    PAYLOAD_HASH_BYTES,
    is_private_marker,
    marker_payload_hash,
)
from engine.chain.views import contract_address_for
from engine.db import schema
from engine.errors import PrivateTransactionRejected, TransactionRejected
from engine.privacy.commitments import BlockObserver, reached_addresses
from engine.privacy.enhanced import (
    AffectedContracts,
    affected_contracts,
    execution_failure,
    execution_hash,
    flagged,
    sender_metadata,
)
from engine.privacy.execution import ZERO_ADDRESS, outcome_of, private_receipt_view, run_message
from engine.privacy.receipts import PrivateOutcome
from engine.privacy.state import DualPrivateState
from engine.types import Address, PayloadHash, PrivacyFlag, ReceiptView, TxRequest

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
        self.touched: dict[bytes, set[bytes]] = {}  # payload hash → addresses it reached (commitments)


class PrivateStateManager(PrivateStateAPI):
    """One private state trie per node, its root stored under each block hash."""

    def __init__(self, manager: PrivacyManagerClientAPI, db: AtomicDatabaseAPI) -> None:
        self.manager = manager
        self._db = db
        self._state_class = DualPrivateState.configure(__name__="NodeDualPrivateState")
        self._block: _BlockContext | None = None
        self._payloads: dict[bytes, ReceivedPayload | None] = {}  # prefetched for the next block
        self._sent: dict[bytes, ReceivedPayload] = {}  # sent from here, not yet in a block
        self.extension_hook: PrivateExecutionHookAPI | None = None  # contract extension (engine/server.py)
        self.block_observer: BlockObserver | None = None  # divergence detection (engine/server.py)

    def close(self) -> None:
        close = getattr(self.manager, "close", None)
        if close is not None:
            close()

    def discard_caches(self) -> None:
        """Forget every payload held in memory and any block under way: after the node's
        database was replaced (a dev snapshot's revert); what was sent but not mined is gone."""
        self.abort_block()
        self._sent.clear()

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
        if any(flagged(meta) for meta in ctx.created.values()):
            self._db[schema.make_flagged_contracts_key()] = b"\x01"
        for tx in block.transactions:
            key = bytes(tx.data)
            self._payloads.pop(key, None)
            self._sent.pop(key, None)
        if self.block_observer is not None and ctx.state is not None and ctx.touched:
            self.block_observer(block, ctx.state, ctx.touched)
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
        3. GoQuorum's enhanced-privacy checks on what the payload actually touched
           (engine/privacy/enhanced.py): a flag that differs from an affected contract's, a
           flagged contract whose creation the manager did not verify for this party, or (flag 3)
           an execution hash other than the sender's, and the execution is undone: private
           receipt status 0, nothing changed.
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
        validating = received.privacy_flag == PrivacyFlag.PRIVATE_STATE_VALIDATION
        if validating:
            # The execution hash needs storage roots, which a journal snapshot cannot undo:
            # persist first (inside the block's database transaction) and reopen on failure.
            state.persist()
        root_before = state.state_root
        snapshot = state.snapshot()
        gas = max(0, tx.gas - tx.intrinsic_gas)
        creating = tx.to == CREATE_CONTRACT_ADDRESS
        created_at = contract_address_for(tx)
        computation = run_message(state, tx.sender, None if creating else bytes(tx.to), received.payload, gas,
                                  create_address=created_at)
        ctx.touched.setdefault(bytes(tx.data), set()).update(reached_addresses(computation))
        affected = affected_contracts(computation, state.private_account_exists)
        failure = execution_failure(affected, received.privacy_flag, received.affected_contract_transactions,
                                    self._metadata_in_block)
        if failure is None and validating:
            failure = self._exec_hash_failure(state, affected, received.exec_hash)
        if failure is not None:
            logger.info("private transaction 0x%s is not applied on this node: %s", bytes(tx.hash).hex(), failure)
            if validating:
                ctx.state = self._open_state(root_before, public_state)
            else:
                state.revert(snapshot)
            ctx.outcomes[bytes(tx.hash)] = PrivateOutcome(0, (), None, None, gas)
            return
        outcome = outcome_of(computation, created_at if creating else None, gas)
        ctx.outcomes[bytes(tx.hash)] = outcome
        if outcome.status == 1:
            for address in affected.creations:
                if state.private_account_exists(address) and state.get_code(address):
                    # Every contract the payload created, nested ones too, is bound to this
                    # transaction: its flag, its parties (through the creation hash) and its
                    # mandatory recipients, as GoQuorum's EVM sets them on CREATE.
                    ctx.created[address] = {
                        "creationTxHash": "0x" + bytes(tx.data).hex(),
                        "privacyFlag": int(received.privacy_flag),
                        "mandatoryFor": list(received.mandatory_recipients),
                    }
            # -- contract extension (engine/extension): its management contract's events act here,
            # in the block, and the metadata it returns is recorded with the block -----------------
            if self.extension_hook is not None and outcome.logs:
                ctx.created.update(self.extension_hook.after_private_execution(tx, outcome.logs, state))
            # -- end contract extension ----------------------------------------------------------

    @staticmethod
    def _exec_hash_failure(state: DualPrivateState, affected: AffectedContracts, expected: bytes) -> str | None:
        if not expected:
            return "private state validation needs an execution hash and the payload carries none"
        state.persist()
        if execution_hash(state, affected.all) != expected:
            return "execution hash check failed: this party's result differs from the sender's"
        return None

    def _metadata_in_block(self, address: bytes) -> dict[str, Any] | None:
        """Privacy metadata as the block being executed sees it: contracts created earlier in
        the block first, then the stored ones."""
        ctx = self._block
        if ctx is not None and address in ctx.created:
            return ctx.created[address]
        return self.contract_metadata(Address(address))

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

    def simulate_send(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI, gas: int,
                      nonce: int) -> EnhancedPrivacyMetadata:
        """GoQuorum's `simulateExecutionForPE`: run the payload as its block will, on a throwaway
        layer over this node's private state, and derive what the manager must carry."""
        flag = request.private.privacy_flag if request.private is not None else PrivacyFlag.STANDARD_PRIVATE
        sender = request.sender or ZERO_ADDRESS
        creating = request.to is None
        intrinsic = MARKER_CREATE_INTRINSIC_GAS if creating else MARKER_CALL_INTRINSIC_GAS
        # Writes land in memory only: the execution hash needs persisted storage roots.
        scratch = AtomicDB(BatchDB(self._db))
        state = self._state_class(scratch, public_state.execution_context, self.private_root(header))
        state.attach_public(public_state)
        create_address = generate_contract_address(Address(sender), nonce) if creating else None
        computation = run_message(state, sender, request.to, request.data, max(0, gas - intrinsic),
                                  create_address=create_address)
        if computation.is_error and flag != PrivacyFlag.STANDARD_PRIVATE:
            raise_for_computation(computation)  # GoQuorum refuses a flagged payload that fails
        affected = affected_contracts(computation, state.private_account_exists)
        acoths = sender_metadata(affected, flag, self.contract_metadata_bytes)
        if isinstance(acoths, str):
            raise PrivateTransactionRejected(acoths)
        exec_hash = b""
        if flag == PrivacyFlag.PRIVATE_STATE_VALIDATION:
            state.persist()
            exec_hash = execution_hash(state, affected.all)
        return EnhancedPrivacyMetadata(tuple(PayloadHash(h) for h in acoths), exec_hash)

    def holds_flagged_contracts(self) -> bool:
        """Whether any private contract here has flag 1-3 (a standard private payload can touch
        one only then, so the sender's simulation of it can be skipped until then)."""
        return self._db.exists(schema.make_flagged_contracts_key())

    def contract_metadata_bytes(self, address: bytes) -> dict[str, Any] | None:
        return self.contract_metadata(Address(address))

    def private_receipt(self, public: ReceiptView) -> ReceiptView | None:
        try:
            raw = self._db[schema.make_private_receipt_key(public.transaction_hash)]
        except KeyError:
            return None
        return private_receipt_view(public, PrivateOutcome.from_bytes(bytes(raw)))

    def privacy_marker_receipt(self, public: ReceiptView) -> ReceiptView | None:
        return None  # no privacy marker transactions here (engine/privacy/pmt_state.py runs them)

    def contract_metadata(self, address: Address) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self._db[schema.make_contract_privacy_key(address)]))
        except KeyError:
            return None
