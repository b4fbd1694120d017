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
    ├── ExecutionAborted             -32000  (a call ran past rpc.evm_timeout_s: geth's "execution aborted")
    ├── GasAllowanceExceeded         -32000  (an estimate fails even at the gas cap)
    ├── InvalidStateOverride         -32000  (geth's refusals of a call's state overrides)
    ├── SimulationRejected           -32000  (eth_simulateV1; geth's own codes below)
    │   ├── NonceTooLow              -38010
    │   ├── NonceTooHigh             -38011
    │   ├── FeeCapTooLow             -38012  (max fee per gas below the block's base fee)
    │   ├── IntrinsicGasTooLow       -38013
    │   ├── InsufficientFunds        -38014  (gas * price + value above the balance)
    │   ├── BlockGasLimitReached     -38015
    │   ├── BlockNumberInvalid       -38020  (simulated block numbers out of order)
    │   ├── BlockTimestampInvalid    -38021  (simulated timestamps out of order)
    │   ├── InitCodeTooLarge         -38025
    │   └── ClientLimitExceeded      -38026  (too many blocks or calls)
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


class ExecutionAborted(EngineError):
    """Raised when a call, estimate or access-list run is stopped at the RPC EVM timeout."""


class GasAllowanceExceeded(EngineError):
    """Raised when an estimate runs out of gas at the highest limit it may try."""


class InvalidStateOverride(EngineError):
    """Raised for a state override geth refuses (e.g. both `state` and `stateDiff`)."""


class SimulationRejected(EngineError):
    """Raised when eth_simulateV1 cannot simulate the request at all (no call result is returned).

    The subclasses carry geth's simulate codes (internal/ethapi/errors.go), which tools match on.
    """


class NonceTooLow(SimulationRejected):
    """Raised for a validated simulated call whose nonce is below the sender's."""

    rpc_code = -38010


class NonceTooHigh(SimulationRejected):
    """Raised for a validated simulated call whose nonce is above the sender's."""

    rpc_code = -38011


class FeeCapTooLow(SimulationRejected):
    """Raised when a simulated call's max fee per gas is below its block's base fee."""

    rpc_code = -38012


class IntrinsicGasTooLow(SimulationRejected):
    """Raised when a simulated call's gas does not cover its intrinsic gas."""

    rpc_code = -38013


class InsufficientFunds(SimulationRejected):
    """Raised when a simulated call's sender cannot pay gas * price + value."""

    rpc_code = -38014


class BlockGasLimitReached(SimulationRejected):
    """Raised when a simulated call asks for more gas than its block has left."""

    rpc_code = -38015


class BlockNumberInvalid(SimulationRejected):
    """Raised when simulated block numbers do not strictly increase."""

    rpc_code = -38020


class BlockTimestampInvalid(SimulationRejected):
    """Raised when simulated block timestamps do not strictly increase."""

    rpc_code = -38021


class InitCodeTooLarge(SimulationRejected):
    """Raised when a simulated creation's init code is above EIP-3860's limit."""

    rpc_code = -38025


class ClientLimitExceeded(SimulationRejected):
    """Raised when a simulation asks for more blocks or calls than the node serves."""

    rpc_code = -38026


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
