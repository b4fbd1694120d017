"""WebSocket subscriptions and GoQuorum's external signing (`eth_fillTransaction` with
`privateFor`) on the 4-node network: A = node1 sends, B = node2 is the party, C = node3 is not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import rlp
import websockets

from devnet.solc import Artifact
from tests.helpers.network import (
    E2ENetwork,
    NodeHandle,
    calldata,
    hx,
    init_code,
    send_private,
    send_public,
    sign_raw_private,
)
from tests.helpers.privacy import deploy_storage, random_value

pytestmark = pytest.mark.e2e

TIMEOUT = 60


def ws_url(node: NodeHandle) -> str:
    return node.rpc.url.replace("http://", "ws://", 1)


async def subscribe_logs(node: NodeHandle) -> Any:
    ws = await websockets.connect(ws_url(node))
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["logs", {}]}))
    assert "result" in json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return ws


async def logs_until(ws: Any, address: str) -> list[dict[str, Any]]:
    """Every log notified up to and including the first from `address` (logs come in block order)."""
    seen: list[dict[str, Any]] = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        seen.append(message["params"]["result"])
        if seen[-1]["address"].lower() == address.lower():
            return seen


def test_private_logs_reach_only_the_parties_subscriptions(net: E2ENetwork,
                                                           contract: Callable[[str], Artifact]) -> None:
    a, b, c, _ = net.nodes
    bytecode = contract("SimpleStorage").bytecode
    private = deploy_storage(net, bytecode, a, [b])
    public_hash = send_public(a, init_code(bytecode, ["uint256"], [1]))
    public = net.wait_receipts(public_hash)[a.name]["contractAddress"]
    value = random_value()

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        party, outsider = await subscribe_logs(b), await subscribe_logs(c)
        try:
            net.wait_receipts(send_private(a, calldata("set(uint256)", value), [b.key], to=private.contract))
            net.wait_receipts(send_public(a, calldata("set(uint256)", 2), to=public))  # a later public log
            return await logs_until(party, public), await logs_until(outsider, public)
        finally:
            await party.close()
            await outsider.close()

    party_logs, outsider_logs = asyncio.run(scenario())
    private_on_party = [log for log in party_logs if log["address"].lower() == private.contract.lower()]
    assert len(private_on_party) == 1 and hx(value.to_bytes(32, "big"))[2:] in private_on_party[0]["data"]
    assert not [log for log in outsider_logs if log["address"].lower() == private.contract.lower()]
    assert value.to_bytes(16, "big").hex() not in json.dumps(outsider_logs)


def test_fill_transaction_with_private_for_then_external_signing(net: E2ENetwork,
                                                                 contract: Callable[[str], Artifact]) -> None:
    """GoQuorum's flow: fill (payload stored with /storeraw), sign outside the node, send raw private."""
    a, b, c, _ = net.nodes
    private = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b])
    value = random_value()
    filled = a.rpc("eth_fillTransaction", {"from": a.address, "to": private.contract,
                                           "data": hx(calldata("set(uint256)", value)), "privateFor": [b.key]})
    tx = filled["tx"]
    assert tx["v"] == "0x25" and tx["gasPrice"] == "0x0" and len(bytes.fromhex(tx["input"][2:])) == 64
    nonce, gas_price, gas, to, _, payload_hash, v, r, s = rlp.decode(bytes.fromhex(filled["raw"][2:]))
    assert (v, r, s) == (b"\x25", b"", b"")
    raw = sign_raw_private(a.private_key, int.from_bytes(nonce, "big"), int.from_bytes(gas, "big"),
                           tx["to"], payload_hash)
    receipts = net.wait_receipts(a.rpc("eth_sendRawPrivateTransaction", hx(raw), {"privateFor": [b.key]}))
    assert receipts[b.name].get("isPrivate") and len(receipts[b.name]["logs"]) == 1
    assert not receipts[c.name]["logs"]
    get = hx(calldata("get()"))
    assert int(b.rpc("eth_call", {"to": private.contract, "data": get}), 16) == value
    assert c.rpc("eth_getCode", private.contract) == "0x"


def test_fill_transaction_with_private_for_refuses_value_and_empty_data(net: E2ENetwork) -> None:
    a, b, _, _ = net.nodes
    base = {"from": a.address, "to": b.address, "privateFor": [b.key]}
    with_value = a.rpc.raw("eth_fillTransaction", {**base, "data": "0x01", "value": "0x1"})
    assert with_value["error"] == {"code": -32000, "message": "ether value is not supported for private transactions"}
    assert a.rpc.raw("eth_fillTransaction", base)["error"]["code"] == -32000
