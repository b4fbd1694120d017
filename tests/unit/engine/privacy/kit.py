"""A manager client kept in a dict, a hand-assembled contract, and chains whose VM hands
private markers to a real `PrivateStateManager` over an in-memory `AtomicDB`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eth.abc import BlockAPI, SignedTransactionAPI
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB

from engine.abc import PrivacyManagerClientAPI, ReceivedPayload
from engine.chain.builder import BuiltBlock, build_block
from engine.chain.marker import sign_private_marker
from engine.chain.node import Node
from engine.chain.views import receipt_views
from engine.chain.vm import PrivnetTransactionBuilder, make_vm_class
from engine.errors import PrivacyManagerUnavailable
from engine.privacy.private_state import PrivateStateManager
from engine.privacy.service import PrivateTransactionService
from engine.types import PayloadHash, PrivacyFlag, PtmPublicKey, ReceiptView
from tests.unit.engine.chain.kit import CHAIN_ID, COINBASE, genesis_spec

# Runtime: store calldata word 0 at slot 0, then LOG0 it.
#   PUSH1 0 CALLDATALOAD DUP1 PUSH1 0 SSTORE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 LOG0 STOP
RECORDER_RUNTIME = bytes.fromhex("60003580600055600052602060" "00a000")
# Init code: CODECOPY the 16-byte runtime (at offset 12) to memory 0 and RETURN it.
RECORDER_INIT = bytes.fromhex("6010600c600039" "60106000f3") + RECORDER_RUNTIME
assert len(RECORDER_RUNTIME) == 16 and len(RECORDER_INIT) == 12 + 16


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


@dataclass
class DictManagerClient(PrivacyManagerClientAPI):
    """A manager that knows what it was given: `receive` answers None (a 404) for anything else.

    `down = True` makes every call fail as a manager that keeps answering 5xx would.
    """

    payloads: dict[bytes, ReceivedPayload] = field(default_factory=dict)
    down: bool = False
    receive_calls: int = 0

    def _check(self) -> None:
        if self.down:
            raise PrivacyManagerUnavailable("private transaction manager unavailable: 503 status")

    def give(self, payload: bytes, flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
             mandatory: tuple[PtmPublicKey, ...] = (), acoths: tuple[PayloadHash, ...] = (),
             exec_hash: bytes = b"") -> PayloadHash:
        """Hold a payload as a party's manager would return it (`acoths`: those it verified)."""
        key = PayloadHash(hashlib.sha3_512(payload + bytes([flag]) + b"".join(acoths) + exec_hash).digest())
        self.payloads[key] = ReceivedPayload(payload, flag, acoths, exec_hash, mandatory)
        return key

    def upcheck(self) -> bool:
        return not self.down

    def send(self, payload: bytes, private_from: PtmPublicKey | None, private_for: tuple[PtmPublicKey, ...],
             privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
             affected_contract_transactions: tuple[PayloadHash, ...] = (),
             exec_hash: bytes = b"", mandatory_recipients: tuple[PtmPublicKey, ...] = ()) -> PayloadHash:
        self._check()
        return self.give(payload, privacy_flag, mandatory_recipients)

    def receive(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        self._check()
        self.receive_calls += 1
        return self.payloads.get(bytes(payload_hash))

    def receive_many(self, payload_hashes: list[PayloadHash]) -> dict[bytes, ReceivedPayload | None]:
        self._check()
        return {bytes(h): self.payloads.get(bytes(h)) for h in payload_hashes}

    def receive_raw(self, payload_hash: PayloadHash) -> bytes | None:
        self._check()
        received = self.payloads.get(bytes(payload_hash))
        return None if received is None else received.payload

    def store_raw(self, payload: bytes, private_from: PtmPublicKey | None) -> PayloadHash:
        self._check()
        return self.give(payload)

    def send_signed(self, payload_hash: PayloadHash, private_for: tuple[PtmPublicKey, ...],
                    privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
                    affected_contract_transactions: tuple[PayloadHash, ...] = (),
                    exec_hash: bytes = b"", mandatory_recipients: tuple[PtmPublicKey, ...] = ()) -> PayloadHash:
        self._check()
        return payload_hash

    def public_keys(self) -> list[PtmPublicKey]:
        return [PtmPublicKey("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")]


#: Makes a chain's private side from its manager client and its database.
PrivateStateFactory = Callable[[PrivacyManagerClientAPI, AtomicDB], PrivateStateManager]


class PrivateChain:
    """A py-evm chain on an in-memory database whose private side is a real PrivateStateManager
    (or the subclass `private_state` makes, e.g. one that also runs privacy marker transactions)."""

    def __init__(self, manager: DictManagerClient, private_state: PrivateStateFactory = PrivateStateManager) -> None:
        self.db = AtomicDB()
        self.manager = manager
        self.private = private_state(manager, self.db)
        vm_class = make_vm_class(self.private)
        chain_class = Chain.configure(__name__="PrivacyUnitChain", vm_configuration=((0, vm_class),),
                                      chain_id=CHAIN_ID)
        self.block_class = vm_class.get_block_class()
        spec = genesis_spec()
        self.chain = chain_class.from_genesis(self.db, spec.header_params(), spec.state())
        self.private.on_genesis(self.chain.get_canonical_head())

    @property
    def head(self):  # noqa: ANN201 - py-evm's header type
        return self.chain.get_canonical_head()

    def build(self, txs: list[SignedTransactionAPI]) -> BuiltBlock:
        """What the producer does: prefetch, begin, build, persist, finish."""
        parent = self.head
        self.private.prefetch(txs)
        self.private.begin_block(parent)
        built = build_block(self.chain, parent, txs, parent.timestamp, COINBASE)
        self.chain.persist_block(built.block)
        self.private.finish_block(built.block)
        return built

    def import_block(self, block: BlockAPI) -> BlockAPI:
        """What a follower does with the block's wire bytes."""
        import rlp

        received = rlp.decode(rlp.encode(block), sedes=self.block_class)
        self.private.prefetch(list(received.transactions))
        self.private.begin_block(self.head)
        imported = self.chain.import_block(received).imported_block
        self.private.finish_block(imported)
        return imported


def marker(key: bytes, nonce: int, payload_hash: bytes, to: bytes | None = None,
           gas: int = 300_000) -> SignedTransactionAPI:
    return PrivnetTransactionBuilder.decode(sign_private_marker(key, nonce, gas, to, payload_hash))


def public_receipt(chain: PrivateChain, block: BlockAPI, index: int) -> ReceiptView:
    """The public receipt view of the `index`-th transaction of a block the chain persisted."""
    return receipt_views(block, block.get_receipts(chain.chain.chaindb))[index]


class WiredNode:
    """A real node, the privacy service above it and its manager client in a dict, wired as
    engine/server.py wires them (each test module builds its own: the wiring is what it tests)."""

    def __init__(self, node: Node, service: PrivateTransactionService, manager: DictManagerClient) -> None:
        self.node, self.service, self.manager = node, service, manager

    def receipt(self, tx_hash: bytes):  # noqa: ANN201 - the node's receipt view
        """The receipt once the node has mined `tx_hash` (blocks are produced on a thread)."""
        deadline = time.monotonic() + 20
        while (receipt := self.node.get_receipt(tx_hash)) is None:
            assert time.monotonic() < deadline, "not mined"
            time.sleep(0.02)
        return receipt
