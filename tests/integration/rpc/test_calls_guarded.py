"""eth_call / eth_estimateGas / eth_createAccessList: geth's guards (EVM timeout, gas cap), access
lists, state overrides, on real nodes behind the real JSON-RPC app (in-process, loopback)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth._utils.address import generate_contract_address
from eth_utils import keccak, to_checksum_address
from web3 import HTTPProvider, Web3

from engine.chain.node import Node
from engine.config import NodeSettings
from engine.rpc.app import create_rpc_app
from engine.server import restore_recursion_limit
from tests.helpers.servers import serve_in_thread

pytestmark = pytest.mark.integration

EVM_TIMEOUT_S = 1.0
GAS_CAP = 50_000_000
OTHER = "0x" + "22" * 20


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Web3]]:
    """A node with a short EVM timeout and geth's default gas cap, below its 100M block gas limit."""
    settings = NodeSettings(data_dir=tmp_path_factory.mktemp("guarded"), chain_id=1337,
                            rpc={"evm_timeout_s": EVM_TIMEOUT_S, "gas_cap": GAS_CAP})
    node = Node.open(settings)
    node.start()
    try:
        with serve_in_thread(create_rpc_app(node)) as url:
            yield node, Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))
    finally:
        node.stop()


@pytest.fixture(scope="module")
def deploy(guarded: tuple[Node, Web3], contract: Callable[[str], Any]) -> Callable[[str], Any]:
    _, w3 = guarded

    def make(name: str) -> Any:
        artifact = contract(name)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx_hash = factory.constructor().transact({"from": w3.eth.accounts[0], "gas": 3_000_000})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        assert receipt.status == 1
        return w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)

    return make


def rpc(w3: Web3, method: str, *params: Any) -> dict[str, Any]:
    return dict(w3.provider.make_request(method, list(params)))  # type: ignore[arg-type]


def call_tx(target: Any, fn: str, *args: Any, **extra: Any) -> dict[str, Any]:
    return {"to": target.address, "data": target.encode_abi(fn, list(args)), **extra}


# -- the EVM timeout and the chain lock ------------------------------------------------------------


def test_an_endless_call_is_aborted_at_the_timeout_while_blocks_keep_coming(guarded, deploy):
    node, w3 = guarded
    spinner = deploy("Spinner")
    sender = w3.eth.accounts[1]
    answer: dict[str, Any] = {}

    def endless_call() -> None:
        with httpx.Client(timeout=60) as client:
            body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call_tx(spinner, "spin"), "latest"]}
            answer.update(client.post(w3.provider.endpoint_uri, json=body).json())  # type: ignore[attr-defined]

    first_block = node.block_number()
    arrivals: list[float] = []
    caller = threading.Thread(target=endless_call)
    started = time.monotonic()
    caller.start()
    while caller.is_alive():  # blocks are built on demand: keep giving the producer work
        tx_hash = w3.eth.send_transaction({"from": sender, "to": OTHER, "value": 1})
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        arrivals.append(time.monotonic())
    caller.join(timeout=60)
    assert answer["error"] == {"code": -32000, "message": "execution aborted (timeout = 1s)"}
    blocks_during_call = node.block_number() - first_block
    assert blocks_during_call >= 1
    gaps = [b - a for a, b in zip([started, *arrivals], arrivals, strict=False)]
    print(f"\nendless eth_call: {blocks_during_call} blocks during the call, largest gap {max(gaps):.3f} s")
    assert w3.eth.block_number >= first_block + blocks_during_call  # still serving


def test_the_gas_cap_bounds_a_call_that_asks_for_more(guarded, deploy):
    _, w3 = guarded
    slots = deploy("Slots")
    answer = rpc(w3, "eth_call", call_tx(slots, "gasLeft", gas=hex(90_000_000)), "latest")
    assert GAS_CAP - 100_000 < int(answer["result"], 16) < GAS_CAP
    answer = rpc(w3, "eth_estimateGas", call_tx(deploy("Spinner"), "spin", gas=hex(200_000)), "latest")
    assert answer["error"] == {"code": -32000, "message": "gas required exceeds allowance (200000)"}


def test_a_1024_deep_call_chain_runs_under_the_restored_recursion_limit(tmp_path: Path, contract):
    previous = sys.getrecursionlimit()
    settings = NodeSettings(data_dir=tmp_path, chain_id=1337, block_gas_limit=10**13,
                            rpc={"gas_cap": 0, "evm_timeout_s": 0})
    node = Node.open(settings)
    node.start()
    restore_recursion_limit()
    try:
        with serve_in_thread(create_rpc_app(node)) as url:
            w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 120}))
            artifact = contract("Recurser")
            factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
            receipt = w3.eth.wait_for_transaction_receipt(
                factory.constructor().transact({"from": w3.eth.accounts[0], "gas": 1_000_000}), timeout=30)
            recurser = w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)
            assert recurser.functions.deepest(0).call({"gas": 10**12}) == 1024
    finally:
        sys.setrecursionlimit(previous)
        node.stop()


# -- estimates and errors ------------------------------------------------------------------------


def test_an_estimate_with_an_access_list_is_what_the_mined_type_1_transaction_uses(guarded, deploy):
    _, w3 = guarded
    slots = deploy("Slots")
    sender = w3.eth.accounts[0]
    access_list = [{"address": slots.address, "storageKeys": ["0x" + "00" * 32]}]
    plain = int(rpc(w3, "eth_estimateGas", call_tx(slots, "sum", **{"from": sender}))["result"], 16)
    estimate = int(rpc(w3, "eth_estimateGas", call_tx(slots, "sum", **{"from": sender, "type": "0x1",
                                                                        "accessList": access_list}))["result"], 16)
    assert estimate == plain + 2400 + 1900 - 2000  # the list's intrinsic gas, one cold SLOAD made warm
    tx_hash = w3.eth.send_transaction(call_tx(slots, "sum", **{"from": sender, "type": 1, "gas": 200_000,
                                                               "accessList": access_list}))
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30).gasUsed == estimate


def test_an_estimate_beyond_the_balance_has_geths_wording(guarded, deploy):
    _, w3 = guarded
    sender = w3.eth.accounts[2]
    answer = rpc(w3, "eth_estimateGas", {"from": sender, "to": OTHER, "value": hex(10**40)})
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"].startswith(
        f"insufficient funds for gas * price + value: address {to_checksum_address(sender)} have ")


# -- state overrides -------------------------------------------------------------------------------


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def test_state_overrides_of_each_kind(guarded, deploy):
    _, w3 = guarded
    slots = deploy("Slots")
    tx_hash = slots.functions.bump().transact({"from": w3.eth.accounts[0]})  # a = 1 in storage
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    def total(overrides: dict[str, Any] | None = None) -> int:
        params = [call_tx(slots, "sum"), "latest"] + ([overrides] if overrides is not None else [])
        return int(rpc(w3, "eth_call", *params)["result"], 16)

    assert total() == 1
    assert total({slots.address: {"stateDiff": {word(1): word(5)}}}) == 1 + 5  # b patched, a kept
    assert total({slots.address: {"state": {word(1): word(5)}}}) == 5  # all storage replaced: a gone
    balance = int(rpc(w3, "eth_call", call_tx(slots, "balanceOf", OTHER), "latest",
                      {OTHER: {"balance": hex(12345)}})["result"], 16)
    assert balance == 12345
    # code + nonce: code at a fresh address that CREATEs and returns the new address
    creator = "0x" + "33" * 20
    create_and_return = "0x600060006000f060005260206000f3"
    out = rpc(w3, "eth_call", {"to": creator}, "latest", {creator: {"code": create_and_return, "nonce": "0x5"}})
    created = bytes.fromhex(out["result"][2:])[12:]
    assert created == generate_contract_address(bytes.fromhex(creator[2:]), 5)
    # estimates see overrides too: with `a` patched to max, `a + b + m[7]` overflows (a Panic revert)
    answer = rpc(w3, "eth_estimateGas", call_tx(slots, "sum"), "latest",
                 {slots.address: {"stateDiff": {word(0): word(2**256 - 1), word(1): word(1)}}})
    assert answer["error"]["code"] == 3


def test_state_and_state_diff_together_are_refused_as_geth_does(guarded, deploy):
    _, w3 = guarded
    slots = deploy("Slots")
    overrides = {slots.address: {"state": {}, "stateDiff": {}}}
    for method in ("eth_call", "eth_estimateGas", "eth_createAccessList"):
        answer = rpc(w3, method, call_tx(slots, "sum"), "latest", overrides)
        assert answer["error"] == {"code": -32000, "message": f"account {slots.address} has both 'state' and "
                                                             f"'stateDiff'"}, method
    assert w3.eth.block_number >= 0


# -- eth_createAccessList ----------------------------------------------------------------------


def test_create_access_list_lists_the_touched_slots_and_its_gas_is_the_mined_gas(guarded, deploy):
    _, w3 = guarded
    slots = deploy("Slots")
    sender = w3.eth.accounts[0]
    answer = rpc(w3, "eth_createAccessList", call_tx(slots, "sum", **{"from": sender}), "latest")["result"]
    mapping_slot = "0x" + keccak((7).to_bytes(32, "big") + (2).to_bytes(32, "big")).hex()
    assert answer["accessList"] == [{"address": slots.address,
                                     "storageKeys": sorted([word(0), word(1), mapping_slot])}]
    assert "error" not in answer
    tx_hash = w3.eth.send_transaction(call_tx(slots, "sum", **{"from": sender, "type": 1, "gas": 200_000,
                                                               "accessList": answer["accessList"]}))
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30).gasUsed == int(answer["gasUsed"], 16)
    # another account read by BALANCE is listed without slots; a failing run reports its error
    other = rpc(w3, "eth_createAccessList", call_tx(slots, "balanceOf", OTHER, **{"from": sender}))["result"]
    assert other["accessList"] == [{"address": to_checksum_address(OTHER), "storageKeys": []}]
    failed = rpc(w3, "eth_createAccessList", call_tx(slots, "sum", **{"from": sender}), "latest",
                 {slots.address: {"stateDiff": {word(0): word(2**256 - 1), word(1): word(1)}}})["result"]
    assert failed["error"] == "execution reverted"
