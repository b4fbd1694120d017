"""App factories: the Q2T and P2P APIs are separate apps, served on separate servers.

Note: Tessera gives each API surface (its `AppType`) its own server and address so the
Q2T API can stay on loopback or a unix socket while P2P faces the network; so do we.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI

from tessera_like import __version__
from tessera_like.api.commitments import build_commitments_p2p_router, build_commitments_q2t_router
from tessera_like.api.errors import install_error_handlers
from tessera_like.api.hotpath import Handler, HotPathMiddleware, p2p_hot_routes, q2t_hot_routes
from tessera_like.api.p2p import build_p2p_router
from tessera_like.api.q2t import build_q2t_router
from tessera_like.api.q2t_auth import BearerTokenMiddleware
from tessera_like.api.snapshots import build_snapshots_q2t_router
from tessera_like.commitments import CommitmentService
from tessera_like.manager import DEFAULT_MAX_PAYLOAD_BYTES, TransactionManager
from tessera_like.peers import PeerNetwork
from tessera_like.snapshots import StoreSnapshots

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Room for base64 (4/3) plus JSON fields and recipient lists around the payload.
BODY_OVERHEAD_BYTES = 1024 * 1024


def request_body_limit(max_payload_bytes: int) -> int:
    """The largest request body accepted for a payload limit (base64 + envelope room)."""
    return (max_payload_bytes * 4) // 3 + 4 + BODY_OVERHEAD_BYTES


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with a JSON 413, before any endpoint runs.

    The body is read here (checking Content-Length first, then counting chunks) and
    replayed to the app; endpoints need the whole body anyway.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await self._reject(send, 413, self._too_large())
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body exceeds the limit of {self.max_bytes} bytes"

    @staticmethod
    async def _reject(send: Send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _base_app(title: str, description: str, max_payload_bytes: int, hot_routes: dict[tuple[str, str], Handler],
              docs: bool = True) -> FastAPI:
    app = FastAPI(title=title, version=__version__, description=description, docs_url="/docs" if docs else None,
                  redoc_url=None, openapi_url="/openapi.json" if docs else None)
    install_error_handlers(app)
    app.add_middleware(HotPathMiddleware, routes=hot_routes)  # added first: inside the body limit
    app.add_middleware(BodyLimitMiddleware, max_bytes=request_body_limit(max_payload_bytes))
    return app


def create_q2t_app(manager: TransactionManager, q2t_token: str | None = None,
                   commitments: CommitmentService | None = None,
                   snapshots: StoreSnapshots | None = None) -> FastAPI:
    """The node-facing API. Serve it on loopback or a unix socket only.

    With `q2t_token` (required on TCP) every request but /upcheck needs that bearer token.
    With `commitments`, the divergence-detection routes too (`api/commitments.py`).
    With `snapshots` (`dev_snapshots = true`), the development snapshot routes (`api/snapshots.py`).
    """
    app = _base_app("tessera_like Q2T API",
                    "Private transaction manager API for its own node (Tessera-compatible paths).",
                    manager.max_payload_bytes or DEFAULT_MAX_PAYLOAD_BYTES, q2t_hot_routes(manager))
    app.state.manager = manager
    app.include_router(build_q2t_router())
    if commitments is not None:
        app.state.commitments = commitments
        app.include_router(build_commitments_q2t_router())
    if snapshots is not None:
        app.state.snapshots = snapshots
        app.include_router(build_snapshots_q2t_router())
    if q2t_token is not None:  # added last, so outermost: runs before the body-limit middleware reads
        app.add_middleware(BearerTokenMiddleware, token=q2t_token)
    return app


def create_p2p_app(manager: TransactionManager, network: PeerNetwork,
                   commitments: CommitmentService | None = None) -> FastAPI:
    """The manager-to-manager API (party info, push, resend).

    No `/docs` or `/openapi.json` here: this port faces the network, and its schema is
    published in docs/manager-api.md instead.
    """
    app = _base_app("tessera_like P2P API", "Manager-to-manager API (Tessera-compatible paths).",
                    manager.max_payload_bytes or DEFAULT_MAX_PAYLOAD_BYTES, p2p_hot_routes(manager, network),
                    docs=False)
    app.state.manager = manager
    app.state.network = network
    app.include_router(build_p2p_router())
    if commitments is not None:
        app.state.commitments = commitments
        app.include_router(build_commitments_p2p_router())
    return app


__all__ = ["BodyLimitMiddleware", "create_p2p_app", "create_q2t_app", "request_body_limit"]
