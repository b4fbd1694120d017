"""Raw HTTP against the real server: batches, notifications, and every kind of bad input,
each followed by proof that the server still answers."""

from __future__ import annotations

import httpx
import pytest
import rlp
from eth_account.signers.local import LocalAccount
from web3 import Web3

from .conftest import MAX_BODY_BYTES

pytestmark = pytest.mark.integration


def call(http: httpx.Client, method: str, params: list | None = None, id_: object = 1) -> dict:
    body: dict = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        body["params"] = params
    response = http.post("/", json=body)
    assert response.status_code == 200
    return response.json()


def assert_healthy(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    assert call(http, "eth_chainId") == {"jsonrpc": "2.0", "id": 1, "result": "0x539"}


def assert_error(response: dict, code: int, id_: object = 1) -> str:
    assert set(response) == {"jsonrpc", "id", "error"}, response
    assert response["jsonrpc"] == "2.0" and response["id"] == id_
    assert response["error"]["code"] == code, response
    assert isinstance(response["error"]["message"], str)
    return response["error"]["message"]


def signed_transfer(w3: Web3, account: LocalAccount, nonce: int, value: int = 1) -> bytes:
    signed = account.sign_transaction({"type": 2, "chainId": 1337, "nonce": nonce, "to": w3.eth.accounts[0],
                                       "value": value, "gas": 21_000, "maxFeePerGas": 0,
                                       "maxPriorityFeePerGas": 0})
    return bytes(signed.raw_transaction)


def test_batch_of_reads_and_presigned_sends(http: httpx.Client, w3: Web3, funded: LocalAccount):
    nonce = w3.eth.get_transaction_count(funded.address, "pending")
    raws = [signed_transfer(w3, funded, nonce + i) for i in range(20)]
    batch = [{"jsonrpc": "2.0", "id": "chain", "method": "eth_chainId"},
             {"jsonrpc": "2.0", "method": "eth_blockNumber"},  # notification: no entry
             {"jsonrpc": "2.0", "id": "balance", "method": "eth_getBalance", "params": [funded.address, "latest"]}]
    batch += [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
              for i, raw in enumerate(raws)]
    response = http.post("/", json=batch)
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body] == ["chain", "balance", *range(20)]
    assert body[0]["result"] == "0x539" and int(body[1]["result"], 16) > 0
    hashes = [r["result"] for r in body[2:]]
    assert hashes == ["0x" + Web3.keccak(raw).hex().removeprefix("0x") for raw in raws]
    receipt = w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=30, poll_latency=0.05)
    assert receipt.status == 1
    assert w3.eth.get_transaction_count(funded.address) == nonce + 20


def test_batch_with_errors_per_entry(http: httpx.Client):
    body = http.post("/", json=[{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, 42,
                                {"jsonrpc": "2.0", "id": 2, "method": "eth_nope"},
                                {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0xzz"]}]).json()
    assert body[0]["result"] == "0x539"
    assert_error(body[1], -32600, None)
    assert_error(body[2], -32601, 2)
    assert "address" in assert_error(body[3], -32602, 3)
    assert_error(http.post("/", json=[]).json(), -32600, None)
    assert http.post("/", json=[{"jsonrpc": "2.0", "method": "eth_chainId"}]).status_code == 204


@pytest.mark.parametrize("body", [b"{not json", b"", b"\x00\x01binary", b'{"jsonrpc": "2.0", "id": 1'])
def test_malformed_json_is_parse_error(http: httpx.Client, body: bytes):
    response = http.post("/", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert_error(response.json(), -32700, None)
    assert_healthy(http)


def test_non_json_content(http: httpx.Client):
    response = http.post("/", content=b"<xml/>", headers={"content-type": "text/xml"})
    assert_error(response.json(), -32700, None)
    assert_healthy(http)


@pytest.mark.parametrize(("method", "params", "code", "mentions"), [
    ("eth_getBalance", [12345, "latest"], -32602, "address"),
    ("eth_getBalance", ["0x" + "11" * 20, "tomorrow"], -32602, "block"),
    ("eth_getBlockByNumber", ["latest", "yes"], -32602, "fullTransactions"),
    ("eth_getTransactionByHash", ["0x1234"], -32602, "32 bytes"),
    ("eth_getTransactionByHash", ["0x" + "gg" * 32], -32602, "invalid hex digit"),
    ("eth_sendRawTransaction", ["0xf86"], -32602, "odd length"),
    ("eth_sendRawTransaction", ["not hex"], -32602, "0x prefix"),
    ("eth_call", [{"to": "0x1234"}], -32602, "transaction.to"),
    ("eth_call", [{"to": "0x" + "11" * 20}, "latest", {"0x" + "11" * 20: {"balance": "one"}}], -32602,
     "stateOverrides"),
    ("eth_getLogs", [{"fromBlock": "0x2", "toBlock": "0x1"}], -32602, "after toBlock"),
    ("eth_getLogs", [{"topics": [None, None, None, None, None]}], -32602, "topics"),
    ("eth_getBalance", [], -32602, "address"),
    ("eth_chainId", ["extra"], -32602, "too many params"),
    ("eth_nope", [], -32601, "eth_nope"),
    ("eth_getFilterChanges", ["0x" + "00" * 16], -32001, "filter not found"),
    ("eth_getBalance", ["0x" + "11" * 20, "0x7fffffff"], -32001, "not found"),
    ("eth_getLogs", [{"blockHash": "0x" + "11" * 32}], -32001, "unknown block"),
    ("eth_getQuorumPayload", ["0x" + "11" * 32], -32602, "64 bytes"),
])
def test_bad_params(http: httpx.Client, method, params, code, mentions):
    message = assert_error(call(http, method, params), code)
    assert mentions in message
    assert_healthy(http)


def test_invalid_envelopes(http: httpx.Client):
    assert_error(http.post("/", json={"jsonrpc": "1.0", "id": 5, "method": "eth_chainId"}).json(), -32600, 5)
    assert_error(http.post("/", json={"jsonrpc": "2.0", "id": 5, "method": 7}).json(), -32600, 5)
    assert_error(http.post("/", json={"jsonrpc": "2.0", "id": 5, "method": "eth_chainId", "params": 3}).json(),
                 -32600, 5)
    assert_error(http.post("/", json="eth_chainId").json(), -32600, None)
    assert_healthy(http)


def test_bad_signature(http: httpx.Client, w3: Web3, funded: LocalAccount):
    raw = signed_transfer(w3, funded, 0)
    fields = rlp.decode(raw[1:])
    fields[-1] = b""  # s = 0: not a valid signature
    tampered = raw[:1] + rlp.encode(fields)
    message = assert_error(call(http, "eth_sendRawTransaction", ["0x" + tampered.hex()]), -32602)
    assert "invalid raw transaction" in message
    assert_healthy(http)


def test_nonce_too_low(http: httpx.Client, w3: Web3, funded: LocalAccount):
    nonce = w3.eth.get_transaction_count(funded.address, "pending")
    raw = signed_transfer(w3, funded, nonce)
    first = call(http, "eth_sendRawTransaction", ["0x" + raw.hex()])
    w3.eth.wait_for_transaction_receipt(first["result"], timeout=30, poll_latency=0.05)
    stale = signed_transfer(w3, funded, nonce, value=2)
    message = assert_error(call(http, "eth_sendRawTransaction", ["0x" + stale.hex()]), -32000)
    assert message.startswith("nonce too low")
    assert_healthy(http)


def test_oversized_body(http: httpx.Client):
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
               "params": ["0x" + "ab" * MAX_BODY_BYTES]}
    response = http.post("/", json=payload)
    assert response.status_code == 200
    assert "body larger than" in assert_error(response.json(), -32600, None)
    assert_healthy(http)


def test_oversized_batch(http: httpx.Client):
    response = http.post("/", json=[{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(201)])
    assert "batch too large" in assert_error(response.json(), -32600, None)
    assert_healthy(http)
