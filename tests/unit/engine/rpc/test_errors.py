"""Exception → JSON-RPC error mapping: every EngineError class, and the unexpected."""

from __future__ import annotations

import json
import logging

import pytest

from engine import errors
from engine.rpc.errors import ParseError, error_object, error_response


def all_engine_errors() -> list[type[errors.EngineError]]:
    found: list[type[errors.EngineError]] = []
    pending = [errors.EngineError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


EXPECTED_CODES = {
    "EngineError": -32000, "InvalidRequest": -32600, "MethodNotFound": -32601, "InvalidParams": -32602,
    "InternalError": -32603, "ResourceNotFound": -32001, "TransactionRejected": -32000,
    "PrivateTransactionRejected": -32000, "ExecutionReverted": 3, "ExecutionAborted": -32000,
    "GasAllowanceExceeded": -32000, "InvalidStateOverride": -32000, "ChainHalted": -32000,
    "OrderingUnavailable": -32000,
    "PrivacyManagerError": -32000, "PrivacyManagerUnavailable": -32000, "NotAParty": -32000, "ParseError": -32700,
    "PrivacyManagerUnauthorized": -32000,
    "SimulationRejected": -32000, "NonceTooLow": -38010, "NonceTooHigh": -38011, "FeeCapTooLow": -38012,
    "IntrinsicGasTooLow": -38013, "InsufficientFunds": -38014, "BlockGasLimitReached": -38015,
    "BlockNumberInvalid": -38020, "BlockTimestampInvalid": -38021, "InitCodeTooLarge": -38025,
    "ClientLimitExceeded": -38026,
}


# Private refinements (e.g. the etcd ordering's _Refused) share their public base's code.
@pytest.mark.parametrize("cls", [c for c in all_engine_errors()
                                 if c is not errors.ExecutionReverted and not c.__name__.startswith("_")],
                         ids=lambda c: c.__name__)
def test_each_engine_error_keeps_code_and_message(cls):
    assert cls.__name__ in EXPECTED_CODES, f"new error class {cls.__name__}: add its expected code here"
    error = error_object(cls(f"{cls.__name__} happened"))
    assert error == {"code": EXPECTED_CODES[cls.__name__], "message": f"{cls.__name__} happened"}
    assert type(error["code"]) is int


def test_engine_error_data_is_passed_through():
    error = error_object(errors.TransactionRejected("nonce too low", data="0x01"))
    assert error == {"code": -32000, "message": "nonce too low", "data": "0x01"}


def test_execution_reverted_carries_reason_and_hex_data():
    revert = bytes.fromhex("08c379a0") + (32).to_bytes(32, "big") + (3).to_bytes(32, "big") + b"abc".ljust(32, b"\0")
    error = error_object(errors.ExecutionReverted("abc", revert))
    assert error == {"code": 3, "message": "execution reverted: abc", "data": "0x" + revert.hex()}
    assert error_object(errors.ExecutionReverted(None)) == {"code": 3, "message": "execution reverted",
                                                            "data": "0x"}


def test_parse_error_is_minus_32700():
    assert error_object(ParseError("parse error")) == {"code": -32700, "message": "parse error"}


@pytest.mark.parametrize("exc", [
    RuntimeError("database /var/lib/secret/chain.db is locked"),
    KeyError("0xdeadbeef private key"),
    AssertionError("invariant broken at engine/chain/node.py:123"),
    ZeroDivisionError("division by zero"),
])
def test_unexpected_exception_is_generic_and_logged(exc, caplog):
    try:
        raise exc
    except Exception as raised:  # noqa: BLE001
        with caplog.at_level(logging.ERROR, logger="engine.rpc"):
            response = error_response(7, raised, method="eth_call")
    assert response == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "internal error"}}
    text = json.dumps(response)
    assert "Traceback" not in text and str(exc) not in text and type(exc).__name__ not in text
    assert any(str(exc) in (r.exc_text or "") or r.exc_info and r.exc_info[1] is exc for r in caplog.records)
    assert any("eth_call" in r.getMessage() for r in caplog.records)
