"""A web3.py client for GoQuorum-style private transactions on a privnet network.

    from web3 import Web3
    import privnet_client

    w3 = Web3(Web3.HTTPProvider(url))
    privnet_client.attach(w3)
    tx_hash = w3.privnet.send_private({"from": me, "to": c, "data": calldata}, private_for=[key])

Imports nothing from the node, the manager or the dev tooling (pyproject's import contracts):
it talks to nodes over JSON-RPC only. See docs/client.md.
"""

from privnet_client.errors import (
    ManagerUnavailable,
    MandatoryRecipientsMissing,
    NotAParty,
    PrivacyFlagMismatch,
    PrivateTransactionRejected,
    PrivnetError,
    UnknownKey,
)
from privnet_client.marker import MarkerError
from privnet_client.module import AsyncPrivnetModule, PrivnetModule, attach

__all__ = [
    "AsyncPrivnetModule",
    "MandatoryRecipientsMissing",
    "ManagerUnavailable",
    "MarkerError",
    "NotAParty",
    "PrivacyFlagMismatch",
    "PrivateTransactionRejected",
    "PrivnetError",
    "PrivnetModule",
    "UnknownKey",
    "attach",
]
