"""The explorer's web server: the page, its static assets, a Server-Sent Events stream and a JSON view.

Routes: `GET /` (the page), `GET /static/...` (CSS and JS shipped in the package: no CDN),
`GET /events` (SSE: every current fragment, then each change), `GET /api/state` (the same as
JSON), `GET /health`. It reads the nodes only over their JSON-RPC URLs in network.json.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devnet.explorer.abi import AbiRegistry
from devnet.explorer.follower import NodeFollower
from devnet.explorer.render import render_index
from devnet.explorer.rpc import NodeRpc
from devnet.explorer.state import ExplorerState

STATIC = Path(__file__).resolve().parent / "static"
KEEPALIVE_S = 15.0
SECURITY_HEADERS = {
    # No inline script, no third-party anything: a payload that slipped through escaping could not run.
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items())]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(nodes: dict[str, str], registry: AbiRegistry, title: str = "privnet explorer",
               allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost", "::1")) -> Starlette:
    """`nodes`: node name → JSON-RPC URL, in column order."""
    state = ExplorerState(nodes)
    template = (STATIC / "index.html").read_text()

    async def index(_: Request) -> Response:
        return HTMLResponse(render_index(template, title, state.node_names))

    async def events(request: Request) -> Response:
        queue = state.hub.subscribe()
        current = list(state.events())

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                for event in current:
                    yield event.sse()
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    if event is None:
                        return
                    yield event.sse()
            finally:
                state.hub.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def api_state(_: Request) -> Response:
        return JSONResponse(state.as_json())

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "contracts": len(registry.contracts)})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        clients = {name: NodeRpc(url) for name, url in nodes.items()}
        tasks = [asyncio.create_task(NodeFollower(name, rpc, state, registry).run(), name=f"follow-{name}")
                 for name, rpc in clients.items()]
        try:
            yield
        finally:
            state.hub.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for rpc in clients.values():
                await rpc.close()

    hosts = ["*"] if any(h in ("0.0.0.0", "::", "*") for h in allowed_hosts) else list(allowed_hosts)
    return Starlette(
        routes=[Route("/", index), Route("/events", events), Route("/api/state", api_state),
                Route("/health", health), Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts), Middleware(_SecurityHeaders)],
        lifespan=lifespan,
    )
