"""The privacy service of a node without a transaction manager: sends are refused, reads are empty."""

from __future__ import annotations

from engine.abc import PrivateTransactionsAPI, ReceivedPayload
from engine.errors import TransactionRejected
from engine.types import Address, Hash32, PayloadHash, PrivacyFlag, PtmPublicKey, TxRequest

MSG_NO_MANAGER = "private transactions need a privacy manager on this node"


class NoPrivateTransactions(PrivateTransactionsAPI):
    def send_transaction(self, request: TxRequest) -> Hash32:
        raise TransactionRejected(MSG_NO_MANAGER)

    def fill_transaction(self, request: TxRequest) -> bytes:
        raise TransactionRejected(MSG_NO_MANAGER)

    def send_raw_private_transaction(self, raw: bytes, private_for: tuple[PtmPublicKey, ...],
                                     privacy_flag: PrivacyFlag,
                                     mandatory_for: tuple[PtmPublicKey, ...]) -> Hash32:
        raise TransactionRejected(MSG_NO_MANAGER)

    def get_quorum_payload(self, payload_hash: PayloadHash) -> bytes | None:
        return None

    def get_quorum_payload_extra(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        return None

    def get_contract_privacy_metadata(self, address: Address) -> dict[str, object] | None:
        return None
