"""The per-transaction endpoints, served beside the framework rather than through it.

Every private transaction costs its sender's manager one `POST /send` and each recipient's
manager one `POST /push`. Profiled under load, FastAPI's layers around them (exception and
exit-stack middlewares, route matching over every route, dependency solving) and anyio's
thread hand-off were about 40 % of a manager's CPU. This middleware answers exactly these
paths itself: the same parsing (`wire.parse_body`), checks (media type, allow-list, body
limit, which wraps it) and error mapping (`PTMError` -> its status, JSON `{"error"}`), and one
hop to a thread for the blocking work. Every other path goes on to the app; the app keeps the
same routes for its schema and for apps built without this middleware.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.requests import Request

from tessera_like.api.common import JSON, OCTET, require_media_type
from tessera_like.api.p2p import admitted_member
from tessera_like.api.peer_identity import peer_identity
from tessera_like.api.q2t import send_request, transaction_location
from tessera_like.errors import PTMError
from tessera_like.manager import TransactionManager
from tessera_like.peers import PeerNetwork
from tessera_like.wire import SendRequest, encode_b64, parse_body

log = logging.getLogger("tessera_like.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: (status, content type, body, extra headers)
Answer = tuple[int, str, bytes, list[tuple[bytes, bytes]]]
Handler = Callable[[Request, bytes], Awaitable[Answer]]

# Blocking work (crypto, SQL, pushes to peers) runs here: sized for a node's concurrent sends
# waiting on their recipients, as anyio's default limiter was.
WORKER_THREADS = 40


class HotPathMiddleware:
    """Answer the (method, path) pairs in `routes` directly; pass everything else to `app`."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.routes.get((scope.get("method", ""), scope.get("path", ""))) \
            if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away
        request = Request(scope, receive)
        try:
            status, content_type, content, headers = await handler(request, body)
        except PTMError as exc:
            if exc.http_status >= 500:
                log.warning("%s %s → %d: %s", scope["method"], scope["path"], exc.http_status, exc.message)
            status, content_type, content, headers = exc.http_status, JSON, _error(exc.message), []
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            status, content_type, content, headers = 500, JSON, _error("internal error"), []
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type.encode()),
                                (b"content-length", str(len(content)).encode()), *headers]})
        await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _in_thread(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    return asyncio.get_running_loop().run_in_executor(pool, fn, *args)


def q2t_hot_routes(manager: TransactionManager) -> dict[tuple[str, str], Handler]:
    pool = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="q2t-hot")

    async def send(request: Request, raw: bytes) -> Answer:
        require_media_type(request, JSON)
        body: SendRequest = parse_body(raw, SendRequest)
        key = await _in_thread(pool, send_request, manager, body)
        return 201, JSON, json.dumps({"key": key}, separators=(",", ":")).encode(), \
            [(b"location", transaction_location(key).encode())]

    return {("POST", "/send"): send}


def p2p_hot_routes(manager: TransactionManager, network: PeerNetwork) -> dict[tuple[str, str], Handler]:
    pool = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="p2p-hot")

    async def push(request: Request, raw: bytes) -> Answer:
        caller = await admitted_member(network, peer_identity(request))
        require_media_type(request, OCTET)
        tx_hash = await _in_thread(pool, manager.push, raw, caller)
        return 201, "text/plain; charset=utf-8", encode_b64(tx_hash).encode(), []

    return {("POST", "/push"): push}


__all__ = ["HotPathMiddleware", "p2p_hot_routes", "q2t_hot_routes"]
