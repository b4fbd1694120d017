"""JSON-RPC and eth_subscribe over WebSocket on the HTTP port: web3.py's WebSocketProvider as
a user drives it, a raw `websockets` client for the refusals and the limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from web3 import AsyncWeb3, Web3, WebSocketProvider

from engine.chain.node import Node
from engine.rpc.app import create_rpc_app
from tests.helpers.servers import serve_in_thread

RECIPIENT = "0x" + "22" * 20
TIMEOUT = 30


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1)


async def next_notification(w3: AsyncWeb3) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for message in w3.socket.process_subscriptions():
            return dict(message)
        raise AssertionError("subscription stream ended")

    return await asyncio.wait_for(first(), TIMEOUT)


async def in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def test_plain_calls_and_new_heads_over_web3_websocket(rpc_url: str, w3: Web3) -> None:
    async def scenario() -> None:
        async with AsyncWeb3(WebSocketProvider(ws_url(rpc_url))) as aw3:
            assert await aw3.eth.chain_id == 1337
            assert await aw3.eth.get_balance(w3.eth.accounts[0]) > 0
            sub_id = await aw3.eth.subscribe("newHeads")
            tx_hash = await in_thread(w3.eth.send_transaction, {"from": w3.eth.accounts[0], "to": RECIPIENT,
                                                                 "value": 1})
            receipt = await in_thread(w3.eth.wait_for_transaction_receipt, tx_hash)
            note = await next_notification(aw3)
            assert note["subscription"] == sub_id
            header = note["result"]
            assert header["number"] <= receipt.blockNumber and "transactions" not in header
            assert {"parentHash", "stateRoot", "receiptsRoot", "logsBloom", "hash"} <= set(header)
            assert await aw3.eth.unsubscribe(sub_id) is True

    asyncio.run(scenario())


def test_logs_subscription_filters_by_address(rpc_url: str, w3: Web3, storage: Any) -> None:
    async def scenario() -> None:
        async with AsyncWeb3(WebSocketProvider(ws_url(rpc_url))) as aw3:
            sub_id = await aw3.eth.subscribe("logs", {"address": storage.address})
            await aw3.eth.subscribe("logs", {"address": RECIPIENT})  # never matches
            await in_thread(lambda: w3.eth.wait_for_transaction_receipt(
                storage.functions.set(99).transact({"from": w3.eth.accounts[0]})))
            note = await next_notification(aw3)
            assert note["subscription"] == sub_id
            assert note["result"]["address"] == storage.address
            assert storage.events.ValueChanged().process_log(note["result"])["args"]["newValue"] == 99

    asyncio.run(scenario())


def test_new_pending_transactions_delivers_hashes(rpc_url: str, w3: Web3) -> None:
    async def scenario() -> None:
        async with AsyncWeb3(WebSocketProvider(ws_url(rpc_url))) as aw3:
            sub_id = await aw3.eth.subscribe("newPendingTransactions")
            tx_hash = await in_thread(w3.eth.send_transaction, {"from": w3.eth.accounts[4], "to": RECIPIENT,
                                                                 "value": 2})
            note = await next_notification(aw3)
            assert note["subscription"] == sub_id and note["result"] == tx_hash

    asyncio.run(scenario())


def test_subscribe_over_http_is_refused_as_geth_does(w3: Web3) -> None:
    answer = w3.provider.make_request("eth_subscribe", ["newHeads"])  # type: ignore[arg-type]
    assert answer["error"] == {"code": -32601, "message": "notifications not supported"}


# -- raw client: refusals, batches, limits ---------------------------------------------------


async def call(ws: Any, method: str, *params: Any, request_id: int = 1) -> dict[str, Any]:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}))
    return dict(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))


def test_subscription_refusals_and_batches(rpc_url: str) -> None:
    async def scenario() -> None:
        async with websockets.connect(ws_url(rpc_url)) as ws:
            unknown = await call(ws, "eth_subscribe", "syncing")
            assert unknown["error"] == {"code": -32601, "message": 'no "syncing" subscription in eth namespace'}
            gone = await call(ws, "eth_unsubscribe", "0x1234")
            assert gone["error"] == {"code": -32000, "message": "subscription not found"}
            bad = await call(ws, "eth_subscribe", "logs", {"address": "0x12"})
            assert bad["error"]["code"] == -32602 and "params[1].address" in bad["error"]["message"]
            assert (await call(ws, "eth_subscribe", "newHeads", {"x": 1}))["error"]["code"] == -32602
            await ws.send("{not json")
            assert json.loads(await ws.recv())["error"]["code"] == -32700
            await ws.send(json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                                      {"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["newHeads"]},
                                      {"jsonrpc": "2.0", "method": "eth_blockNumber"}]))
            answers = json.loads(await ws.recv())
            assert [a["id"] for a in answers] == [1, 2] and answers[0]["result"] == "0x539"
            assert answers[1]["result"].startswith("0x")

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def tight_url(node: Node) -> Iterator[str]:
    """A second RPC app on the same node with small WebSocket limits."""
    app = create_rpc_app(node, max_ws_subscriptions=2, ws_queue_size=4, max_body_bytes=1024)
    with serve_in_thread(app) as url:
        yield ws_url(url)


def test_per_connection_limits(tight_url: str) -> None:
    async def scenario() -> None:
        async with websockets.connect(tight_url) as ws:
            for i in range(2):
                assert "result" in await call(ws, "eth_subscribe", "newHeads", request_id=i)
            third = await call(ws, "eth_subscribe", "newHeads")
            assert third["error"] == {"code": -32000, "message": "too many subscriptions on this connection (max 2)"}
            big = await call(ws, "web3_sha3", "0x" + "00" * 1024)
            assert big["error"]["code"] == -32600 and big["id"] is None

    asyncio.run(scenario())


def test_a_client_that_does_not_read_its_notifications_is_disconnected(node: Node, tight_url: str) -> None:
    async def scenario() -> None:
        async with websockets.connect(tight_url, max_queue=None) as ws:
            assert "result" in await call(ws, "eth_subscribe", "newPendingTransactions")
            # A burst of pool admissions lands in one turn of the server's loop: more than the outbox holds.
            await in_thread(lambda: [listener(bytes([i]) * 32) for i in range(200) for listener in
                                     list(node.pool.listeners)])
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

    asyncio.run(scenario())
