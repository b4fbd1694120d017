"""Private transactions end to end on one 4-node network: A = node1, B = node2, C = node3, D = node4.

Every "a party sees it" check is paired with "a non-party cannot" (tests/helpers/privacy.py):
over JSON-RPC, over the manager API and its store, in the node's database, in the public chain.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

import pytest
import rlp
from eth_utils import keccak, to_checksum_address

from devnet.solc import Artifact
from tests.helpers.network import (
    E2ENetwork,
    NodeHandle,
    calldata,
    hx,
    init_code,
    selector,
    send_private,
    send_public,
    sign_raw_private,
    word,
)
from tests.helpers.privacy import (
    ExpectedLog,
    PrivateTx,
    assert_hidden_from,
    assert_private_to,
    assert_visible_to,
    deploy_storage,
    random_value,
    secret_bytes,
)

pytestmark = pytest.mark.e2e

GET = selector("get()")


def w(value: int) -> bytes:
    return value.to_bytes(32, "big")


def rpc_error(node: NodeHandle, method: str, *params: object) -> dict[str, object]:
    answer = node.rpc.raw(method, *params)
    assert "error" in answer, f"{method} succeeded: {answer}"
    return dict(answer["error"])


def test_private_deployment_is_seen_by_its_parties_only(net: E2ENetwork,
                                                        contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    value = random_value()
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b], value)

    # A and B: the code and the value; C and D: empty code, and a call returns nothing
    for node in (a, b):
        assert node.rpc("eth_getCode", deployed.contract, "latest") == contract("SimpleStorage").deployed_bytecode
        assert node.rpc("eth_call", {"to": deployed.contract, "data": hx(GET)}, "latest") == word(value)
    for node in (c, d):
        assert node.rpc("eth_getCode", deployed.contract, "latest") == "0x"
        assert node.rpc("eth_call", {"to": deployed.contract, "data": hx(GET)}, "latest") == "0x"
    # the contract address is CreateAddress(sender, nonce) on every node (the marker's public receipt)
    marker = a.rpc("eth_getTransactionByHash", deployed.tx_hash)
    expected = to_checksum_address(keccak(rlp.encode([bytes.fromhex(a.address[2:]), int(marker["nonce"], 16)]))[12:])
    assert {n.rpc("eth_getTransactionReceipt", deployed.tx_hash)["contractAddress"] for n in net.nodes} == {expected}
    # and the whole pair: payload, manager, store, receipts, logs, public bytes (input = 64-byte key, v 37/38)
    assert_private_to(net, deployed, [a, b])


def test_private_call_updates_parties_only_and_its_event_stays_private(
        net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    first, second = random_value(), random_value()
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b], first)
    filters = {n.name: n.rpc("eth_newFilter", {"address": deployed.contract}) for n in net.nodes}

    payload = calldata("set(uint256)", second)
    tx_hash = send_private(a, payload, [b.key], to=deployed.contract, gas=200_000)
    net.wait_receipts(tx_hash)

    event = ExpectedLog.value_changed(deployed.contract, a.address, first, second)
    assert_private_to(net, PrivateTx(
        tx_hash, payload, deployed.contract, storage={0: second}, call=(GET, w(second)), logs=(event,),
        secrets=(secret_bytes(second), secret_bytes(first)),
    ), [a, b])
    # a log filter on the parties delivers the private event; on C and D it stays empty
    for node in (a, b):
        changes = node.rpc("eth_getFilterChanges", filters[node.name])
        assert [(g["transactionHash"], g["data"]) for g in changes] == [(tx_hash, event.data)], node
    for node in (c, d):
        assert node.rpc("eth_getFilterChanges", filters[node.name]) == [], node
        receipt = node.rpc("eth_getTransactionReceipt", tx_hash)
        assert (receipt["status"], receipt["logs"]) == ("0x1", [])
    assert a.rpc("eth_getTransactionReceipt", tx_hash)["logs"] == b.rpc("eth_getTransactionReceipt", tx_hash)["logs"]


def test_get_quorum_payload_answers_parties_only(net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b], random_value())
    key = a.rpc("eth_getTransactionByHash", deployed.tx_hash)["input"]

    assert a.rpc("eth_getQuorumPayload", key) == hx(deployed.payload)
    assert b.rpc("eth_getQuorumPayload", key) == hx(deployed.payload)
    assert c.rpc("eth_getQuorumPayload", key) == "0x"
    assert d.rpc("eth_getQuorumPayload", key) == "0x"
    # a key nobody sent is "not a party" everywhere; a key of the wrong size is a parameter error
    unknown = hx(secrets.token_bytes(64))
    assert {n.rpc("eth_getQuorumPayload", unknown) for n in net.nodes} == {"0x"}
    error = rpc_error(a, "eth_getQuorumPayload", key[:66])
    assert error["code"] == -32602 and "64 bytes" in str(error["message"])


def test_raw_private_transaction_from_storeraw_to_recipient(net: E2ENetwork,
                                                            contract: Callable[[str], Artifact]) -> None:
    """/storeraw on A's manager, sign it ourselves (Homestead, v + 10), eth_sendRawPrivateTransaction
    privateFor C: C executes it, B does not."""
    a, b, c, d = net.nodes
    value = random_value()
    payload = init_code(contract("SimpleStorage").bytecode, ["uint256"], [value])

    stored = a.manager_post("/storeraw", {"payload": base64.b64encode(payload).decode(), "from": a.key})
    assert stored.status_code == 200, stored.text
    key = base64.b64decode(stored.json()["key"])
    assert len(key) == 64
    # stored for the sender only until distributed: C's manager does not have it yet
    assert a.manager_rows(key)["encrypted_raw_transaction"] == 1
    assert c.manager_transaction(key).status_code == 404 and c.manager_rows(key)["encrypted_transaction"] == 0

    nonce = a.pending_nonce()
    raw = sign_raw_private(a.private_key, nonce, 3_000_000, None, key)
    tx_hash = a.rpc("eth_sendRawPrivateTransaction", hx(raw), {"privateFor": [c.key]})
    assert tx_hash == hx(keccak(raw))
    receipts = net.wait_receipts(tx_hash)

    address = receipts[a.name]["contractAddress"]
    assert address == to_checksum_address(keccak(rlp.encode([bytes.fromhex(a.address[2:]), nonce]))[12:])
    created = PrivateTx(tx_hash, payload, address, creates=True, storage={0: value, 1: int(a.address, 16)},
                        call=(GET, w(value)), secrets=(secret_bytes(value),))
    assert_visible_to(net, created, [a, c])
    assert_hidden_from(net, created, [b, d])


@pytest.mark.parametrize(("bad_key", "reason"), [
    ("not base64!", "not valid base64"),
    (base64.b64encode(b"\x01" * 31).decode(), "32 bytes"),
    (base64.b64encode(b"\x01" * 33).decode(), "32 bytes"),
])
def test_malformed_private_for_key_is_a_clear_error(net: E2ENetwork, bad_key: str, reason: str) -> None:
    a, b = net.nodes[:2]
    nonce, rows = a.pending_nonce(), a.manager_row_count()
    error = rpc_error(a, "eth_sendTransaction", {"from": a.address, "data": hx(b"\x60\x00" * 20),
                                                 "gas": hex(300_000), "privateFor": [b.key, bad_key]})
    assert error["code"] == -32602
    assert "privateFor[1]" in str(error["message"]) and reason in str(error["message"]), error
    assert (a.pending_nonce(), a.manager_row_count()) == (nonce, rows), "something was sent"


def test_unknown_recipient_is_a_clear_error(net: E2ENetwork) -> None:
    a = net.nodes[0]
    nobody = base64.b64encode(secrets.token_bytes(32)).decode()  # well-formed, held by no manager
    nonce, rows = a.pending_nonce(), a.manager_row_count()
    error = rpc_error(a, "eth_sendTransaction", {"from": a.address, "data": hx(b"\x60\x00" * 20),
                                                 "gas": hex(300_000), "privateFor": [nobody]})
    assert error["code"] == -32000
    assert str(error["message"]).startswith("404 status:") and nobody in str(error["message"]), error
    assert (a.pending_nonce(), a.manager_row_count()) == (nonce, rows), "something was sent"


def test_value_transfer_in_a_private_transaction_is_rejected(net: E2ENetwork) -> None:
    a, b = net.nodes[:2]
    message = "ether value is not supported for private transactions"
    nonce, rows = a.pending_nonce(), a.manager_row_count()
    error = rpc_error(a, "eth_sendTransaction", {"from": a.address, "to": b.address, "value": hex(1),
                                                 "data": hx(b"\x01" * 8), "privateFor": [b.key]})
    assert (error["code"], error["message"]) == (-32000, message)
    # the raw flow checks the same before distributing anything
    stored = a.manager_post("/storeraw", {"payload": base64.b64encode(b"\x01" * 8).decode()})
    assert stored.status_code == 200, stored.text
    key = base64.b64decode(stored.json()["key"])
    raw = sign_raw_private(a.private_key, nonce, 100_000, b.address, key, value=1)
    error = rpc_error(a, "eth_sendRawPrivateTransaction", hx(raw), {"privateFor": [b.key]})
    assert (error["code"], error["message"]) == (-32000, message)
    assert b.manager_transaction(key).status_code == 404, "the raw payload was distributed"
    assert (a.pending_nonce(), a.manager_row_count()) == (nonce, rows), "something was sent"


def test_private_contract_reads_public_state_but_cannot_write_it(net: E2ENetwork,
                                                                 contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    public_value = random_value()
    public_hash = send_public(a, init_code(contract("SimpleStorage").bytecode, ["uint256"], [public_value]))
    public = net.wait_receipts(public_hash)[a.name]["contractAddress"]
    for node in net.nodes:
        assert node.rpc("eth_call", {"to": public, "data": hx(GET)}, "latest") == word(public_value)

    reader_payload = bytes.fromhex(contract("Reader").bytecode[2:])
    reader_hash = send_private(a, reader_payload, [b.key])
    reader = net.wait_receipts(reader_hash)[a.name]["contractAddress"]
    read_public = calldata("readValue(address)", public)
    # the private Reader returns the public value on the parties; on C and D there is no Reader
    assert_private_to(net, PrivateTx(reader_hash, reader_payload, reader, creates=True,
                                     call=(read_public, w(public_value))), [a, b])

    attempted = random_value()
    write = calldata("writeValue(address,uint256)", public, attempted)
    write_hash = send_private(a, write, [b.key], to=reader, gas=500_000)
    receipts = net.wait_receipts(write_hash)
    assert {n: int(r["status"], 16) for n, r in receipts.items()} == {a.name: 0, b.name: 0, c.name: 1, d.name: 1}
    # fails on the parties (the public contract is read-only to private execution), and stays private
    assert_private_to(net, PrivateTx(write_hash, write, reader, status=0, call=(read_public, w(public_value)),
                                     secrets=(secret_bytes(attempted),)), [a, b])
    for node in net.nodes:
        assert node.rpc("eth_call", {"to": public, "data": hx(GET)}, "latest") == word(public_value), node
        assert node.rpc("eth_getStorageAt", public, "0x0", "latest") == word(public_value), node
