"""GoQuorum's private sending and payload reads, as a service above the node.

The JSON-RPC layer calls it for `eth_sendTransaction` with `privateFor`,
`eth_sendRawPrivateTransaction` and the payload and metadata reads. It validates the
privacy fields, hands the payload to the manager, and submits the signed marker through
`NodeAPI.send_raw_transaction`: the node itself only ever takes signed transactions.
"""

from __future__ import annotations

from eth.abc import SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS

from engine.abc import (
    EnhancedPrivacyMetadata,
    NodeAPI,
    PrivacyManagerClientAPI,
    PrivateTransactionsAPI,
    ReceivedPayload,
)
from engine.chain.accounts import UnlockedAccounts
from engine.chain.intake import decode_raw_transaction
from engine.chain.marker import PAYLOAD_HASH_BYTES, is_private_marker, marker_min_gas, marker_payload_hash
from engine.chain.unsigned import encode_unsigned_marker
from engine.chain.vm import PrivnetTransactionBuilder
from engine.errors import InvalidParams, PrivateTransactionRejected, TransactionRejected
from engine.privacy.pmt import PrivacyMarkers
from engine.privacy.private_state import MSG_VALUE, PrivateStateManager
from engine.types import Address, Hash32, PayloadHash, PrivacyFlag, PrivateArgs, PtmPublicKey, TxRequest

MSG_NOT_PRIVATE = "transaction is not private"


class PrivateTransactionService(PrivateTransactionsAPI):
    # Set by the composition root on a node with privacy marker transactions (GoQuorum's PMTs).
    privacy_markers: PrivacyMarkers | None = None

    def __init__(self, node: NodeAPI, accounts: UnlockedAccounts, private_state: PrivateStateManager,
                 manager: PrivacyManagerClientAPI, max_tx_bytes: int) -> None:
        self.node = node
        self.accounts = accounts
        self.private_state = private_state
        self.manager = manager
        self.max_tx_bytes = max_tx_bytes

    # -- sending ------------------------------------------------------------------------------
    def _validate_send(self, request: TxRequest) -> None:
        """GoQuorum's checks, in its order (PROTOCOL.md §9); the flag checks run at the RPC edge."""
        assert request.private is not None
        if request.value:
            raise PrivateTransactionRejected(MSG_VALUE)
        if not request.data:
            raise PrivateTransactionRejected("private transaction data is empty: nothing to send to the manager")
        flag = request.private.privacy_flag
        if flag != PrivacyFlag.STANDARD_PRIVATE and request.to is not None:
            if not self.node.get_code(request.to, "latest"):
                raise PrivateTransactionRejected("contract not found. cannot transact")

    def _simulate(self, request: TxRequest, nonce: int) -> EnhancedPrivacyMetadata:
        """Affected contracts and (flag 3) the execution hash, as GoQuorum simulates every
        private send; a flagged payload that reverts is refused here and nothing is sent.

        A standard private payload's simulation can only find a flagged contract it touches;
        on a node that holds none it is skipped (it costs a full EVM run per send)."""
        assert request.private is not None
        if (request.private.privacy_flag == PrivacyFlag.STANDARD_PRIVATE
                and not self.private_state.holds_flagged_contracts()):
            return EnhancedPrivacyMetadata()
        return self.node.simulate_private_send(request, nonce)

    def send_transaction(self, request: TxRequest) -> Hash32:
        private = request.private
        if private is None:
            raise PrivateTransactionRejected(MSG_NOT_PRIVATE)
        if request.sender is None:
            raise InvalidParams("missing value for required argument 'from'")
        self.accounts.require(request.sender)
        min_gas = marker_min_gas(creating=request.to is None)
        if request.gas is not None and request.gas < min_gas:
            # Refused before the manager sees the payload. GoQuorum's pool charges intrinsic gas
            # on the public form (the hash), not on the private payload (core/state_transition.go).
            raise TransactionRejected(f"intrinsic gas too low: have {request.gas}, want {min_gas}")
        self._validate_send(request)
        gas = request.gas if request.gas is not None else self.node.estimate_gas(request, "latest")
        if private.privacy_flag == PrivacyFlag.STANDARD_PRIVATE:
            # The simulation's only outcome here is a flag check: the nonce does not matter,
            # so the slow manager round trip stays outside the sender's lock.
            enhanced = self._simulate(request, self._nonce(request))
            key = self._distribute(request, enhanced)
            with self.accounts.nonce_guard(request.sender, request.nonce):
                return self._submit(request, key, self._nonce(request), gas)
        # Flagged: the execution hash depends on the created address, hence on the nonce, so
        # nonce, simulation, distribution and submission happen under the sender's lock.
        with self.accounts.nonce_guard(request.sender, request.nonce):
            nonce = self._nonce(request)
            key = self._distribute(request, self._simulate(request, nonce))
            return self._submit(request, key, nonce, gas)

    def _nonce(self, request: TxRequest) -> int:
        assert request.sender is not None
        return request.nonce if request.nonce is not None else self.node.get_nonce(request.sender, "pending")

    def _distribute(self, request: TxRequest, enhanced: EnhancedPrivacyMetadata) -> bytes:
        private = request.private
        assert private is not None
        key = bytes(self.manager.send(request.data, private.private_from, private.private_for, private.privacy_flag,
                                      affected_contract_transactions=enhanced.affected_contract_transactions,
                                      exec_hash=enhanced.exec_hash, mandatory_recipients=private.mandatory_for))
        self.private_state.note_sent(key, ReceivedPayload(request.data, private.privacy_flag,
                                                          enhanced.affected_contract_transactions,
                                                          enhanced.exec_hash, private.mandatory_for))
        return key

    def _submit(self, request: TxRequest, key: bytes, nonce: int, gas: int) -> Hash32:
        """Sign the marker and hand it to the node (call under the sender's lock)."""
        assert request.sender is not None
        min_gas = marker_min_gas(creating=request.to is None)
        # The public form must cover intrinsic gas and EIP-7623's calldata floor on the 64-byte hash.
        raw = self.accounts.sign_marker(request.sender, nonce, max(gas, min_gas), request.to, key)
        if self.privacy_markers is not None:  # GoQuorum's --privacymarker.enable (engine/privacy/pmt.py)
            assert request.private is not None
            raw = self.privacy_markers.wrap(raw, request.private, request.sender)
        return self.node.send_raw_transaction(raw)

    def fill_transaction(self, request: TxRequest) -> bytes:
        """GoQuorum's external-signing flow: the payload goes to the manager with `/storeraw`
        (stored for the sender only; `eth_sendRawPrivateTransaction` distributes it later), and
        the unsigned marker carries its hash. The signer need not be unlocked here."""
        private = request.private
        if private is None:
            raise PrivateTransactionRejected(MSG_NOT_PRIVATE)
        if request.sender is None:
            raise InvalidParams("missing value for required argument 'from'")
        min_gas = marker_min_gas(creating=request.to is None)
        if request.gas is not None and request.gas < min_gas:
            raise TransactionRejected(f"intrinsic gas too low: have {request.gas}, want {min_gas}")
        self._validate_send(request)
        gas = request.gas if request.gas is not None else max(self.node.estimate_gas(request, "latest"), min_gas)
        key = bytes(self.manager.store_raw(request.data, private.private_from))
        nonce = request.nonce if request.nonce is not None else self.node.get_nonce(request.sender, "pending")
        return encode_unsigned_marker(PrivnetTransactionBuilder, nonce, gas, request.to, key)

    def send_raw_private_transaction(self, raw: bytes, private_for: tuple[PtmPublicKey, ...],
                                     privacy_flag: PrivacyFlag,
                                     mandatory_for: tuple[PtmPublicKey, ...]) -> Hash32:
        self.distribute_raw_private_transaction(raw, private_for, privacy_flag, mandatory_for)
        return self.node.send_raw_transaction(raw)

    def distribute_raw_private_transaction(self, raw: bytes, private_for: tuple[PtmPublicKey, ...],
                                           privacy_flag: PrivacyFlag,
                                           mandatory_for: tuple[PtmPublicKey, ...]) -> SignedTransactionAPI:
        """Check a signed private marker and distribute its stored payload; the marker is returned,
        not submitted (also the first half of GoQuorum's `eth_distributePrivateTransaction`)."""
        tx = decode_raw_transaction(PrivnetTransactionBuilder, raw, self.node.chain_id, self.max_tx_bytes)
        if not is_private_marker(tx):
            raise PrivateTransactionRejected("transaction is not private: sign it with v = 37/38 (27/28 + 10)")
        if tx.value:
            raise PrivateTransactionRejected(MSG_VALUE)
        key = marker_payload_hash(tx)
        if key is None:
            raise PrivateTransactionRejected("private transaction data must be the 64-byte hash from /storeraw")
        enhanced = self._simulate_raw(tx, PayloadHash(key), private_for, privacy_flag, mandatory_for)
        distributed = self.manager.send_signed(PayloadHash(key), private_for, privacy_flag,
                                               affected_contract_transactions=enhanced.affected_contract_transactions,
                                               exec_hash=enhanced.exec_hash, mandatory_recipients=mandatory_for)
        if bytes(distributed) != key:
            raise PrivateTransactionRejected("manager returned a different hash for the stored raw payload")
        return tx

    def _simulate_raw(self, tx: SignedTransactionAPI, key: PayloadHash, private_for: tuple[PtmPublicKey, ...],
                      privacy_flag: PrivacyFlag, mandatory_for: tuple[PtmPublicKey, ...]) -> EnhancedPrivacyMetadata:
        """GoQuorum simulates a raw private transaction too: its payload, stored with /storeraw,
        is read back from the manager and run as the signed marker describes."""
        stored = self.manager.receive_raw(key)
        if stored is None:
            raise PrivateTransactionRejected("the private payload of this transaction is not stored in the manager")
        to = None if tx.to == CREATE_CONTRACT_ADDRESS else Address(tx.to)
        request = TxRequest(sender=Address(tx.sender), to=to, gas=tx.gas, data=stored,
                            private=PrivateArgs(private_from=None, private_for=private_for,
                                                privacy_flag=privacy_flag, mandatory_for=mandatory_for))
        self._validate_send(request)
        return self._simulate(request, tx.nonce)

    # -- reads ----------------------------------------------------------------------------------
    def get_quorum_payload(self, payload_hash: PayloadHash) -> bytes | None:
        received = self.get_quorum_payload_extra(payload_hash)
        return None if received is None else received.payload

    def get_quorum_payload_extra(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        if len(payload_hash) != PAYLOAD_HASH_BYTES:
            return None
        return self.manager.receive(payload_hash)

    def get_contract_privacy_metadata(self, address: Address) -> dict[str, object] | None:
        return self.private_state.contract_metadata(address)
