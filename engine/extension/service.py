"""GoQuorum's `quorumExtension_*` methods, and the initiator's state share after acceptance.

Flow (GoQuorum's, PROTOCOL.md §11):
1. `extendContract` on the initiator's node deploys the management contract privately to the
   new recipient (and, for flags 1-3, the contract's other participants). The initiator's vote
   is its deployment.
2. `approveExtension` on the recipient's node: its manager sends a small payload naming the
   management contract (the vote's uuid: only that node installs the state later), then the vote.
3. The accepting vote emits `CanPerformStateShare`; after that block the initiator's node (the one
   holding the initiator's account and key) takes the extended contract's state at its head, sends
   it through its manager to the management contract's parties and records the hash with
   `setSharedStateHash`. Processing that transaction installs the state (engine/extension/applier.py).
4. `cancelExtension` (initiator only) closes it; `getExtensionStatus` and
   `activeExtensionContracts` read the management contract and this node's registry.

Messages are GoQuorum's (extension/api.go). A management contract address must hold the embedded
contract's exact code on this node; a non-party sees no code there.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading

from eth.abc import DatabaseAPI
from eth.constants import BLANK_ROOT_HASH
from eth_utils import keccak

from engine.abc import ContractExtensionAPI, NodeAPI, PrivacyManagerClientAPI, PrivateTransactionsAPI
from engine.db import schema
from engine.db.store import NodeDatabase
from engine.errors import EngineError
from engine.errors import PrivateTransactionRejected as ExtensionRejected
from engine.extension import contract
from engine.extension.applier import ExtensionApplier, MetadataReader, approval_payload
from engine.extension.registry import ACCEPTED, DONE, ExtensionRegistry
from engine.extension.snapshot import ContractSnapshot, take_snapshot
from engine.privacy.private_state import PrivateStateManager
from engine.types import Address, Hash32, PayloadHash, PrivacyFlag, PrivateArgs, PtmPublicKey, TxRequest

logger = logging.getLogger(__name__)

COMPLETED = "DONE"
IN_PROGRESS = "ACTIVE"
SHARE_ATTEMPTS = 3

MSG_IN_PROGRESS = "contract extension in progress for the given contract address"
MSG_PUBLIC = "extending a public contract!!! not allowed"
MSG_INVALID_RECIPIENT = "invalid recipient address"
MSG_NOT_FOUND = "extending a non-existent private contract!!! not allowed"
MSG_NOT_CREATOR_OF_CONTRACT = "operation not allowed"
MSG_SELF = "account accepting the extension cannot be the account initiating extension"
MSG_INVALID_KEY = "invalid new recipient transaction manager key provided"
MSG_KEY_MISMATCH = "mismatch between recipient transaction manager key and privateFor argument"
MSG_MANY_KEYS = "invalid transaction manager keys given in privateFor argument"
MSG_NOT_PRIVATE = "must specify private participants"
MSG_NO_CODE = "no contract code at given address"
MSG_NOT_MANAGEMENT = "not a contract extension management contract"
MSG_NOTHING_TO_ACCEPT = "contract extension process complete. nothing to accept"
MSG_NOTHING_TO_CANCEL = "contract extension process complete. nothing to cancel"
MSG_NOT_ACCEPTOR = "account is not acceptor of this extension request"
MSG_NOT_CREATOR = "account is not the creator of this extension request"
MSG_ALREADY_VOTED = "already voted"


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _unique(keys: list[PtmPublicKey], without: PtmPublicKey | None = None) -> list[PtmPublicKey]:
    return [k for k in dict.fromkeys(keys) if k != without]


class ContractExtensionService(ContractExtensionAPI):
    def __init__(self, node: NodeAPI, privacy: PrivateTransactionsAPI, manager: PrivacyManagerClientAPI,
                 registry: ExtensionRegistry, metadata: MetadataReader, committed: DatabaseAPI) -> None:
        """`committed` reads the node's committed data only (the snapshot is of a committed block)."""
        self.node = node
        self.privacy = privacy
        self.manager = manager
        self.registry = registry
        self._metadata = metadata
        self._committed = committed
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._attempts: dict[bytes, int] = {}

    # -- reading the management contract ------------------------------------------------------
    def _management(self, address: Address) -> None:
        code = self.node.get_code(address, "latest")
        if not code:
            raise ExtensionRejected(MSG_NO_CODE)
        if keccak(code) != contract.RUNTIME_CODE_HASH:
            raise ExtensionRejected(MSG_NOT_MANAGEMENT)

    def _read(self, address: Address, signature: str, kind: str, sender: Address | None = None) -> object:
        returned = self.node.call(TxRequest(sender=sender, to=address, data=contract.selector(signature)), "latest")
        return contract.decode_one(kind, returned)

    def _read_address(self, address: Address, signature: str) -> bytes:
        return bytes.fromhex(str(self._read(address, signature, "address"))[2:])

    def _finished(self, address: Address) -> bool:
        return bool(self._read(address, "checkIfExtensionFinished()", "bool"))

    def _recorded_parties(self, address: Address) -> list[PtmPublicKey]:
        keys = [PtmPublicKey(k) for k in str(self._read(address, "parties()", "string")).split(",") if k]
        return keys + [PtmPublicKey(str(self._read(address, "creatorPTMKey()", "string")))]

    def _private_from(self, request: TxRequest) -> PtmPublicKey:
        if request.private is not None and request.private.private_from is not None:
            return request.private.private_from
        keys = self.manager.public_keys()
        if not keys:
            raise ExtensionRejected("this node's manager holds no key")
        return keys[0]

    def _sender(self, request: TxRequest) -> Address:
        if request.sender is None:
            raise ExtensionRejected("missing value for required argument 'from'")
        if request.sender not in self.node.accounts():
            raise ExtensionRejected(f"no wallet found for account 0x{request.sender.hex()}")
        return request.sender

    def _send(self, request: TxRequest, sender: Address, to: Address | None, data: bytes,
              private_for: list[PtmPublicKey], private_from: PtmPublicKey) -> Hash32:
        return self.privacy.send_transaction(TxRequest(
            sender=sender, to=to, data=data, gas=request.gas, nonce=request.nonce,
            private=PrivateArgs(private_for=tuple(private_for), private_from=private_from)))

    # -- the extended contract -------------------------------------------------------------------
    def _head_snapshot(self, address: Address) -> ContractSnapshot | None:
        head = self.node.get_block("latest", False)
        if head is None:
            return None
        try:
            root = bytes(self._committed[schema.make_private_state_root_key(head.hash)])
        except KeyError:
            root = BLANK_ROOT_HASH
        return take_snapshot(self._committed, root, address)

    def _participants(self, to_extend: Address) -> list[PtmPublicKey]:
        """GoQuorum's GetAllParticipants: none for standard private, else the creation's recipients."""
        meta = self._metadata(to_extend)
        if meta is None or int(meta.get("privacyFlag", 0)) == 0:
            return []
        return self.manager.participants(PayloadHash(bytes.fromhex(str(meta["creationTxHash"])[2:])))

    # -- ContractExtensionAPI -------------------------------------------------------------------
    def extend_contract(self, to_extend: Address, recipient_key: PtmPublicKey, recipient: Address,
                        request: TxRequest) -> Hash32:
        if any(r.contract_extended == to_extend and r.state != DONE for r in self.registry.all()):
            raise ExtensionRejected(MSG_IN_PROGRESS)
        snapshot = self._head_snapshot(to_extend)
        if snapshot is None and self.node.get_code(to_extend, "latest"):
            raise ExtensionRejected(MSG_PUBLIC)
        if recipient == b"\x00" * 20:
            raise ExtensionRejected(MSG_INVALID_RECIPIENT)
        if snapshot is None or not snapshot.code:
            raise ExtensionRejected(MSG_NOT_FOUND)
        meta = self._metadata(to_extend)
        if meta is not None and int(meta.get("privacyFlag", 0)) != 0 and not self.manager.is_sender(
                PayloadHash(bytes.fromhex(str(meta["creationTxHash"])[2:]))):
            raise ExtensionRejected(MSG_NOT_CREATOR_OF_CONTRACT)
        if request.sender == recipient:
            raise ExtensionRejected(MSG_SELF)
        sender = self._sender(request)
        if not _valid_key(recipient_key):
            raise ExtensionRejected(MSG_INVALID_KEY)
        given = list(request.private.private_for) if request.private is not None else []
        if len(given) == 1 and given[0] != recipient_key:
            raise ExtensionRejected(MSG_KEY_MISMATCH)
        if len(given) > 1:
            raise ExtensionRejected(MSG_MANY_KEYS)
        creator_key = self._private_from(request)
        parties = _unique([recipient_key, *self._participants(to_extend)], without=creator_key)
        data = contract.deployment(to_extend, recipient, recipient_key, creator_key, parties)
        return self._send(request, sender, None, data, parties, creator_key)

    def approve_extension(self, management_contract: Address, vote: bool, request: TxRequest) -> Hash32:
        self._management(management_contract)
        if self._finished(management_contract):
            raise ExtensionRejected(MSG_NOTHING_TO_ACCEPT)
        if request.private is None:
            raise ExtensionRejected(MSG_NOT_PRIVATE)
        sender = self._sender(request)
        voters = {self._read_address(management_contract, "creator()"),
                  self._read_address(management_contract, "recipient()")}
        if sender not in voters:
            raise ExtensionRejected(MSG_NOT_ACCEPTOR)
        if self._read(management_contract, "checkIfVoted()", "bool", sender=sender):
            raise ExtensionRejected(MSG_ALREADY_VOTED)
        own_key = self._private_from(request)
        private_for = _unique([*request.private.private_for, *self._recorded_parties(management_contract)],
                              without=own_key)
        uuid = ""
        if vote:
            # The uuid: a payload this node's manager sends, naming the management contract. Only the
            # node whose manager sent it installs the shared state (applier._uuid_is_own).
            uuid = "0x" + bytes(self.manager.send(approval_payload(management_contract), own_key,
                                                  tuple(private_for))).hex()
        return self._send(request, sender, management_contract, contract.do_vote(vote, uuid), private_for, own_key)

    def cancel_extension(self, management_contract: Address, request: TxRequest) -> Hash32:
        self._management(management_contract)
        if self._finished(management_contract):
            raise ExtensionRejected(MSG_NOTHING_TO_CANCEL)
        if request.private is None:
            raise ExtensionRejected(MSG_NOT_PRIVATE)
        if request.sender != self._read_address(management_contract, "creator()"):
            raise ExtensionRejected(MSG_NOT_CREATOR)
        sender = self._sender(request)
        own_key = self._private_from(request)
        private_for = _unique([*request.private.private_for, *self._recorded_parties(management_contract)],
                              without=own_key)
        return self._send(request, sender, management_contract, contract.finish(), private_for, own_key)

    def extension_status(self, management_contract: Address) -> str:
        self._management(management_contract)
        return COMPLETED if self._finished(management_contract) else IN_PROGRESS

    def active_extensions(self) -> list[dict[str, object]]:
        return [r.to_json() for r in self.registry.all() if r.state != DONE]

    # -- the initiator's share, after the recipient accepted ---------------------------------------
    def start(self) -> None:
        """Watch committed blocks for accepted extensions this node initiated (and share any left over)."""
        self.node.subscribe_new_blocks(lambda _block: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="extension-share", daemon=True)
        self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def forget_attempts(self) -> None:
        """Forget which extensions were shared (a dev snapshot's revert: the chain went back, and
        a management contract may come again at the same address)."""
        self._attempts.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.share_accepted()
            except Exception:
                logger.exception("contract extension: state share failed")

    def share_accepted(self) -> None:
        mine = set(self.node.accounts())
        for record in self.registry.all():
            if record.state != ACCEPTED or record.initiator not in mine:
                continue
            tries = self._attempts.get(record.management_contract, 0)
            if tries >= SHARE_ATTEMPTS:
                continue
            self._attempts[record.management_contract] = tries + 1
            try:
                self._share(Address(record.management_contract), Address(record.contract_extended),
                            Address(record.initiator))
            except EngineError as exc:
                logger.error("contract extension: sharing the state of 0x%s failed (attempt %d): %s",
                             record.contract_extended.hex(), tries + 1, exc.message)
            else:
                self._attempts[record.management_contract] = SHARE_ATTEMPTS  # shared: never again here

    def _share(self, management: Address, to_extend: Address, initiator: Address) -> None:
        if self._finished(management):
            return
        creator_key = PtmPublicKey(str(self._read(management, "creatorPTMKey()", "string")))
        if creator_key not in self.manager.public_keys():
            return  # the initiator's account is here, its manager key is not: another node shares
        parties = [k for k in self._recorded_parties(management) if k != creator_key]
        snapshot = self._head_snapshot(to_extend)
        if snapshot is None:
            raise ExtensionRejected(f"contract 0x{to_extend.hex()} is not in this node's private state")
        meta = self._metadata(to_extend) or {}
        flag = PrivacyFlag.from_wire(int(meta.get("privacyFlag", 0)))
        exec_hash = snapshot.storage_root if flag == PrivacyFlag.PRIVATE_STATE_VALIDATION else b""
        mandatory = tuple(PtmPublicKey(k) for k in meta.get("mandatoryFor") or ())
        shared = self.manager.send(snapshot.encode(), creator_key, tuple(parties), flag, exec_hash=exec_hash,
                                   mandatory_recipients=mandatory)
        hash_b64 = base64.b64encode(bytes(shared)).decode()
        tx_hash = self.privacy.send_transaction(TxRequest(
            sender=initiator, to=management, data=contract.set_shared_state_hash(hash_b64),
            private=PrivateArgs(private_for=tuple(parties), private_from=creator_key)))
        logger.info("contract extension: shared the state of 0x%s (%d slots, storage root 0x%s) in tx 0x%s",
                    to_extend.hex(), len(snapshot.storage), snapshot.storage_root.hex(), bytes(tx_hash).hex())


def build_extension_service(node: NodeAPI, privacy: PrivateTransactionsAPI, manager: PrivacyManagerClientAPI,
                            private_state: PrivateStateManager, database: NodeDatabase) -> ContractExtensionService:
    """Wire contract extension beside a node (the composition root calls this before the node
    imports anything): the hook into private block processing, and the RPC service."""
    registry = ExtensionRegistry(database.atomic)
    metadata: MetadataReader = lambda address: private_state.contract_metadata(Address(address))  # noqa: E731
    private_state.extension_hook = ExtensionApplier(manager, database.atomic, registry, metadata)
    return ContractExtensionService(node, privacy, manager, registry, metadata, database.reader)
