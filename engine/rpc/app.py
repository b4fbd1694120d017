"""The JSON-RPC HTTP server of a node: `create_rpc_app(node, privacy)`.

`POST /` takes one JSON-RPC request or a batch; `GET /health` answers liveness.

The request path is kept lean for the benchmark's stream of `eth_sendRawTransaction`: the
body is read once and decoded with orjson, no pydantic model runs per request, and the
whole body (one request or a batch) runs in one worker-thread hop, because a node call may
wait on a lock while a block is built. Requests made only of methods that never touch the
node (`eth_chainId`, `net_version`, ...) run on the event loop without the hop.
`POST /` is answered by a middleware ahead of the framework's routing, exception and
exit-stack layers, and the hop goes to a plain thread pool rather than through anyio: about
70 µs less per request (measured on the 2-core bench machine); other paths go on to the app.
"""

from __future__ import annotations

import asyncio
import json
import platform
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.abc import ContractExtensionAPI, NodeAPI, PrivateTransactionsAPI, StateCommitmentsAPI
from engine.errors import InvalidRequest
from engine.privacy.disabled import NoPrivateTransactions
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Dispatcher, Method
from engine.rpc.errors import ParseError, error_object, error_response
from engine.rpc.filters import FilterRegistry
from engine.rpc.jsonguard import json_depth_exceeds
from engine.rpc.methods import eth, extension, net, pmt, priv, privnet, raw, signing, web3
from engine.rpc.subscriptions import HTTP_METHODS as NOTIFICATION_METHODS
from engine.rpc.subscriptions import SubscriptionHub
from engine.rpc.websocket import WebSocketEndpoint

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
JSON = "application/json"
DRAIN_FACTOR = 4
#: Threads for node calls: as many as anyio's default limiter allowed, for requests that wait on
#: the chain lock or the manager.
WORKER_THREADS = 40

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def client_version() -> str:
    try:
        version = metadata.version("privnet")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    return f"privnet/v{version}/{sys.platform}-{platform.machine()}/python{platform.python_version()}"


def method_table(node: NodeAPI) -> dict[str, Method]:
    """Every method this node serves, by name."""
    table: dict[str, Method] = {}
    for module in (eth, net, web3, priv, signing, raw, pmt, extension, privnet):
        overlap = table.keys() & module.METHODS.keys()
        if overlap:
            raise RuntimeError(f"methods registered twice: {sorted(overlap)}")
        table.update(module.METHODS)
    table.update(NOTIFICATION_METHODS)  # refused over HTTP; a WebSocket connection serves them
    return table


def _dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits (e.g. an echoed id): the stdlib copes
        return json.dumps(body, separators=(",", ":")).encode()


def _has_float_id(payload: Any) -> bool:
    entries = payload if isinstance(payload, list) else (payload,)
    return any(isinstance(entry, dict) and isinstance(entry.get("id"), float) for entry in entries)


def _loads(body: bytes) -> Any:
    if json_depth_exceeds(body):  # before any parser recurses (see rpc/jsonguard.py)
        raise ParseError("parse error")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        if not _has_float_id(payload):
            return payload
    # The stdlib parser: orjson refuses a few inputs the JSON grammar allows (e.g. lone
    # surrogates), and reads an integer beyond 64 bits as a float, while an id must come
    # back exactly as sent (geth echoes it verbatim).
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ParseError("parse error") from None


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or _BodyTooLarge past `limit`. An oversized body is still read (and dropped)
    up to DRAIN_FACTOR × limit, so the answer reaches a client that is still sending and the
    connection stays usable; beyond that the server answers at once and the connection closes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit * DRAIN_FACTOR:
        raise _BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            if size > limit * DRAIN_FACTOR:
                raise _BodyTooLarge
            chunks.clear()
            continue
        chunks.append(chunk)
    if size > limit:
        raise _BodyTooLarge
    return b"".join(chunks)


class PostRootFirst:
    """Answer `POST /` (HTTP) with `handler` before routing; pass everything else to `app`."""

    def __init__(self, app: ASGIApp, handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/":
            response = await self.handler(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_rpc_app(node: NodeAPI, privacy: PrivateTransactionsAPI | None = None, *,
                   max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_batch_size: int = 1000,
                   max_log_block_range: int = 10_000, filter_idle_timeout: float = 300.0,
                   max_filters: int = 10_000, max_ws_subscriptions: int = 128,
                   ws_queue_size: int = 4096, extension: ContractExtensionAPI | None = None,
                   divergences: StateCommitmentsAPI | None = None) -> FastAPI:
    """The node's JSON-RPC app; `privacy` serves GoQuorum's private sends and reads (a node
    without a manager refuses them). Limits: body size, entries per batch, blocks per `eth_getLogs`,
    installed filters and their idle life.

    Note: an oversized body is answered with HTTP 200 and a -32600 error object, not 413:
    web3.py's HTTPProvider retries HTTP errors with back-off (five uploads of the same
    oversized body, ~2 s), while a JSON-RPC error reaches the caller at once.
    """
    filters = FilterRegistry(node, idle_timeout=filter_idle_timeout, max_filters=max_filters,
                             max_block_range=max_log_block_range)
    context = RpcContext(node=node, filters=filters, client_version=client_version(),
                         max_log_block_range=max_log_block_range, privacy=privacy or NoPrivateTransactions(),
                         extension=extension, divergences=divergences)
    dispatcher = Dispatcher(method_table(node), context, max_batch_size=max_batch_size)

    app = FastAPI(title="privnet JSON-RPC", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.dispatcher = dispatcher
    app.state.filters = filters

    pool = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="rpc")

    async def rpc(request: Request) -> Response:
        try:
            body = await _read_body(request, max_body_bytes)
        except _BodyTooLarge:
            error = InvalidRequest(f"invalid request: body larger than {max_body_bytes} bytes")
            return Response(_dumps(error_response(None, error)), media_type=JSON)
        try:
            payload = _loads(body)
        except ParseError as exc:
            return Response(_dumps(error_response(None, exc)), media_type=JSON)
        if dispatcher.needs_thread(payload):
            result = await asyncio.get_running_loop().run_in_executor(pool, dispatcher.handle, payload)
        else:
            result = dispatcher.handle(payload)
        if result is None:
            return Response(status_code=204)
        try:
            content = _dumps(result)
        except Exception as exc:  # noqa: BLE001 - a formatter bug; logged, never leaked
            content = _dumps({"jsonrpc": "2.0", "id": None, "error": error_object(exc, method="encoding")})
        return Response(content, media_type=JSON)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app.add_route("/", rpc, methods=["POST"])  # POST / is answered by the middleware; the route keeps GET / a 405
    app.add_middleware(PostRootFirst, handler=rpc)
    app.add_route("/health", health, methods=["GET"])
    # JSON-RPC and eth_subscribe over WebSocket on the same host, port and path (docs/jsonrpc.md).
    app.router.add_websocket_route("/", WebSocketEndpoint(
        dispatcher, SubscriptionHub(node), loads=_loads, dumps=_dumps, max_message_bytes=max_body_bytes,
        max_subscriptions=max_ws_subscriptions, queue_size=ws_queue_size).serve)
    return app
