"""GoQuorum's private sending and payload reads, as a service above the node.

The JSON-RPC layer calls it for `eth_sendTransaction` with `privateFor`,
`eth_sendRawPrivateTransaction` and the payload and metadata reads. It validates the
privacy fields, hands the payload to the manager, and submits the signed marker through
`NodeAPI.send_raw_transaction`: the node itself only ever takes signed transactions.
"""

from __future__ import annotations

from engine.abc import NodeAPI, PrivacyManagerClientAPI, PrivateTransactionsAPI, ReceivedPayload
from engine.chain.accounts import UnlockedAccounts
from engine.chain.intake import decode_raw_transaction
from engine.chain.marker import PAYLOAD_HASH_BYTES, is_private_marker, marker_min_gas, marker_payload_hash
from engine.chain.unsigned import encode_unsigned_marker
from engine.chain.vm import PrivnetTransactionBuilder
from engine.errors import InvalidParams, PrivateTransactionRejected, TransactionRejected
from engine.privacy.private_state import MSG_VALUE, PrivateStateManager
from engine.types import Address, Hash32, PayloadHash, PrivacyFlag, PtmPublicKey, TxRequest

MSG_NOT_PRIVATE = "transaction is not private"


class PrivateTransactionService(PrivateTransactionsAPI):
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
            meta = self.private_state.contract_metadata(request.to)
            if meta is not None and int(meta.get("privacyFlag", 0)) != int(flag):
                raise PrivateTransactionRejected("sent privacy flag doesn't match all affected contract flags")
        if flag != PrivacyFlag.STANDARD_PRIVATE:
            # Flagged transactions are simulated first; a revert is reported and nothing is sent.
            self.node.estimate_gas(request, "latest")

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
        key = bytes(self.manager.send(request.data, private.private_from, private.private_for, private.privacy_flag,
                                      mandatory_recipients=private.mandatory_for))
        self.private_state.note_sent(key, ReceivedPayload(request.data, private.privacy_flag, (), b"",
                                                          private.mandatory_for))
        # The public form must cover intrinsic gas and EIP-7623's calldata floor on the 64-byte hash.
        marker_gas = max(gas, min_gas)
        # Nonce, signature and pool admission under the sender's lock: concurrent sends from
        # one account get consecutive nonces (the slow manager round trip stays outside).
        with self.accounts.sender_lock(request.sender):
            nonce = request.nonce if request.nonce is not None else self.node.get_nonce(request.sender, "pending")
            raw = self.accounts.sign_marker(request.sender, nonce, marker_gas, request.to, key)
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
        tx = decode_raw_transaction(PrivnetTransactionBuilder, raw, self.node.chain_id, self.max_tx_bytes)
        if not is_private_marker(tx):
            raise PrivateTransactionRejected("transaction is not private: sign it with v = 37/38 (27/28 + 10)")
        if tx.value:
            raise PrivateTransactionRejected(MSG_VALUE)
        key = marker_payload_hash(tx)
        if key is None:
            raise PrivateTransactionRejected("private transaction data must be the 64-byte hash from /storeraw")
        distributed = self.manager.send_signed(PayloadHash(key), private_for, privacy_flag,
                                               mandatory_recipients=mandatory_for)
        if bytes(distributed) != key:
            raise PrivateTransactionRejected("manager returned a different hash for the stored raw payload")
        return self.node.send_raw_transaction(raw)

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
