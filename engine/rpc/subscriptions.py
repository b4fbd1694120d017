"""`eth_subscribe` / `eth_unsubscribe`: geth's `newHeads`, `logs` and `newPendingTransactions`
for WebSocket connections (the transport is `rpc/websocket.py`).

The node calls the hub from its own threads (a committed block, a transaction entering the
pool); the hub hands each event to the server's event loop, where every connection turns it
into notifications `{"jsonrpc": "2.0", "method": "eth_subscription", "params":
{"subscription": id, "result": ...}}`, one per header, log or hash, as geth sends them.

Note: log subscriptions read a new block's logs with `NodeAPI.get_logs`, the source of
`eth_getLogs` and filters, so a party's subscription gets the private logs of its private
transactions (privacy marker transactions' inner ones included, carrying the PMT's hash) and a
non-party's gets nothing for them: the node only has private logs for
transactions it is a party to. The query runs on a worker thread, one block at a time in
block order, once per distinct filter.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from engine.abc import NodeAPI
from engine.errors import EngineError, InvalidParams, MethodNotFound
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.dispatch import Method, Param
from engine.types import BlockView, Hash32, LogFilter, LogView

logger = logging.getLogger("engine.rpc")

KINDS = ("newHeads", "logs", "newPendingTransactions")
MSG_NOTIFICATIONS_UNSUPPORTED = "notifications not supported"  # geth's answer outside WebSocket
MSG_SUBSCRIPTION_NOT_FOUND = "subscription not found"
HEADER_ONLY_FIELDS = ("size", "uncles", "transactions", "withdrawals")


def header_json(block: BlockView) -> dict[str, Any]:
    """geth's `types.Header` JSON (a `newHeads` result): the block's fields without the body."""
    out = fmt.block(block, False)
    for key in HEADER_ONLY_FIELDS:
        out.pop(key, None)
    return out


@dataclass(frozen=True)
class Subscription:
    id: str
    kind: str
    query: p.LogQuery | None = None

    def wants_block(self, number: int) -> bool:
        """A `logs` subscription's numeric fromBlock/toBlock bound the new blocks it reports."""
        assert self.query is not None
        start, end = self.query.from_block, self.query.to_block
        return (not isinstance(start, int) or number >= start) and (not isinstance(end, int) or number <= end)


def _name(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise p.fail(name, "expected a subscription name string")
    return value


def _options(value: object, name: str) -> object:
    return value


class Connection:
    """The subscriptions of one WebSocket. `subscribe`/`unsubscribe` are thread-safe (a batch
    may run on a worker thread); `publish_*` and `activate` run on the event loop.

    A new subscription stays silent until `activate` (called once its id has been queued to
    the client), so the answer to `eth_subscribe` always comes before its first notification.
    """

    def __init__(self, deliver: Callable[[dict[str, Any]], None], max_subscriptions: int) -> None:
        self._deliver = deliver
        self.max_subscriptions = max_subscriptions
        self._subs: dict[str, Subscription] = {}
        self._active: dict[str, Subscription] = {}
        self._lock = threading.Lock()

    # -- JSON-RPC methods --------------------------------------------------------------
    def subscribe(self, kind: str, options: object) -> str:
        if kind == "logs":
            query = p.log_query({} if options is None else options, "params[1]")
            if query.block_hash is not None:
                raise p.fail("params[1].blockHash", "not supported by subscriptions")
            sub = Subscription("", kind, query)
        elif kind == "newHeads":
            if options is not None:
                raise InvalidParams("invalid params: newHeads takes no options")
            sub = Subscription("", kind)
        elif kind == "newPendingTransactions":
            if options not in (None, False):
                raise p.fail("params[1]", "only transaction hashes are delivered (fullTx must be false or absent)")
            sub = Subscription("", kind)
        else:
            raise MethodNotFound(f'no "{kind}" subscription in eth namespace')
        with self._lock:
            if len(self._subs) >= self.max_subscriptions:
                raise EngineError(f"too many subscriptions on this connection (max {self.max_subscriptions})")
            sub_id = "0x" + secrets.token_hex(16)
            self._subs[sub_id] = Subscription(sub_id, sub.kind, sub.query)
        return sub_id

    def unsubscribe(self, sub_id: str) -> bool:
        with self._lock:
            if self._subs.pop(sub_id, None) is None:
                raise EngineError(MSG_SUBSCRIPTION_NOT_FOUND)
            self._active.pop(sub_id, None)
        return True

    def methods(self) -> dict[str, Method]:
        return {
            "eth_subscribe": Method(lambda ctx, kind, options: self.subscribe(kind, options), (
                Param("subscriptionName", _name), Param("options", _options, required=False)), blocking=False),
            "eth_unsubscribe": Method(lambda ctx, sub_id: self.unsubscribe(sub_id),
                                      (Param("subscriptionId", _name),), blocking=False),
        }

    # -- the event loop side -----------------------------------------------------------
    def activate(self) -> None:
        with self._lock:
            self._active = dict(self._subs)

    def active(self, kind: str) -> list[Subscription]:
        return [s for s in self._active.values() if s.kind == kind]

    def notify(self, sub_id: str, result: Any) -> None:
        self._deliver({"jsonrpc": "2.0", "method": "eth_subscription",
                       "params": {"subscription": sub_id, "result": result}})

    def publish(self, kind: str, result: Any) -> None:
        for sub in self.active(kind):
            self.notify(sub.id, result)


class SubscriptionHub:
    """Routes the node's events to the connections of one RPC app (hooked in once, at creation)."""

    def __init__(self, node: NodeAPI) -> None:
        self.node = node
        self._connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._blocks: asyncio.Queue[int] | None = None
        self._pump: asyncio.Task[None] | None = None
        node.subscribe_new_blocks(self._on_block)
        node.subscribe_pending_transactions(self._on_pending)

    def attach(self, connection: Connection) -> None:
        """Called on the event loop when a WebSocket opens."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._blocks = loop, asyncio.Queue()
            self._pump = loop.create_task(self._pump_logs())
        self._connections.add(connection)

    def detach(self, connection: Connection) -> None:
        self._connections.discard(connection)

    # -- node threads ------------------------------------------------------------------
    def _post(self, callback: Callable[[Any], None], value: Any) -> None:
        loop = self._loop
        if loop is None or not self._connections:
            return
        try:
            loop.call_soon_threadsafe(callback, value)
        except RuntimeError:  # the server's loop has closed
            self._loop = None

    def _on_block(self, block: BlockView) -> None:
        self._post(self._block_arrived, block)

    def _on_pending(self, tx_hash: Hash32) -> None:
        self._post(self._pending_arrived, tx_hash)

    # -- the event loop ----------------------------------------------------------------
    def _block_arrived(self, block: BlockView) -> None:
        header = None
        wants_logs = False
        for connection in list(self._connections):
            if connection.active("newHeads"):
                header = header or header_json(block)
                connection.publish("newHeads", header)
            wants_logs = wants_logs or bool(connection.active("logs"))
        if wants_logs and self._blocks is not None:
            self._blocks.put_nowait(block.number)

    def _pending_arrived(self, tx_hash: Hash32) -> None:
        result = fmt.data(tx_hash)
        for connection in list(self._connections):
            connection.publish("newPendingTransactions", result)

    async def _pump_logs(self) -> None:
        assert self._blocks is not None
        while True:
            number = await self._blocks.get()
            wanted = [(c, s) for c in list(self._connections) for s in c.active("logs") if s.wants_block(number)]
            if not wanted:
                continue
            try:
                found = await run_in_threadpool(self._query, number, [s for _, s in wanted])
            except Exception:  # noqa: BLE001 - a failed read must not end every log subscription
                logger.exception("logs of block %d for subscriptions", number)
                continue
            for connection, sub in wanted:
                for entry in found[_key(sub)]:
                    connection.notify(sub.id, fmt.log(entry))

    def _query(self, number: int, subs: list[Subscription]) -> dict[tuple[Any, ...], list[LogView]]:
        found: dict[tuple[Any, ...], list[LogView]] = {}
        for sub in subs:
            key = _key(sub)
            if key not in found:
                assert sub.query is not None
                found[key] = self.node.get_logs(LogFilter(from_block=number, to_block=number,
                                                          addresses=sub.query.addresses, topics=sub.query.topics))
        return found


def _key(sub: Subscription) -> tuple[Any, ...]:
    assert sub.query is not None
    return (sub.query.addresses, sub.query.topics)


def refuse_notifications(ctx: object, *_: object) -> None:
    """eth_subscribe / eth_unsubscribe over HTTP, answered as geth does."""
    raise MethodNotFound(MSG_NOTIFICATIONS_UNSUPPORTED)


HTTP_METHODS: dict[str, Method] = {
    "eth_subscribe": Method(refuse_notifications, (Param("subscriptionName", _options, required=False),
                                                   Param("options", _options, required=False)), blocking=False),
    "eth_unsubscribe": Method(refuse_notifications, (Param("subscriptionId", _options, required=False),),
                              blocking=False),
}
