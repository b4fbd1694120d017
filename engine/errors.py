"""Every error the node raises on purpose, each carrying its JSON-RPC code.

The tree::

    EngineError                      -32000  (rejected / failed, readable message)
    ├── InvalidRequest               -32600
    ├── MethodNotFound               -32601
    ├── InvalidParams                -32602  (names the parameter and why)
    ├── InternalError                -32603  (generic message; detail only in the log)
    ├── ResourceNotFound             -32001
    ├── TransactionRejected          -32000  (nonce too low, insufficient funds, ...)
    │   └── PrivateTransactionRejected        (GoQuorum's privacy validation messages)
    ├── ExecutionReverted                 3  ("execution reverted: <reason>", data = revert bytes)
    ├── ChainHalted                  -32000  (state root mismatch, manager unavailable during import)
    ├── OrderingUnavailable          -32000  (the ordering service cannot take or give data now)
    └── PrivacyManagerError          -32000  ("<status> status: <body>", as GoQuorum words it)
        ├── PrivacyManagerUnavailable         (transport failure / 5xx after retries)
        │   └── PrivacyManagerUnauthorized    (401: wrong or missing privacy.q2t_token_file; not retried)
        └── NotAParty                         (a 404 where the caller needed the payload)

`engine/rpc/errors.py` is the only code that turns these into JSON-RPC error objects.
"""

from __future__ import annotations


class EngineError(Exception):
    """Root of every error the node raises on purpose."""

    rpc_code: int = -32000

    def __init__(self, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class InvalidRequest(EngineError):
    """Raised when a JSON-RPC envelope is not a valid request object."""

    rpc_code = -32600


class MethodNotFound(EngineError):
    """Raised for a method name the node does not serve."""

    rpc_code = -32601


class InvalidParams(EngineError):
    """Raised when a parameter is missing, of the wrong type or malformed."""

    rpc_code = -32602


class InternalError(EngineError):
    """Raised for a failure the client cannot fix; the message stays generic."""

    rpc_code = -32603


class ResourceNotFound(EngineError):
    """Raised when a block, filter or contract the caller named does not exist."""

    rpc_code = -32001


class TransactionRejected(EngineError):
    """Raised when the pool refuses a transaction (nonce, funds, gas, signature...)."""


class PrivateTransactionRejected(TransactionRejected):
    """Raised when a private transaction fails GoQuorum's privacy validation."""


class ExecutionReverted(EngineError):
    """Raised when a call or estimate reverts; `data` carries the revert bytes (hex)."""

    rpc_code = 3

    def __init__(self, reason: str | None, revert_data: bytes = b"") -> None:
        message = "execution reverted" + (f": {reason}" if reason else "")
        super().__init__(message, data="0x" + revert_data.hex())
        self.reason = reason
        self.revert_data = revert_data


class ChainHalted(EngineError):
    """Raised when the node refuses to go on importing (divergence or missing manager)."""


class OrderingUnavailable(EngineError):
    """Raised when the ordering service cannot be reached or has no quorum: nothing was acknowledged."""


class PrivacyManagerError(EngineError):
    """Raised when the private transaction manager answered with an error."""


class PrivacyManagerUnavailable(PrivacyManagerError):
    """Raised when the manager cannot be reached or keeps failing after retries."""


class PrivacyManagerUnauthorized(PrivacyManagerUnavailable):
    """Raised when the manager refuses this node's bearer token (401): a configuration fault.

    A subclass of PrivacyManagerUnavailable so block import halts rather than skip a payload.
    """


class NotAParty(PrivacyManagerError):
    """Raised when this node's manager holds no payload for the key it was asked for."""
