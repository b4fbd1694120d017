"""Privacy marker transactions above the node: creating them (GoQuorum's `--privacymarker.enable`,
`eth_distributePrivateTransaction`) and reading through them (`eth_getPrivateTransactionByHash`,
`eth_getPrivateTransactionReceipt`).

Creation follows GoQuorum's `createPrivacyMarkerTransaction` (internal/ethapi/api.go): the signed
inner private marker is serialised as geth's transaction JSON and sent through the manager to the
same recipients, with no enhanced-privacy metadata; the PMT is a legacy EIP-155 transaction of the
same account with the same nonce, to the precompile address, value 0, gas price 0, data = the
manager hash of that JSON, and as gas exactly what it needs (`privacy_marker_gas`).
"""

from __future__ import annotations

from dataclasses import replace

import rlp
from eth.abc import SignedTransactionAPI
from eth_utils import to_checksum_address

from engine.abc import NodeAPI, PrivacyManagerClientAPI, ReceivedPayload
from engine.chain.accounts import UnlockedAccounts
from engine.chain.marker import PrivateMarkerAwareLegacyTransaction
from engine.chain.pmt import (
    PRIVACY_PRECOMPILE_ADDRESS,
    encode_inner_transaction,
    precompile_active,
    privacy_marker_gas,
)
from engine.chain.views import transaction_view
from engine.errors import EngineError
from engine.privacy.pmt_state import PrivacyMarkerPrivateState
from engine.types import (
    Address,
    Hash32,
    PayloadHash,
    PrivacyFlag,
    PrivateArgs,
    PtmPublicKey,
    ReceiptView,
    TransactionView,
)

# GoQuorum's words (internal/ethapi/api.go), code -32000.
MSG_PMT_NOT_FOUND = "privacy marker transaction not found"
MSG_NOT_A_PARTICIPANT = "private transaction not found for this participant"
MSG_NO_RECEIPT = "could not find receipt for private transaction"
MSG_NO_MANAGER = "PrivateTransactionManager is not enabled"
MSG_NEEDS_PRECOMPILE = "Privacy marker transactions require privacyPrecompileBlock to be set in genesis.json"


class PrivacyMarkers:
    """One node's privacy marker transactions. `create` is GoQuorum's `--privacymarker.enable`:
    with it, private sends become PMTs once the chain has reached the precompile block."""

    def __init__(self, node: NodeAPI, accounts: UnlockedAccounts, state: PrivacyMarkerPrivateState,
                 manager: PrivacyManagerClientAPI, create: bool) -> None:
        if create and state.precompile_block is None:
            raise EngineError(MSG_NEEDS_PRECOMPILE)
        self.node = node
        self.accounts = accounts
        self.state = state
        self.manager = manager
        self.create = create

    # -- creation -------------------------------------------------------------------------------
    def creating(self) -> bool:
        """GoQuorum's `IsPrivacyMarkerTransactionCreationEnabled`: the switch, and the precompile
        active at the head."""
        return self.create and precompile_active(self.node.block_number(), self.state.precompile_block)

    def wrap(self, inner_raw: bytes, private: PrivateArgs, sender: Address) -> bytes:
        """The signed PMT carrying `inner_raw` (a signed private marker of `sender`), once the
        inner transaction is with the recipients' managers; `inner_raw` itself when not creating."""
        if not self.creating():
            return inner_raw
        inner = rlp.decode(inner_raw, sedes=PrivateMarkerAwareLegacyTransaction)
        key = self._send_inner(inner, private.private_from, private.private_for)
        fields = {"nonce": inner.nonce, "gasPrice": 0, "gas": privacy_marker_gas(key), "value": 0,
                  "to": to_checksum_address(PRIVACY_PRECOMPILE_ADDRESS), "data": key, "chainId": self.node.chain_id}
        return self.accounts.sign_transaction(sender, fields)

    def distribute(self, inner: SignedTransactionAPI, private_from: PtmPublicKey | None,
                   private_for: tuple[PtmPublicKey, ...]) -> PayloadHash:
        """`eth_distributePrivateTransaction`'s second half: the signed inner transaction (whose
        payload the service already distributed) to the recipients; the hash a PMT must carry."""
        return PayloadHash(self._send_inner(inner, private_from, private_for))

    def _send_inner(self, inner: SignedTransactionAPI, private_from: PtmPublicKey | None,
                    private_for: tuple[PtmPublicKey, ...]) -> bytes:
        payload = encode_inner_transaction(inner)
        key = bytes(self.manager.send(payload, private_from, private_for))
        # The sender's own block then needs no manager round trip for it.
        self.state.note_sent(key, ReceivedPayload(payload, PrivacyFlag.STANDARD_PRIVATE, (), b"", ()))
        return key

    # -- reads ----------------------------------------------------------------------------------
    def private_transaction(self, pmt_hash: Hash32) -> TransactionView | None:
        """The inner private transaction of a mined PMT, placed at the PMT's position (GoQuorum's
        `GetPrivateTransactionByHash`); None when unknown, pending or not a party."""
        pmt = self.node.get_transaction(pmt_hash)
        if pmt is None or pmt.block_hash is None:
            return None
        inner = self.state.inner_transaction(pmt_hash)
        if inner is None:
            return None
        return replace(transaction_view(inner), block_hash=pmt.block_hash, block_number=pmt.block_number,
                       transaction_index=pmt.transaction_index)

    def private_receipt(self, pmt_hash: Hash32) -> ReceiptView:
        """This party's receipt of the PMT's inner transaction (GoQuorum's
        `GetPrivateTransactionReceipt`): `transactionHash` (also on its logs) is the PMT's,
        `from`/`to` the inner transaction's. Raises with GoQuorum's messages."""
        public = self.node.get_receipt(pmt_hash)
        if public is None:
            raise EngineError(MSG_PMT_NOT_FOUND)
        if self.state.inner_transaction(pmt_hash) is None:
            raise EngineError(MSG_NOT_A_PARTICIPANT)
        private = self.state.privacy_marker_receipt(public)
        if private is None:
            raise EngineError(MSG_NO_RECEIPT)
        return private
