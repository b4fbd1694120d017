"""Contract test: replay each error case through a real `Web3(HTTPProvider)` and check the
exception class web3.py raises (STYLE.md practice 4). web3's response validation is the
spec our error objects are held to: a malformed error object would surface as
`BadResponseFormat` instead of the classes below.

`JsonRpcErrorSuite` has no Test prefix so that other servers (a second node, a proxy) can
subclass it; `TestJsonRpcErrorsOverHttp` runs it against this node.
"""

from __future__ import annotations

import base64
import time

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    ContractPanicError,
    MethodUnavailable,
    TransactionNotFound,
    Web3RPCError,
)

from .conftest import MAX_BODY_BYTES

pytestmark = pytest.mark.integration

KEY = base64.b64encode(b"\x01" * 32).decode()
ERROR_STRING_SELECTOR = "0x08c379a0"


def rpc_code(exc: Web3RPCError) -> int:
    assert exc.rpc_response is not None
    return exc.rpc_response["error"]["code"]


class JsonRpcErrorSuite:
    """Each test: one error case, the exception class web3 raises, and its code/message."""

    def test_require_revert_in_call(self, w3: Web3, storage):
        with pytest.raises(ContractLogicError) as info:
            storage.functions.set(13).call()
        assert info.value.message == "execution reverted: unlucky number"
        assert info.value.data.startswith(ERROR_STRING_SELECTOR)

    def test_require_revert_in_estimate_and_transact(self, w3: Web3, storage):
        with pytest.raises(ContractLogicError, match="unlucky number"):
            w3.eth.estimate_gas({"to": storage.address, "data": storage.encode_abi("set", [13])})
        with pytest.raises(ContractLogicError, match="unlucky number"):
            storage.functions.set(13).transact({"from": w3.eth.accounts[0]})

    def test_panic(self, storage):
        with pytest.raises(ContractPanicError) as info:
            storage.functions.failWithPanic(0).call()
        assert info.value.data.endswith("12")  # Panic(0x12): division by zero

    def test_unknown_method(self, w3: Web3):
        with pytest.raises(MethodUnavailable) as info:
            w3.manager.request_blocking("eth_noSuchMethod", [])
        assert rpc_code(info.value) == -32601

    def test_invalid_params(self, w3: Web3):
        with pytest.raises(Web3RPCError) as info:
            w3.manager.request_blocking("eth_getBalance", ["0x1234", "latest"])
        assert type(info.value) is Web3RPCError and rpc_code(info.value) == -32602
        assert "address" in info.value.rpc_response["error"]["message"]

    def test_nonce_too_low(self, w3: Web3, funded: LocalAccount):
        nonce = w3.eth.get_transaction_count(funded.address, "pending")
        fields = {"type": 2, "chainId": 1337, "to": w3.eth.accounts[0], "value": 1, "gas": 21_000,
                  "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
        tx_hash = w3.eth.send_raw_transaction(funded.sign_transaction({**fields, "nonce": nonce}).raw_transaction)
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
        stale = funded.sign_transaction({**fields, "nonce": nonce, "value": 2}).raw_transaction
        with pytest.raises(Web3RPCError) as info:
            w3.eth.send_raw_transaction(stale)
        assert rpc_code(info.value) == -32000
        assert info.value.rpc_response["error"]["message"].startswith("nonce too low")

    def test_garbage_raw_transaction(self, w3: Web3):
        with pytest.raises(Web3RPCError) as info:
            w3.eth.send_raw_transaction(b"\x02\xc0")
        assert rpc_code(info.value) == -32602

    def test_not_found(self, w3: Web3):
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction("0x" + "cd" * 32)
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction_receipt("0x" + "cd" * 32)
        with pytest.raises(BlockNotFound):
            w3.eth.get_block(10**9)

    def test_privacy_flag_validation(self, w3: Web3, storage):
        with pytest.raises(Web3RPCError) as info:
            storage.functions.set(5).transact({"from": w3.eth.accounts[0], "privateFor": [KEY],
                                               "privacyFlag": 9})
        assert rpc_code(info.value) == -32000
        assert info.value.rpc_response["error"]["message"] == "invalid privacy flag"
        with pytest.raises(Web3RPCError) as info:
            storage.functions.set(5).transact({"from": w3.eth.accounts[0], "privateFor": [KEY],
                                               "privacyFlag": 2})
        assert info.value.rpc_response["error"]["message"].startswith("missing mandatory recipients data.")

    def test_raw_private_without_private_for(self, w3: Web3):
        with pytest.raises(Web3RPCError) as info:
            w3.manager.request_blocking("eth_sendRawPrivateTransaction", ["0xf800", {}])
        assert rpc_code(info.value) == -32000
        assert info.value.rpc_response["error"]["message"] == "transaction is not private"

    def test_oversized_request(self, w3: Web3):
        started = time.monotonic()
        with pytest.raises(Web3RPCError) as info:
            w3.eth.send_raw_transaction(b"\x02" * MAX_BODY_BYTES)
        assert rpc_code(info.value) == -32600
        assert time.monotonic() - started < 1.5  # no HTTP error, so web3 does not retry with back-off
        assert w3.eth.chain_id == 1337


class TestJsonRpcErrorsOverHttp(JsonRpcErrorSuite):
    pass
