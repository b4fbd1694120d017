"""The private side of a node without a transaction manager: it does nothing.

Like py-evm's `NoProofConsensus`, a switched-off concern is a real object, so the node
never tests for a missing private side. Such a node refuses private markers at intake;
markers already in blocks change only the public state (nonce, intrinsic gas).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI

from engine.abc import EnhancedPrivacyMetadata, PrivateStateAPI
from engine.errors import TransactionRejected
from engine.types import Address, ReceiptView, TxRequest

MSG_NO_MANAGER = "private transactions need a privacy manager on this node"


class NoPrivateState(PrivateStateAPI):
    """Every private read is empty; every block hook is a no-op."""

    def on_genesis(self, genesis: BlockHeaderAPI) -> None:
        return None

    def validate_marker(self, transaction: SignedTransactionAPI) -> None:
        raise TransactionRejected(MSG_NO_MANAGER)

    def prefetch(self, transactions: Sequence[SignedTransactionAPI]) -> None:
        return None

    def begin_block(self, parent: BlockHeaderAPI) -> None:
        return None

    def execute_private(self, transaction: SignedTransactionAPI, public_state: StateAPI) -> None:
        return None

    def finish_block(self, block: BlockAPI) -> None:
        return None

    def abort_block(self) -> None:
        return None

    def state_for(self, address: Address, header: BlockHeaderAPI, public_state: StateAPI) -> StateAPI | None:
        return None

    def run_call(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI,
                 gas: int) -> ComputationAPI | None:
        return None

    def simulate_send(self, request: TxRequest, header: BlockHeaderAPI, public_state: StateAPI, gas: int,
                      nonce: int) -> EnhancedPrivacyMetadata:
        return EnhancedPrivacyMetadata()  # nothing is private here, so nothing is affected

    def private_receipt(self, public: ReceiptView) -> ReceiptView | None:
        return None

    def privacy_marker_receipt(self, public: ReceiptView) -> ReceiptView | None:
        return None

    def contract_metadata(self, address: Address) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        return None
