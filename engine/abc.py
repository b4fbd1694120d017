"""Interfaces of the node's parts. Implementations live in sibling packages and are plugged
in at the composition root (`engine/server.py`), as py-evm plugs in its consensus classes.

- `NodeAPI`: what the JSON-RPC layer asks of the chain node (reads, execution, signed
  submissions). The node takes only signed transactions and signed private markers.
- `PrivateTransactionsAPI`: the privacy service above the node (GoQuorum's `privateFor`
  sends, `eth_sendRawPrivateTransaction`, payload and metadata reads); the RPC layer calls it.
- `PrivateStateAPI`: the chain's private side, called by the node during block import and
  building and for its private view; it receives headers and public states as arguments
  and never calls back into the node. `engine/chain/noprivacy.py` is the do-nothing default.
- `PrivacyManagerClientAPI`: the private side's view of its transaction manager.
- `OrderingServiceAPI`: gives every node the same sequence of blocks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI

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
    SimulatedBlock,
    SimulateOptions,
    StateOverrides,
    TransactionView,
    TxRequest,
)


class NodeAPI(ABC):
    """What the JSON-RPC layer may ask of a node.

    Every read resolves the node's private view first where GoQuorum does (an account that
    exists in this node's private state is read from there), then the public state.
    Block ids are numbers, tags or 32-byte hashes; an unknown block raises ResourceNotFound.
    """

    chain_id: int

    # -- chain data ------------------------------------------------------------------
    @abstractmethod
    def block_number(self) -> int:
        """Number of the newest imported block."""

    @abstractmethod
    def get_block(self, block_id: BlockId, full_transactions: bool) -> BlockView | None:
        """The block, or None when no such block exists. `transactions` holds full views
        when asked, else views whose only meaningful field is `hash`."""

    @abstractmethod
    def get_transaction(self, tx_hash: Hash32) -> TransactionView | None:
        """A mined transaction, or a pending one (no block fields), or None."""

    @abstractmethod
    def get_transaction_by_block(self, block_id: BlockId, index: int) -> TransactionView | None: ...

    @abstractmethod
    def get_receipt(self, tx_hash: Hash32) -> ReceiptView | None:
        """This node's receipt: the private one on a party, the public one elsewhere."""

    @abstractmethod
    def get_logs(self, log_filter: LogFilter) -> list[LogView]:
        """Logs in the inclusive block range, public and (on a party) private."""

    # -- account state ---------------------------------------------------------------
    @abstractmethod
    def get_balance(self, address: Address, block_id: BlockId) -> int: ...

    @abstractmethod
    def get_nonce(self, address: Address, block_id: BlockId) -> int:
        """With block id "pending", counts transactions waiting in the pool too."""

    @abstractmethod
    def get_code(self, address: Address, block_id: BlockId) -> bytes: ...

    @abstractmethod
    def get_storage_at(self, address: Address, slot: int, block_id: BlockId) -> bytes:
        """32 bytes."""

    @abstractmethod
    def get_storage_root(self, address: Address, block_id: BlockId) -> Hash32: ...

    # -- execution -------------------------------------------------------------------
    @abstractmethod
    def call(self, request: TxRequest, block_id: BlockId, overrides: StateOverrides | None = None) -> bytes:
        """Run without committing on committed state (with geth's state `overrides` applied first).
        Raises ExecutionReverted with the revert bytes, ExecutionAborted past the RPC EVM timeout."""

    @abstractmethod
    def estimate_gas(self, request: TxRequest, block_id: BlockId, overrides: StateOverrides | None = None) -> int:
        """Smallest gas limit that does not run out of gas. Raises ExecutionReverted."""

    @abstractmethod
    def simulate_private_send(self, request: TxRequest, nonce: int) -> EnhancedPrivacyMetadata:
        """The enhanced-privacy metadata of a private send, simulated on the head's private state."""

    @abstractmethod
    def create_access_list(self, request: TxRequest, block_id: BlockId,
                           overrides: StateOverrides | None = None) -> AccessListResult:
        """geth's eth_createAccessList: the accounts and slots the call touches, and its gas with them."""

    @abstractmethod
    def simulate(self, options: SimulateOptions, block_id: BlockId) -> list[SimulatedBlock]:
        """geth's eth_simulateV1 on the public state: simulated blocks with each call's result, nothing
        committed. Raises SimulationRejected (geth's codes) when the request cannot run at all."""

    # -- submission ------------------------------------------------------------------
    @abstractmethod
    def send_transaction(self, request: TxRequest) -> Hash32:
        """Fill, sign with an unlocked account, submit; private when `request.private`."""

    @abstractmethod
    def send_raw_transaction(self, raw: bytes) -> Hash32:
        """Validate and submit a signed transaction (legacy, 2930, 1559)."""

    @abstractmethod
    def get_raw_transaction(self, tx_hash: Hash32) -> bytes | None:
        """Canonical bytes of a mined or pending transaction (as sent to eth_sendRawTransaction), or None."""

    @abstractmethod
    def get_raw_transaction_by_block(self, block_id: BlockId, index: int) -> bytes | None: ...

    # -- signing (geth's eth_sign, eth_signTransaction, eth_fillTransaction) ---------
    @abstractmethod
    def sign_message(self, signer: Address, message: bytes) -> bytes:
        """65-byte EIP-191 signature, v = 27/28. Raises TransactionRejected("unknown account")."""

    @abstractmethod
    def sign_transaction(self, request: TxRequest) -> bytes:
        """The signed raw transaction, not submitted; `request` names nonce, gas and fees."""

    @abstractmethod
    def fill_unsigned(self, request: TxRequest) -> bytes:
        """The unsigned transaction (v, r, s = 0) with nonce, gas, fees and chain id filled in."""

    # -- fee market and accounts -----------------------------------------------------
    @abstractmethod
    def accounts(self) -> list[Address]: ...

    @abstractmethod
    def gas_price(self) -> int: ...

    @abstractmethod
    def max_priority_fee(self) -> int: ...

    @abstractmethod
    def fee_history(self, block_count: int, newest: BlockId,
                    reward_percentiles: tuple[float, ...] | None) -> FeeHistory: ...

    # -- lifecycle -------------------------------------------------------------------
    @abstractmethod
    def subscribe_new_blocks(self, callback: Callable[[BlockView], None]) -> None:
        """Call `callback` (on the node's thread) after each block is committed."""

    @abstractmethod
    def subscribe_pending_transactions(self, callback: Callable[[Hash32], None]) -> None:
        """Call `callback` with the hash of each transaction entering this node's pool (on the
        admitting thread; it must be quick and must not raise)."""


@dataclass(frozen=True)
class EnhancedPrivacyMetadata:
    """What the sender's simulation hands its manager with the payload (PROTOCOL.md §3)."""

    affected_contract_transactions: tuple[PayloadHash, ...] = ()
    exec_hash: bytes = b""


@dataclass(frozen=True)
class ReceivedPayload:
    """What a party's manager returns for a private transaction."""

    payload: bytes
    privacy_flag: PrivacyFlag
    affected_contract_transactions: tuple[PayloadHash, ...]
    exec_hash: bytes
    mandatory_recipients: tuple[PtmPublicKey, ...]


class PrivateTransactionsAPI(ABC):
    """GoQuorum's private sending and reading, above the node (the RPC layer calls it).

    Sends validate the privacy fields in GoQuorum's order, hand the payload to the manager,
    then submit a signed marker through `NodeAPI.send_raw_transaction`.
    """

    @abstractmethod
    def send_transaction(self, request: TxRequest) -> Hash32:
        """`eth_sendTransaction` with `privateFor`: distribute, sign the marker with the sender's
        unlocked key and next nonce, submit. Raises PrivateTransactionRejected."""

    @abstractmethod
    def fill_transaction(self, request: TxRequest) -> bytes:
        """GoQuorum's `eth_fillTransaction` with `privateFor`: store the payload at the manager
        (`/storeraw`, not yet sent) and return the unsigned marker (data = the payload hash,
        v = 37) with nonce and gas filled in, for external signing and
        `eth_sendRawPrivateTransaction`."""

    @abstractmethod
    def send_raw_private_transaction(self, raw: bytes, private_for: tuple[PtmPublicKey, ...],
                                     privacy_flag: PrivacyFlag,
                                     mandatory_for: tuple[PtmPublicKey, ...]) -> Hash32:
        """Distribute a payload stored with `/storeraw`, then submit the signed marker."""

    @abstractmethod
    def get_quorum_payload(self, payload_hash: PayloadHash) -> bytes | None:
        """The decrypted payload, or None when this node is not a party."""

    @abstractmethod
    def get_quorum_payload_extra(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        """The payload with its privacy metadata, or None when this node is not a party."""

    @abstractmethod
    def get_contract_privacy_metadata(self, address: Address) -> dict[str, object] | None: ...


class PrivateStateAPI(ABC):
    """The chain's private side: private execution during a block, and the private view.

    Block lifecycle, in the node's order: `prefetch` (outside the chain lock; may raise
    PrivacyManagerUnavailable), `begin_block`, `execute_private` for each marker (called by the
    public state transition), then `finish_block` (writes go into the block's database
    transaction, which the node commits) or `abort_block` (the node rolls the transaction back).
    Reads take the header and the public state at that header as arguments.
    """

    # -- block lifecycle ---------------------------------------------------------------
    @abstractmethod
    def on_genesis(self, genesis: BlockHeaderAPI) -> None:
        """Record the empty private state for the genesis block (in its database transaction)."""

    @abstractmethod
    def validate_marker(self, transaction: SignedTransactionAPI) -> None:
        """Refuse at intake a private marker this node cannot take (raises TransactionRejected)."""

    @abstractmethod
    def prefetch(self, transactions: Sequence[SignedTransactionAPI]) -> None:
        """Fetch the payloads of a block's markers before it runs (one round trip)."""

    @abstractmethod
    def begin_block(self, parent: BlockHeaderAPI) -> None:
        """Open the private state after `parent` for the block about to run."""

    @abstractmethod
    def execute_private(self, transaction: SignedTransactionAPI, public_state: StateAPI) -> None:
        """Run a marker's payload on the private state, or skip it when not a party."""

    @abstractmethod
    def finish_block(self, block: BlockAPI) -> None:
        """Persist the block's private state, receipts and contract metadata."""

    @abstractmethod
    def abort_block(self) -> None:
        """Forget the block under way."""

    # -- the private view --------------------------------------------------------------
    @abstractmethod
    def state_for(self, address: Address, header: BlockHeaderAPI, public_state: StateAPI) -> StateAPI | None:
        """The private state at `header` when `address` exists in it, else None (read the public one)."""

    @abstractmethod
    def run_call(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI,
                 gas: int) -> ComputationAPI | None:
        """`eth_call` / `eth_estimateGas` against a private contract, or a private creation's
        simulation; None when the request is not private on this node (run it publicly)."""

    @abstractmethod
    def simulate_send(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI, gas: int,
                      nonce: int) -> EnhancedPrivacyMetadata:
        """GoQuorum's pre-send simulation of a private payload (`request.data`, sent by
        `request.sender` with `nonce`): the affected contracts' creation transactions and, for
        flag 3, the execution hash. Raises PrivateTransactionRejected when a flag rule is broken,
        ExecutionReverted when a flagged payload reverts."""

    @abstractmethod
    def private_receipt(self, public: ReceiptView) -> ReceiptView | None:
        """This node's private receipt for a marker, or None when it is not a party."""

    @abstractmethod
    def privacy_marker_receipt(self, public: ReceiptView) -> ReceiptView | None:
        """This party's private receipt of the inner transaction of the PMT whose public receipt
        is `public`, placed at the PMT (its hash on the receipt and its logs), for log queries and
        `eth_getPrivateTransactionReceipt`; None when `public` is no PMT's, this node is not a
        party, or the inner transaction did not run."""

    @abstractmethod
    def contract_metadata(self, address: Address) -> dict[str, Any] | None:
        """Privacy metadata of a private contract created here (flag, creation hash, mandatory)."""

    @abstractmethod
    def close(self) -> None: ...


class PrivacyManagerClientAPI(ABC):
    """The node's view of its private transaction manager (Q2T API).

    Invariant: `receive` returns None only on the manager's 404 ("not a party"). Every
    transport failure or 5xx is retried a bounded number of times and then raises
    PrivacyManagerUnavailable; a failure is never reported as "not a party".
    """

    @abstractmethod
    def upcheck(self) -> bool: ...

    @abstractmethod
    def send(self, payload: bytes, private_from: PtmPublicKey | None, private_for: tuple[PtmPublicKey, ...],
             privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
             affected_contract_transactions: tuple[PayloadHash, ...] = (),
             exec_hash: bytes = b"", mandatory_recipients: tuple[PtmPublicKey, ...] = ()) -> PayloadHash: ...

    @abstractmethod
    def receive(self, payload_hash: PayloadHash) -> ReceivedPayload | None: ...

    @abstractmethod
    def receive_many(self, payload_hashes: list[PayloadHash]) -> dict[bytes, ReceivedPayload | None]:
        """`receive` for a block's worth of hashes, keyed by hash; same invariant as `receive`."""

    @abstractmethod
    def receive_raw(self, payload_hash: PayloadHash) -> bytes | None:
        """A payload stored with `store_raw` (sender only), or None."""

    @abstractmethod
    def store_raw(self, payload: bytes, private_from: PtmPublicKey | None) -> PayloadHash: ...

    @abstractmethod
    def send_signed(self, payload_hash: PayloadHash, private_for: tuple[PtmPublicKey, ...],
                    privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
                    affected_contract_transactions: tuple[PayloadHash, ...] = (),
                    exec_hash: bytes = b"", mandatory_recipients: tuple[PtmPublicKey, ...] = ()) -> PayloadHash: ...

    @abstractmethod
    def public_keys(self) -> list[PtmPublicKey]: ...

    # -- contract extension (GoQuorum's IsSender / GetParticipants); optional for other clients --
    def is_sender(self, payload_hash: PayloadHash) -> bool:
        """Whether this manager sent the payload (False when it does not hold it)."""
        raise NotImplementedError("this manager client cannot tell a payload's sender")

    def participants(self, payload_hash: PayloadHash) -> list[PtmPublicKey]:
        """The recipient keys of this manager's copy (all of them on the sender's manager)."""
        raise NotImplementedError("this manager client cannot list a payload's participants")


class PrivateExecutionHookAPI(ABC):
    """Called by the private side after a party ran a private transaction successfully, inside
    the block's processing: contract extension (engine/extension) acts on its management
    contract's events there, so its writes commit with the block on every party alike."""

    @abstractmethod
    def after_private_execution(self, transaction: SignedTransactionAPI,
                                logs: Sequence[tuple[bytes, tuple[int, ...], bytes]],
                                state: StateAPI) -> dict[bytes, dict[str, Any]]:
        """Act on the transaction's private logs (writing into `state` as needed); returns
        privacy metadata to record with the block, by contract address."""


class ContractExtensionAPI(ABC):
    """GoQuorum's `quorumExtension_*` methods (PROTOCOL.md §11); the RPC layer calls it."""

    @abstractmethod
    def extend_contract(self, to_extend: Address, recipient_key: PtmPublicKey, recipient: Address,
                        request: TxRequest) -> Hash32: ...

    @abstractmethod
    def approve_extension(self, management_contract: Address, vote: bool, request: TxRequest) -> Hash32: ...

    @abstractmethod
    def cancel_extension(self, management_contract: Address, request: TxRequest) -> Hash32: ...

    @abstractmethod
    def extension_status(self, management_contract: Address) -> str:
        """`"ACTIVE"` while open, `"DONE"` once accepted and shared, declined or cancelled."""

    @abstractmethod
    def active_extensions(self) -> list[dict[str, object]]: ...


class OrderingServiceAPI(ABC):
    """Gives every node the same sequence of blocks.

    One node at a time is the producer (`is_producer`). Any node `submit`s signed raw
    transactions; the producer `take_pending`s them, builds a block, `append_block`s it at
    the next height (compare-and-swap: a stale producer's append fails) and `acknowledge`s
    what it mined or refused. Every node reads blocks in order with `get_block_rlp`.

    Durability: `submit` returns only once the transactions are durable in the service (they
    survive SIGKILL of any node); a submission is deleted only by `acknowledge`. Any call may
    raise OrderingUnavailable (service unreachable, no quorum): nothing is acknowledged then,
    though a write that timed out may still be committed by the service later (a submission
    then reaches a block; an appended block is the one this producer built: no fork either way).
    """

    @abstractmethod
    def submit(self, raw_transactions: list[bytes]) -> None: ...

    @abstractmethod
    def take_pending(self, max_count: int) -> list[bytes]: ...

    @abstractmethod
    def is_producer(self) -> bool: ...

    @abstractmethod
    def append_block(self, number: int, block_rlp: bytes) -> bool:
        """Store the block at `number` if that height is still free; False if taken."""

    @abstractmethod
    def acknowledge(self, tx_hashes: list[bytes]) -> None:
        """Forget submissions that are now in a block or were refused for good.

        Until then a submission survives a producer crash: the next producer reads it again.
        """

    @abstractmethod
    def resign(self) -> None:
        """Stop being the producer (a halted node must not hold the network up)."""

    @abstractmethod
    def current_producer(self) -> str | None:
        """The name of the node holding the producer role now, or None when nobody holds it."""

    @abstractmethod
    def get_block_rlp(self, number: int) -> bytes | None: ...

    @abstractmethod
    def head_number(self) -> int:
        """Highest appended block number (0 = genesis only)."""

    @abstractmethod
    def wait_for_activity(self, timeout: float) -> None:
        """Block until new pending transactions or blocks may exist, or the timeout."""

    @abstractmethod
    def wake(self) -> None:
        """End a `wait_for_activity` in progress now (the node is stopping: it must not sit out
        the rest of the wait)."""

    @abstractmethod
    def report_head(self, number: int) -> None:
        """Publish how far this node has imported, for the producer's pacing (engine/chain/pacing.py).

        Advisory and best effort: never raises, may be coalesced or dropped; nothing about the
        chain's safety reads it.
        """

    @abstractmethod
    def reported_heads(self) -> dict[str, int]:
        """The latest head each node reported (by node name), as far as this instance knows."""

    @abstractmethod
    def close(self) -> None: ...


@dataclass(frozen=True)
class StateCommitment:
    """A party's storage root of one private contract after one block (divergence detection,
    PROTOCOL.md §12), with the payloads whose execution in that block touched the contract."""

    block_number: int
    block_hash: bytes
    contract: Address
    storage_root: bytes
    payload_hashes: tuple[PayloadHash, ...]


@dataclass(frozen=True)
class StateDivergence:
    """Parties' storage roots of one private contract after one block disagree. `sides` pairs each
    root with the manager keys (base64) that committed to it; `own_parties` are this node's keys."""

    block_number: int
    block_hash: bytes
    contract: Address
    sides: tuple[tuple[bytes, tuple[PtmPublicKey, ...]], ...]
    own_parties: tuple[PtmPublicKey, ...]
    detected_at: int


class StateCommitmentsAPI(ABC):
    """Where a node's state commitments go and its detected divergences come from (its manager).

    `submit_state_commitments` returns True once the manager stored them, False when the manager
    does not take commitments at all, and raises PrivacyManagerUnavailable when it cannot be
    reached (the caller retries later).
    """

    @abstractmethod
    def submit_state_commitments(self, commitments: Sequence[StateCommitment]) -> bool: ...

    @abstractmethod
    def state_divergences(self, from_block: int = 0) -> list[StateDivergence]:
        """Divergences of contracts this node is party to, from block `from_block` on."""
