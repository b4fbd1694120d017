"""JSON-RPC over WebSocket on the HTTP port (path `/`): every method, plus `eth_subscribe`.

Clients (web3.py's `WebSocketProvider`, ethers' `WebSocketProvider`) send ordinary calls and
subscriptions on one socket. Each text or binary message is one request or a batch, run by
the same dispatcher as HTTP (one worker-thread hop when it may wait on the node); answers
and notifications go out as text messages, in order, through one bounded outbox.

Note: memory per connection is bounded. A client reads its answers before the next request
is read (backpressure), and notifications never wait: when the outbox is full the client is
too slow and is disconnected (close code 1008), as geth drops a client that cannot keep up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from engine.errors import InvalidRequest
from engine.rpc.dispatch import Dispatcher
from engine.rpc.errors import ParseError, error_object, error_response
from engine.rpc.subscriptions import Connection, SubscriptionHub

CLOSE_TOO_SLOW = 1008
CLOSE_TIMEOUT_S = 5.0


class WebSocketEndpoint:
    """The WebSocket handler (`serve`) of one RPC app; `loads`/`dumps` are the HTTP path's codec."""

    def __init__(self, dispatcher: Dispatcher, hub: SubscriptionHub, *, loads: Callable[[bytes], Any],
                 dumps: Callable[[Any], bytes], max_message_bytes: int, max_subscriptions: int,
                 queue_size: int) -> None:
        self.dispatcher = dispatcher
        self.hub = hub
        self.loads = loads
        self.dumps = dumps
        self.max_message_bytes = max_message_bytes
        self.max_subscriptions = max_subscriptions
        self.queue_size = queue_size

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=self.queue_size)
        too_slow = asyncio.Event()

        def deliver(notification: dict[str, Any]) -> None:
            if too_slow.is_set():
                return
            try:
                outbox.put_nowait(self.dumps(notification))
            except asyncio.QueueFull:
                too_slow.set()

        connection = Connection(deliver, self.max_subscriptions)
        base = self.dispatcher
        dispatcher = Dispatcher({**base.methods, **connection.methods()}, base.context,
                                max_batch_size=base.max_batch_size)
        self.hub.attach(connection)
        tasks = [asyncio.create_task(self._read(websocket, dispatcher, connection, outbox)),
                 asyncio.create_task(self._write(websocket, outbox)),
                 asyncio.create_task(too_slow.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.hub.detach(connection)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if too_slow.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(CLOSE_TOO_SLOW, "too slow: notification queue full"),
                                       CLOSE_TIMEOUT_S)

    async def _read(self, websocket: WebSocket, dispatcher: Dispatcher, connection: Connection,
                    outbox: asyncio.Queue[bytes]) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            body = message.get("bytes")
            if body is None:
                body = (message.get("text") or "").encode()
            answer = await self._answer(dispatcher, body)
            if answer is not None:
                await outbox.put(answer)
            connection.activate()

    async def _answer(self, dispatcher: Dispatcher, body: bytes) -> bytes | None:
        if len(body) > self.max_message_bytes:
            error = InvalidRequest(f"invalid request: body larger than {self.max_message_bytes} bytes")
            return self.dumps(error_response(None, error))
        try:
            payload = self.loads(body)
        except ParseError as exc:
            return self.dumps(error_response(None, exc))
        if dispatcher.needs_thread(payload):
            result = await run_in_threadpool(dispatcher.handle, payload)
        else:
            result = dispatcher.handle(payload)
        if result is None:
            return None
        try:
            return self.dumps(result)
        except Exception as exc:  # noqa: BLE001 - a formatter bug; logged, never leaked
            return self.dumps({"jsonrpc": "2.0", "id": None, "error": error_object(exc, method="encoding")})

    @staticmethod
    async def _write(websocket: WebSocket, outbox: asyncio.Queue[bytes]) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.send_text((await outbox.get()).decode())
