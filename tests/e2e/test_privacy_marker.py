"""GoQuorum's privacy marker transactions (PMTs) end to end, on a 4-node network of this module's own
started with them on (`privnet up --privacy-marker`): A = node1 sends to B = node2; C = node3 and
D = node4 are non-parties.

The chain carries only a public transaction to the precompile address 0x…7a whose data is the manager
hash of the signed inner private transaction. Parties run the inner transaction on their private state;
non-parties see the PMT and nothing else. Each "a party sees it" is paired with "a non-party cannot"
(JSON-RPC, manager API, the node's database, the public chain's bytes).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import rlp
import websockets
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from devnet.solc import Artifact
from tests.helpers.network import (
    E2ENetwork,
    NodeHandle,
    RpcError,
    calldata,
    hx,
    init_code,
    running_network,
    selector,
    send_private,
    send_public,
    sign_raw_private,
    word,
)
from tests.helpers.privacy import (
    PRIVATE_V,
    VALUE_CHANGED,
    assert_not_in_public_chain,
    random_value,
    secret_bytes,
)

pytestmark = pytest.mark.e2e

PRECOMPILE = "0x000000000000000000000000000000000000007a"
GET = selector("get()")
PMT_GAS = 24_000  # covers a PMT's intrinsic gas and Prague's calldata floor on a 64-byte hash


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("e2e-pmt"), privacy_marker=True) as network:
        yield network


@pytest.fixture(scope="module")
def storage(net: E2ENetwork, contract: Callable[[str], Artifact]) -> dict[str, Any]:
    """SimpleStorage deployed A → B through a PMT (what test_deploy checks in detail)."""
    a, b = net.nodes[0], net.nodes[1]
    value = random_value()
    payload = init_code(contract("SimpleStorage").bytecode, ["uint256"], [value])
    pmt_hash = send_private(a, payload, [b.key])
    receipts = net.wait_receipts(pmt_hash)
    address = a.rpc("eth_getPrivateTransactionReceipt", pmt_hash)["contractAddress"]
    return {"pmt": pmt_hash, "payload": payload, "value": value, "address": address, "receipts": receipts}


def rpc_error(node: NodeHandle, method: str, *params: object) -> dict[str, Any]:
    answer = node.rpc.raw(method, *params)
    assert "error" in answer, f"{node} {method} succeeded: {answer}"
    return dict(answer["error"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def manager_send(node: NodeHandle, payload: bytes, to: list[str]) -> bytes:
    """The manager's Q2T /send, as any client of it may call it: the payload's 64-byte hash."""
    answer = node.manager_post("/send", {"payload": b64(payload), "from": node.key, "to": to})
    assert answer.status_code == 201, answer.text
    return base64.b64decode(answer.json()["key"])


def geth_json(raw: bytes) -> bytes:
    """geth's transaction JSON of a signed legacy transaction, built by hand from its RLP."""
    nonce, gas_price, gas, to, value, data, v, r, s = rlp.decode(raw)
    q = lambda b: hex(int.from_bytes(b, "big"))  # noqa: E731
    return json.dumps({"type": "0x0", "nonce": q(nonce), "gasPrice": q(gas_price), "gas": q(gas), "value": q(value),
                       "input": hx(data), "v": q(v), "r": q(r), "s": q(s), "to": hx(to) if to else None,
                       "hash": hx(keccak(raw))}).encode()


def send_pmt(net: E2ENetwork, sender: NodeHandle, nonce: int, pmt_data: bytes) -> str:
    """A PMT the client signs itself (EIP-155, gas price 0, to 0x…7a), sent with eth_sendRawTransaction."""
    signed = Account.sign_transaction({"nonce": nonce, "gasPrice": 0, "gas": PMT_GAS, "value": 0,
                                       "to": to_checksum_address(PRECOMPILE), "data": pmt_data,
                                       "chainId": int(net.spec["chain_id"])}, sender.private_key)
    return str(sender.rpc("eth_sendRawTransaction", hx(bytes(signed.raw_transaction))))


def check_public_form(net: E2ENetwork, pmt_hash: str) -> dict[str, Any]:
    """The PMT is the same public transaction on every node: to 0x…7a, data a 64-byte hash, EIP-155
    signed (not a private marker), no value; its receipt is the public one (status 1, no logs)."""
    net.wait_receipts(pmt_hash)
    seen = [n.rpc("eth_getTransactionByHash", pmt_hash) for n in net.nodes]
    assert all(s == seen[0] for s in seen), seen
    pmt = seen[0]
    assert pmt["to"] == PRECOMPILE and len(bytes.fromhex(pmt["input"][2:])) == 64
    assert pmt["v"] not in PRIVATE_V and pmt["chainId"] == hex(int(net.spec["chain_id"]))
    assert pmt["value"] == "0x0" and pmt["gasPrice"] == "0x0"
    for node in net.nodes:
        receipt = node.wait_receipt(pmt_hash)
        assert receipt["status"] == "0x1" and receipt["logs"] == [] and receipt["contractAddress"] is None, receipt
        assert receipt["to"] == PRECOMPILE and "isPrivate" not in receipt, receipt
        assert receipt["isPrivacyMarkerTransaction"] is True, receipt  # GoQuorum's field, parties or not
        assert int(receipt["gasUsed"], 16) <= PMT_GAS
    return dict(pmt)


def check_non_party(node: NodeHandle, pmt: dict[str, Any], contract: str) -> None:
    """A non-party has the PMT and nothing private about it."""
    assert node.rpc("eth_getPrivateTransactionByHash", pmt["hash"]) is None
    error = rpc_error(node, "eth_getPrivateTransactionReceipt", pmt["hash"])
    assert error["code"] == -32000 and error["message"] == "private transaction not found for this participant"
    assert node.rpc("eth_getQuorumPayload", pmt["input"]) == "0x"
    assert node.manager_transaction(bytes.fromhex(pmt["input"][2:])).status_code == 404
    assert node.rpc("eth_getCode", contract, "latest") == "0x"
    assert node.rpc("eth_getStorageAt", contract, "0x0", "latest") == word(0)
    assert node.rpc("eth_call", {"to": contract, "data": hx(GET)}, "latest") == "0x"


def test_every_node_names_the_precompile_address(net: E2ENetwork) -> None:
    for node in net.nodes:
        assert node.rpc("eth_getPrivacyPrecompileAddress") == PRECOMPILE


def test_a_private_deployment_goes_on_chain_as_a_pmt_seen_by_its_parties_only(
        net: E2ENetwork, contract: Callable[[str], Artifact], storage: dict[str, Any]) -> None:
    a, b, c, d = net.nodes
    pmt = check_public_form(net, storage["pmt"])
    address, value = storage["address"], storage["value"]
    sender = bytes.fromhex(a.address[2:])
    assert address == to_checksum_address(keccak(rlp.encode([sender, int(pmt["nonce"], 16)]))[12:])

    inners = []
    for party in (a, b):
        inner = party.rpc("eth_getPrivateTransactionByHash", storage["pmt"])
        assert inner is not None, f"{party}: no inner transaction"
        assert inner["hash"] != storage["pmt"] and inner["v"] in PRIVATE_V and inner["to"] is None
        assert inner["from"].lower() == a.address.lower() and inner["nonce"] == pmt["nonce"]
        assert (inner["blockHash"], inner["transactionIndex"]) == (pmt["blockHash"], pmt["transactionIndex"])
        # the PMT's payload is the signed inner transaction; the inner one's is the init code
        carried = json.loads(bytes.fromhex(party.rpc("eth_getQuorumPayload", pmt["input"])[2:]))
        assert carried["hash"] == inner["hash"] and carried["input"] == inner["input"]
        assert party.rpc("eth_getQuorumPayload", inner["input"]) == hx(storage["payload"])
        receipt = party.rpc("eth_getPrivateTransactionReceipt", storage["pmt"])
        assert receipt["status"] == "0x1" and receipt["contractAddress"] == address
        assert receipt["transactionHash"] == storage["pmt"] and receipt["isPrivacyMarkerTransaction"] is False
        assert receipt["from"].lower() == a.address.lower() and receipt["to"] is None
        # eth_getTransactionReceipt of a PMT is the public receipt on a party too (GoQuorum)
        assert party.receipt(storage["pmt"]) == storage["receipts"][party.name]
        assert party.rpc("eth_getCode", address, "latest") == contract("SimpleStorage").deployed_bytecode
        assert party.rpc("eth_call", {"to": address, "data": hx(GET)}, "latest") == word(value)
        assert party.rpc("eth_getContractPrivacyMetadata", address)["creationTxHash"] == inner["input"]
        inners.append(inner)
    assert inners[0] == inners[1]

    for node in (c, d):
        check_non_party(node, pmt, address)
        for stored in node.stored_values():
            for secret in (storage["payload"], secret_bytes(value), bytes.fromhex(inners[0]["input"][2:])):
                assert secret not in stored, f"{node}: its database holds a secret"
    # the chain holds the PMT's hash only: not the payload, the value, the inner transaction or its hash
    assert_not_in_public_chain(net, [storage["payload"], secret_bytes(value), bytes.fromhex(inners[0]["input"][2:]),
                                     bytes.fromhex(inners[0]["hash"][2:])], [a, b])


def test_a_call_through_a_pmt_changes_the_parties_state_only(net: E2ENetwork, storage: dict[str, Any]) -> None:
    a, b, c, d = net.nodes
    address, old, new = storage["address"], storage["value"], random_value()
    pmt_hash = send_private(a, calldata("set(uint256)", new), [b.key], to=address)
    net.wait_receipts(pmt_hash)
    pmt = check_public_form(net, pmt_hash)
    for party in (a, b):
        receipt = party.rpc("eth_getPrivateTransactionReceipt", pmt_hash)
        assert receipt["status"] == "0x1" and receipt["to"].lower() == address.lower()
        logs = receipt["logs"]
        assert len(logs) == 1 and logs[0]["topics"] == [VALUE_CHANGED, word(int(a.address, 16))]
        assert logs[0]["data"] == "0x" + old.to_bytes(32, "big").hex() + new.to_bytes(32, "big").hex()
        assert party.rpc("eth_getStorageAt", address, "0x0", "latest") == word(new)
    assert a.rpc("eth_storageRoot", address) == b.rpc("eth_storageRoot", address)
    for node in (c, d):
        check_non_party(node, pmt, address)
    assert_not_in_public_chain(net, [secret_bytes(new)], [a, b])


async def _subscribe_logs(node: NodeHandle) -> Any:
    ws = await websockets.connect(node.rpc.url.replace("http://", "ws://", 1))
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["logs", {}]}))
    assert "result" in json.loads(await asyncio.wait_for(ws.recv(), 60))
    return ws


async def _logs_until(ws: Any, address: str) -> list[dict[str, Any]]:
    """Every log notified up to and including the first from `address` (logs come in block order)."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["address"].lower() != address.lower():
        seen.append(json.loads(await asyncio.wait_for(ws.recv(), 60))["params"]["result"])
    return seen


def test_a_partys_log_queries_return_the_inner_logs_under_the_pmt_and_a_non_partys_return_none(
        net: E2ENetwork, contract: Callable[[str], Artifact], storage: dict[str, Any]) -> None:
    """GoQuorum's eth_getLogs adds a PMT's private receipt: its logs carry the PMT's hash and place.
    The same holds for filters and log subscriptions; a non-party's node never has them."""
    a, b, c, d = net.nodes
    address, new = storage["address"], random_value()
    old = int(a.rpc("eth_call", {"to": address, "data": hx(GET)}, "latest"), 16)
    deployed = net.wait_receipts(send_public(a, init_code(contract("SimpleStorage").bytecode, ["uint256"], [1])))
    sentinel = deployed[a.name]["contractAddress"]  # a public contract: its log ends the subscriptions' wait
    assert deployed[a.name]["isPrivacyMarkerTransaction"] is False
    start = hex(net.wait_in_sync() + 1)
    filters = {n.name: n.rpc("eth_newFilter", {"address": address, "fromBlock": start}) for n in net.nodes}

    async def scenario() -> tuple[str, dict[str, list[dict[str, Any]]]]:
        sockets = {n.name: await _subscribe_logs(n) for n in (b, c)}
        try:
            pmt_hash = send_private(a, calldata("set(uint256)", new), [b.key], to=address)
            net.wait_receipts(pmt_hash)
            net.wait_receipts(send_public(a, calldata("set(uint256)", 2), to=sentinel))
            return pmt_hash, {name: await _logs_until(ws, sentinel) for name, ws in sockets.items()}
        finally:
            for ws in sockets.values():
                await ws.close()

    pmt_hash, notified = asyncio.run(scenario())
    pmt = check_public_form(net, pmt_hash)
    expected = {"address": address.lower(), "topics": [VALUE_CHANGED, word(int(a.address, 16))],
                "data": "0x" + old.to_bytes(32, "big").hex() + new.to_bytes(32, "big").hex(),
                "blockNumber": pmt["blockNumber"], "blockHash": pmt["blockHash"], "transactionHash": pmt_hash,
                "transactionIndex": pmt["transactionIndex"], "removed": False}
    queries = [{"fromBlock": pmt["blockNumber"], "toBlock": pmt["blockNumber"], "address": address},
               {"blockHash": pmt["blockHash"], "topics": [VALUE_CHANGED]},
               {"fromBlock": start, "address": [address], "topics": [None, word(int(a.address, 16))]}]

    shown = []
    for party in (a, b):
        logs = party.rpc("eth_getPrivateTransactionReceipt", pmt_hash)["logs"]
        assert len(logs) == 1, logs
        assert {**logs[0], "address": logs[0]["address"].lower(), "logIndex": None} == {**expected, "logIndex": None}
        for query in queries:
            assert party.rpc("eth_getLogs", query) == logs, (party, query)
        assert party.rpc("eth_getFilterChanges", filters[party.name]) == logs
        assert party.rpc("eth_getFilterLogs", filters[party.name]) == logs
        shown.append(logs)
    assert shown[0] == shown[1]
    assert [log for log in notified[b.name] if log["address"].lower() == address.lower()] == shown[0]

    for node in (c, d):
        for query in queries:
            assert node.rpc("eth_getLogs", query) == [], (node, query)
        assert node.rpc("eth_getFilterChanges", filters[node.name]) == []
        assert node.rpc("eth_getFilterLogs", filters[node.name]) == []
    assert not [log for log in notified[c.name] if log["transactionHash"] == pmt_hash]
    assert new.to_bytes(32, "big").hex() not in json.dumps(notified[c.name])
    for node in net.nodes:
        assert node.rpc("eth_uninstallFilter", filters[node.name]) is True


def test_forged_or_garbage_inner_transactions_do_not_run_nor_stall_the_chain(
        net: E2ENetwork, storage: dict[str, Any]) -> None:
    """A's account signs the PMTs, but one carries an inner transaction signed by B's account and one
    carries bytes that are no transaction: both are mined, neither runs, and the next PMT runs."""
    a, b, c, d = net.nodes
    address = storage["address"]
    before = a.rpc("eth_getStorageAt", address, "0x0", "latest")

    nonce = a.pending_nonce()
    inner_key = manager_send(a, calldata("set(uint256)", random_value()), [b.key])
    forged = sign_raw_private(b.private_key, nonce, 300_000, address, inner_key)  # B's account, A's PMT
    forged_hash = send_pmt(net, a, nonce, manager_send(a, geth_json(forged), [b.key]))
    garbage_hash = send_pmt(net, a, nonce + 1, manager_send(a, b"not a transaction", [b.key]))
    for tx_hash in (forged_hash, garbage_hash):
        check_public_form(net, tx_hash)

    for party in (a, b):
        log = party.log.read_text(errors="replace")
        assert f"privacy marker transaction {forged_hash}: the PMT and its inner private transaction have " \
               "different signers" in log, f"{party}: no log line for the forged PMT"
        assert f"privacy marker transaction {garbage_hash}: its payload is not a private transaction" in log
        # what the PMT carried is visible to its parties (as in GoQuorum), but it did not run
        shown = party.rpc("eth_getPrivateTransactionByHash", forged_hash)
        assert shown["from"].lower() == b.address.lower() and shown["hash"] == hx(keccak(forged))
        error = rpc_error(party, "eth_getPrivateTransactionReceipt", forged_hash)
        assert error["message"] == "could not find receipt for private transaction"
        assert party.rpc("eth_getPrivateTransactionByHash", garbage_hash) is None
        error = rpc_error(party, "eth_getPrivateTransactionReceipt", garbage_hash)
        assert error["message"] == "private transaction not found for this participant"
        assert party.rpc("eth_getStorageAt", address, "0x0", "latest") == before

    after = random_value()
    next_hash = send_private(a, calldata("set(uint256)", after), [b.key], to=address)
    net.wait_receipts(next_hash)
    for party in (a, b):
        assert party.rpc("eth_getStorageAt", address, "0x0", "latest") == word(after)
    head = net.wait_in_sync()
    assert len({n.rpc("eth_getBlockByNumber", hex(head), False)["hash"] for n in net.nodes}) == 1
    for node in (c, d):
        assert node.rpc("eth_getPrivateTransactionByHash", forged_hash) is None


def test_external_signing_distributes_the_inner_transaction_then_takes_a_raw_pmt(
        net: E2ENetwork, storage: dict[str, Any]) -> None:
    """GoQuorum's external-signing flow: /storeraw, sign the private marker, eth_distributePrivateTransaction
    (the inner transaction to the recipients; the PMT's data back), sign the PMT, eth_sendRawTransaction."""
    a, b, c, d = net.nodes
    address, value = storage["address"], random_value()
    stored = a.manager_post("/storeraw", {"payload": b64(calldata("set(uint256)", value)), "from": a.key})
    assert stored.status_code == 200, stored.text
    nonce = a.pending_nonce()
    inner = sign_raw_private(a.private_key, nonce, 300_000, address, base64.b64decode(stored.json()["key"]))

    error = rpc_error(a, "eth_distributePrivateTransaction", hx(inner), {})
    assert error["code"] == -32000 and error["message"] == "transaction is not private"
    pmt_data = a.rpc("eth_distributePrivateTransaction", hx(inner), {"privateFor": [b.key]})
    assert len(bytes.fromhex(pmt_data[2:])) == 64
    assert c.manager_transaction(bytes.fromhex(pmt_data[2:])).status_code == 404

    pmt_hash = send_pmt(net, a, nonce, bytes.fromhex(pmt_data[2:]))
    net.wait_receipts(pmt_hash)
    pmt = check_public_form(net, pmt_hash)
    for party in (a, b):
        assert party.rpc("eth_getPrivateTransactionByHash", pmt_hash)["hash"] == hx(keccak(inner))
        assert party.rpc("eth_getPrivateTransactionReceipt", pmt_hash)["status"] == "0x1"
        assert party.rpc("eth_getStorageAt", address, "0x0", "latest") == word(value)
    for node in (c, d):
        check_non_party(node, pmt, address)


def test_a_raw_private_transaction_still_goes_on_chain_as_a_private_marker(
        net: E2ENetwork, storage: dict[str, Any]) -> None:
    """GoQuorum's eth_sendRawPrivateTransaction submits the signed marker itself, PMTs or not."""
    a, b, c, _ = net.nodes
    address, value = storage["address"], random_value()
    stored = a.manager_post("/storeraw", {"payload": b64(calldata("set(uint256)", value)), "from": a.key})
    raw = sign_raw_private(a.private_key, a.pending_nonce(), 300_000, address, base64.b64decode(stored.json()["key"]))
    tx_hash = a.rpc("eth_sendRawPrivateTransaction", hx(raw), {"privateFor": [b.key]})
    net.wait_receipts(tx_hash)
    assert a.rpc("eth_getTransactionByHash", tx_hash)["v"] in PRIVATE_V
    assert all(n.receipt(tx_hash)["isPrivacyMarkerTransaction"] is False for n in (a, b, c))
    assert b.rpc("eth_getStorageAt", address, "0x0", "latest") == word(value)
    assert c.rpc("eth_getStorageAt", address, "0x0", "latest") == word(0)
    error = rpc_error(b, "eth_getPrivateTransactionReceipt", tx_hash)  # not a PMT: nothing behind it
    assert error["message"] == "private transaction not found for this participant"


def test_lookups_of_unknown_or_malformed_hashes_answer_as_goquorum(net: E2ENetwork) -> None:
    a = net.nodes[0]
    unknown = hx(keccak(b"no such transaction"))
    assert a.rpc("eth_getPrivateTransactionByHash", unknown) is None
    error = rpc_error(a, "eth_getPrivateTransactionReceipt", unknown)
    assert error["code"] == -32000 and error["message"] == "privacy marker transaction not found"
    for method in ("eth_getPrivateTransactionByHash", "eth_getPrivateTransactionReceipt"):
        assert rpc_error(a, method, "0x1234")["code"] == -32602
    try:
        a.rpc("eth_getPrivacyPrecompileAddress", "extra")
    except RpcError as exc:
        assert exc.code == -32602
    else:
        raise AssertionError("eth_getPrivacyPrecompileAddress took a parameter")
