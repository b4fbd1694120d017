"""eth_simulateV1 on a real node behind the real JSON-RPC app: simulated blocks carry state,
block and state overrides, geth's error codes, transfer tracing, and nothing is committed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address
from web3 import HTTPProvider, Web3

from engine.chain.node import Node
from engine.config import NodeSettings
from engine.rpc.app import create_rpc_app
from tests.helpers.servers import serve_in_thread

pytestmark = pytest.mark.integration

OTHER = "0x" + "22" * 20
STRANGER = "0x" + "33" * 20  # never funded
TRANSFER_ADDRESS = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


def rpc(w3: Web3, method: str, *params: Any) -> dict[str, Any]:
    return dict(w3.provider.make_request(method, list(params)))  # type: ignore[arg-type]


def simulate(w3: Web3, blocks: list[dict[str, Any]], block: str = "latest", **flags: Any) -> list[dict[str, Any]]:
    answer = rpc(w3, "eth_simulateV1", {"blockStateCalls": blocks, **flags}, block)
    assert "error" not in answer, answer
    return list(answer["result"])


def simulate_error(w3: Web3, blocks: list[dict[str, Any]], **flags: Any) -> dict[str, Any]:
    answer = rpc(w3, "eth_simulateV1", {"blockStateCalls": blocks, **flags}, "latest")
    assert "result" not in answer, answer
    return dict(answer["error"])


def call(target: Any, fn: str, *args: Any, **extra: Any) -> dict[str, Any]:
    return {"to": target.address, "data": target.encode_abi(fn, list(args)), **extra}


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def test_state_carries_across_calls_and_blocks(w3: Web3, storage: Any):
    head = w3.eth.get_block("latest")
    sender = w3.eth.accounts[0]
    blocks = simulate(w3, [
        {"calls": [call(storage, "set", 42, **{"from": sender}), call(storage, "add", 1, **{"from": sender})]},
        {"calls": [call(storage, "get")]},
    ])
    first, second = blocks
    assert [int(b["number"], 16) for b in blocks] == [head.number + 1, head.number + 2]
    assert first["parentHash"] == head.hash.to_0x_hex() and second["parentHash"] == first["hash"]
    assert [int(b["timestamp"], 16) for b in blocks] == [head.timestamp + 12, head.timestamp + 24]
    assert second["calls"][0]["returnData"] == word(43)
    assert [c["status"] for c in first["calls"]] == ["0x1", "0x1"]
    assert int(first["gasUsed"], 16) == sum(int(c["gasUsed"], 16) for c in first["calls"])
    # the ValueChanged log is numbered as geth fills it, under the simulated block's hash
    (log,) = first["calls"][0]["logs"]
    assert log["address"] == storage.address
    assert log["blockHash"] == first["hash"] and log["blockNumber"] == first["number"]
    assert log["transactionHash"] == first["transactions"][0]
    assert (log["transactionIndex"], log["logIndex"]) == ("0x0", "0x0")
    assert log["blockTimestamp"] == first["timestamp"]
    assert first["transactions"][1] != first["transactions"][0]


def test_block_overrides_and_gaps_filled_with_empty_blocks(w3: Web3, storage: Any):
    head = w3.eth.get_block("latest")
    randao = "0x" + "ab" * 32
    blocks = simulate(w3, [{
        "blockOverrides": {"number": hex(head.number + 3), "time": hex(head.timestamp + 100),
                           "feeRecipient": OTHER, "gasLimit": hex(30_000_000), "prevRandao": randao,
                           "baseFeePerGas": "0x0"},
        "calls": [call(storage, "get")],
    }, {"calls": []}])
    assert [int(b["number"], 16) for b in blocks] == [head.number + n for n in (1, 2, 3, 4)]
    assert [int(b["timestamp"], 16) - head.timestamp for b in blocks] == [12, 24, 100, 112]
    assert blocks[0]["calls"] == [] and blocks[0]["transactions"] == []
    third, fourth = blocks[2], blocks[3]
    assert third["miner"] == to_checksum_address(OTHER) and third["gasLimit"] == hex(30_000_000)
    assert third["mixHash"] == randao
    # fee recipient and gas limit carry over to the next block; prevRandao does not
    assert fourth["miner"] == to_checksum_address(OTHER) and fourth["gasLimit"] == hex(30_000_000)
    assert fourth["mixHash"] == "0x" + "00" * 32
    assert third["calls"][0]["returnData"] != "0x"


def test_block_numbers_and_timestamps_must_increase(w3: Web3):
    head = w3.eth.get_block("latest")
    error = simulate_error(w3, [{"blockOverrides": {"number": hex(head.number + 2)}},
                                {"blockOverrides": {"number": hex(head.number + 2)}}])
    assert error == {"code": -38020,
                     "message": f"block numbers must be in order: {head.number + 2} <= {head.number + 2}"}
    error = simulate_error(w3, [{"blockOverrides": {"time": hex(head.timestamp)}}])
    assert error == {"code": -38021,
                     "message": f"block timestamps must be in order: {head.timestamp} <= {head.timestamp}"}


def test_state_overrides_apply_before_the_block(w3: Web3, storage: Any, contract: Any):
    code = contract("SimpleStorage").deployed_bytecode
    code = code if code.startswith("0x") else "0x" + code
    blocks = simulate(w3, [
        {"stateOverrides": {OTHER: {"code": code, "stateDiff": {word(0): word(99)}}},
         "calls": [{"to": OTHER, "data": storage.encode_abi("get", [])}]},
        {"stateOverrides": {storage.address: {"state": {word(0): word(5)}}},
         "calls": [call(storage, "get"), {"to": OTHER, "data": storage.encode_abi("get", [])}]},
    ])
    assert blocks[0]["calls"][0]["returnData"] == word(99)
    assert [c["returnData"] for c in blocks[1]["calls"]] == [word(5), word(99)]


def test_a_reverting_call_has_geths_error_shape_and_the_block_goes_on(w3: Web3, storage: Any):
    sender = w3.eth.accounts[0]
    (block,) = simulate(w3, [{"calls": [call(storage, "set", 13, **{"from": sender}), call(storage, "get")]}])
    reverted, after = block["calls"]
    assert reverted["status"] == "0x0" and reverted["returnData"] == "0x" and reverted["logs"] == []
    assert reverted["error"]["code"] == 3
    assert reverted["error"]["message"] == "execution reverted: unlucky number"
    assert reverted["error"]["data"].startswith("0x08c379a0")
    assert after["status"] == "0x1" and "error" not in after


def test_validation_checks_the_nonce_and_the_base_fee(w3: Web3, storage: Any):
    sender = w3.eth.accounts[0]
    nonce = w3.eth.get_transaction_count(sender)
    too_high = [{"calls": [call(storage, "get", **{"from": sender, "nonce": hex(nonce + 5)})]}]
    error = simulate_error(w3, too_high, validation=True)
    assert error["code"] == -38011
    assert error["message"].startswith(f"err: nonce too high: address {sender}, tx: {nonce + 5} state: {nonce}")
    assert simulate(w3, too_high, validation=False)[0]["calls"][0]["status"] == "0x1"
    if nonce:
        error = simulate_error(w3, [{"calls": [call(storage, "get", **{"from": sender, "nonce": "0x0"})]}],
                               validation=True)
        assert error["code"] == -38010 and error["message"].startswith("err: nonce too low")
    under_base_fee = [{"blockOverrides": {"baseFeePerGas": hex(7)}, "calls": [call(storage, "get")]}]
    error = simulate_error(w3, under_base_fee, validation=True)
    assert error["code"] == -38012
    assert "max fee per gas less than block base fee" in error["message"] and "baseFee: 7" in error["message"]
    (block,) = simulate(w3, under_base_fee, validation=False)
    assert block["baseFeePerGas"] == hex(7) and block["calls"][0]["status"] == "0x1"


def test_funds_and_intrinsic_gas_are_checked_in_both_modes(w3: Web3):
    broke = [{"calls": [{"from": STRANGER, "to": OTHER, "value": hex(1)}]}]
    for validation in (True, False):
        error = simulate_error(w3, broke, validation=validation)
        assert error["code"] == -38014
        assert error["message"].startswith(
            f"err: insufficient funds for gas * price + value: address {to_checksum_address(STRANGER)} have 0 want 1")
    error = simulate_error(w3, [{"calls": [{"to": OTHER, "gas": hex(100)}]}])
    assert error == {"code": -38013, "message": "err: intrinsic gas too low: have 100, want 21000 (supplied gas 100)"}
    error = simulate_error(w3, [{"blockOverrides": {"gasLimit": hex(50_000)},
                                 "calls": [{"to": OTHER, "gas": hex(60_000)}]}])
    assert error == {"code": -38015, "message": "block gas limit reached: remaining: 50000, required: 60000"}
    # gas price 0 and no fees at all pass without validation: the sender needs only the value
    (block,) = simulate(w3, [{"stateOverrides": {STRANGER: {"balance": hex(10)}},
                              "calls": [{"from": STRANGER, "to": OTHER, "value": hex(10), "gasPrice": "0x0"}]}])
    assert block["calls"][0]["status"] == "0x1"


def test_trace_transfers_adds_erc7528_logs(w3: Web3, storage: Any):
    sender = w3.eth.accounts[0]
    transfer = [{"calls": [{"from": sender, "to": OTHER, "value": hex(1234)},
                           call(storage, "set", 8, **{"from": sender})]}]
    (block,) = simulate(w3, transfer, traceTransfers=True)
    (log,) = block["calls"][0]["logs"]
    assert log["address"] == TRANSFER_ADDRESS
    assert log["topics"] == [TRANSFER_TOPIC, "0x" + "00" * 12 + sender[2:].lower(), "0x" + "00" * 12 + OTHER[2:]]
    assert log["data"] == word(1234)
    assert log["logIndex"] == "0x0" and log["transactionHash"] == block["transactions"][0]
    # numbering runs on across the block's calls, as geth's tracer counts
    (event,) = block["calls"][1]["logs"]
    assert event["logIndex"] == "0x1" and event["transactionIndex"] == "0x1"
    (plain,) = simulate(w3, transfer)
    assert plain["calls"][0]["logs"] == [] and plain["calls"][1]["logs"][0]["logIndex"] == "0x0"


def test_return_full_transactions(w3: Web3, storage: Any):
    sender = w3.eth.accounts[0]
    request = [{"calls": [call(storage, "get", **{"from": sender}), {"to": OTHER, "gasPrice": "0x0"}]}]
    hashes = simulate(w3, request)[0]["transactions"]
    (block,) = simulate(w3, request, returnFullTransactions=True)
    first, second = block["transactions"]
    assert [first["hash"], second["hash"]] == hashes
    assert first["from"] == sender and second["from"] == "0x" + "00" * 20
    assert (first["type"], second["type"]) == ("0x2", "0x0")
    assert first["blockHash"] == block["hash"] and second["transactionIndex"] == "0x1"
    assert first["input"] == storage.encode_abi("get", [])
    assert (first["v"], first["r"], first["s"]) == ("0x0", "0x0", "0x0")


def test_at_most_256_blocks(w3: Web3):
    head = w3.eth.block_number
    assert simulate_error(w3, [{}] * 257) == {"code": -38026, "message": "too many blocks"}
    far = [{"blockOverrides": {"number": hex(head + 257)}}]
    assert simulate_error(w3, far) == {"code": -38026, "message": "too many blocks"}
    blocks = simulate(w3, [{"blockOverrides": {"number": hex(head + 256)}}])
    assert len(blocks) == 256 and int(blocks[-1]["number"], 16) == head + 256


def test_empty_input_and_private_calls_are_refused(w3: Web3):
    assert simulate_error(w3, []) == {"code": -32602, "message": "empty input"}
    error = simulate_error(w3, [{"calls": [{"to": OTHER, "privateFor": ["A" * 43 + "="]}]}])
    assert error["code"] == -32602 and "privateFor" in error["message"]


def test_nothing_is_committed(w3: Web3, storage: Any):
    sender = w3.eth.accounts[0]
    head = w3.eth.get_block("latest")
    before = (w3.eth.get_balance(sender), w3.eth.get_balance(OTHER), w3.eth.get_transaction_count(sender),
              storage.functions.get().call())
    pay = {"from": sender, "to": OTHER, "value": hex(10**18)}
    simulate(w3, [{"calls": [pay, call(storage, "set", 77, **{"from": sender})]},
                  {"stateOverrides": {sender: {"balance": hex(1)}}, "calls": [call(storage, "add", 1)]}],
             validation=True)
    after = (w3.eth.get_balance(sender), w3.eth.get_balance(OTHER), w3.eth.get_transaction_count(sender),
             storage.functions.get().call())
    assert after == before
    assert w3.eth.get_block("latest").hash == head.hash


def test_web3_simulate_v1(w3: Web3, storage: Any):
    result = w3.eth.simulate_v1({"blockStateCalls": [{"calls": [call(storage, "get")]}]}, "latest")
    assert result[0]["calls"][0]["status"] == 1
    assert int.from_bytes(result[0]["calls"][0]["returnData"], "big") == storage.functions.get().call()


def test_the_whole_request_stops_at_the_evm_timeout(tmp_path: Path, contract: Any):
    """Each call is short, but their sum passes the node's `rpc.evm_timeout_s`: geth's wording."""
    settings = NodeSettings(data_dir=tmp_path, chain_id=1337, rpc={"evm_timeout_s": 0.5})
    node = Node.open(settings)
    node.start()
    try:
        with serve_in_thread(create_rpc_app(node)) as url:
            w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))
            spinner = w3.eth.contract(abi=contract("Spinner").abi)
            code = contract("Spinner").deployed_bytecode
            spin = {"to": OTHER, "data": spinner.encode_abi("spin", []), "gas": hex(2_000_000)}
            started = time.monotonic()
            error = simulate_error(w3, [{"stateOverrides": {OTHER: {"code": code}}, "calls": [spin] * 50}])
            assert time.monotonic() - started < 5
            assert error == {"code": -32000, "message": "execution aborted (timeout = 500ms)"}
    finally:
        node.stop()
