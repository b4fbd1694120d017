"""The extension's part of block processing: act on the management contract's private events.

GoQuorum's `CheckExtensionAndSetPrivateState`, run after each private transaction a party
executed, inside the block (so every party of the management contract does the same at the
same block, and the writes commit with it):

- `NewContractExtensionContractCreated`: record the extension (`activeExtensionContracts`);
- `CanPerformStateShare`: the recipient accepted (the initiator's node shares the state after
  the block: engine/extension/service.py);
- `ExtensionFinished`: the extension is done, declined or cancelled;
- `StateShared(toExtend, hash, uuid)`: a party that has the contract keeps its state and, with
  enhanced privacy (flags 1-3), records the share as the contract's creation payload (its
  participants now include the new party); a node without the contract installs the shared
  state only if the uuid is its own approval of this very management contract (its manager
  sent it, and it names this contract), so no one can push state onto a node that did not accept.

Only events emitted by the embedded management contract's exact code, in this node's private
state, count. A share that does not decode or does not match is skipped with a log line (the
same on every replay); a manager that cannot answer halts the block (never "not shared").
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from typing import Any

from eth.abc import AtomicDatabaseAPI, SignedTransactionAPI, StateAPI
from eth_utils import keccak

from engine.abc import PrivacyManagerClientAPI, PrivateExecutionHookAPI
from engine.chain.marker import PAYLOAD_HASH_BYTES
from engine.extension import contract
from engine.extension.registry import ACCEPTED, DONE, ExtensionRecord, ExtensionRegistry
from engine.extension.snapshot import ContractSnapshot, SnapshotInvalid, build_storage, decode_snapshot
from engine.privacy.state import DualPrivateState
from engine.types import PayloadHash

logger = logging.getLogger(__name__)

APPROVAL_DOMAIN = b"privnet:contract-extension:approval:"

MetadataReader = Callable[[bytes], dict[str, Any] | None]


def approval_payload(management_contract: bytes) -> bytes:
    """What a recipient's manager sends when it accepts: its hash is the vote's uuid."""
    return APPROVAL_DOMAIN + management_contract


def install(state: DualPrivateState, db: AtomicDatabaseAPI, snapshot: ContractSnapshot) -> None:
    """Create the account from the snapshot in the private state under way (storage trie rebuilt
    node by node, so its root is the sender's)."""
    root = build_storage(db, snapshot)
    address = snapshot.address
    state.set_code(address, snapshot.code)
    state.set_nonce(address, snapshot.nonce)
    state.set_balance(address, snapshot.balance)
    # py-evm has no public setter for a storage root: the account's storage is the trie just built.
    account_db = state._account_db
    account_db._set_storage_root(address, root)
    account_db._account_stores.pop(address, None)


class ExtensionApplier(PrivateExecutionHookAPI):
    def __init__(self, manager: PrivacyManagerClientAPI, db: AtomicDatabaseAPI, registry: ExtensionRegistry,
                 metadata: MetadataReader) -> None:
        self.manager = manager
        self._db = db
        self.registry = registry
        self._metadata = metadata

    def after_private_execution(self, transaction: SignedTransactionAPI,
                                logs: Sequence[tuple[bytes, tuple[int, ...], bytes]],
                                state: StateAPI) -> dict[bytes, dict[str, Any]]:
        updates: dict[bytes, dict[str, Any]] = {}
        if not isinstance(state, DualPrivateState):
            return updates
        for address, topics, data in logs:
            if len(topics) != 1 or topics[0] not in contract.TOPIC_INTS:
                continue
            if not state.private_account_exists(address) or keccak(state.get_code(address)) != \
                    contract.RUNTIME_CODE_HASH:
                continue  # an event of that shape from any other code means nothing here
            event = contract.TOPIC_INTS[topics[0]]
            try:
                if event == contract.NEW_EXTENSION:
                    self._created(transaction, address, data)
                elif event == contract.CAN_SHARE:
                    self.registry.set_state(address, ACCEPTED)
                elif event == contract.FINISHED:
                    self.registry.set_state(address, DONE)
                elif event == contract.STATE_SHARED:
                    updates.update(self._state_shared(state, address, data))
            except (ValueError, SnapshotInvalid) as exc:  # eth_abi's decoding errors are ValueErrors
                logger.warning("contract extension: event of %s in tx 0x%s ignored: %s", "0x" + address.hex(),
                               bytes(transaction.hash).hex(), exc)
        return updates

    def _created(self, transaction: SignedTransactionAPI, management: bytes, data: bytes) -> None:
        created = contract.decode_new_extension(data)
        self.registry.add(ExtensionRecord(
            management_contract=management, contract_extended=created.to_extend,
            creation_data=bytes(transaction.data), initiator=bytes(transaction.sender),
            recipient=created.recipient, recipient_ptm_key=created.recipient_key))

    def _state_shared(self, state: DualPrivateState, management: bytes, data: bytes) -> dict[bytes, dict[str, Any]]:
        shared = contract.decode_state_shared(data)
        target = shared.to_extend
        try:
            payload_hash = base64.b64decode(shared.payload_hash_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SnapshotInvalid("the shared state's hash is not base64") from None
        if len(payload_hash) != PAYLOAD_HASH_BYTES:
            raise SnapshotInvalid("the shared state's hash is not 64 bytes")
        if state.private_account_exists(target):
            # An existing party keeps its state; with enhanced privacy the share becomes the
            # contract's creation payload, whose participants include the new party (GoQuorum).
            meta = self._metadata(target)
            if meta is not None and int(meta.get("privacyFlag", 0)) != 0:
                return {target: {**meta, "creationTxHash": "0x" + payload_hash.hex()}}
            return {}
        if state.is_public_only(target):
            raise SnapshotInvalid("the extended address is a public account here")
        if not self._uuid_is_own(management, shared.uuid):
            return {}
        received = self.manager.receive(PayloadHash(payload_hash))
        if received is None:
            logger.warning("contract extension: state of 0x%s was not shared with this node", target.hex())
            return {}
        snapshot = decode_snapshot(received.payload)
        if snapshot.address != target:
            raise SnapshotInvalid("the shared state is of another contract")
        install(state, self._db, snapshot)
        logger.info("contract extension: installed the state of 0x%s (storage root 0x%s)", target.hex(),
                    snapshot.storage_root.hex())
        return {target: {"creationTxHash": "0x" + payload_hash.hex(), "privacyFlag": int(received.privacy_flag),
                         "mandatoryFor": list(received.mandatory_recipients)}}

    def _uuid_is_own(self, management: bytes, uuid: str) -> bool:
        try:
            key = bytes.fromhex(uuid.removeprefix("0x"))
        except ValueError:
            return False
        if len(key) != PAYLOAD_HASH_BYTES or not self.manager.is_sender(PayloadHash(key)):
            return False
        received = self.manager.receive(PayloadHash(key))
        return received is not None and received.payload == approval_payload(management)
