"""Bearer-token authentication for the Q2T API when it listens on TCP.

Why: any local process can connect to a loopback port, and Q2T serves every payload in
plaintext and deletes payloads. On TCP each request must carry `Authorization: Bearer
<token>`; the check runs before the body is read (an unauthenticated client cannot make the
manager buffer megabytes). `/upcheck` stays open: GoQuorum-style nodes poll it before they
have anything to authenticate. On a unix socket this middleware is not installed: the
socket's 0600 mode is the authentication (GoQuorum's `tm.ipc`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from tessera_like.api.errors import error_response
from tessera_like.errors import Unauthorized

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths served without a token.
OPEN_PATHS = frozenset({"/upcheck"})


def bearer_token(scope: Scope) -> bytes | None:
    """The token of the request's first `Authorization: Bearer …` header, else None."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = bytes(value).strip().partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" and token.strip() else None
    return None


class BearerTokenMiddleware:
    """Answer 401 (JSON, `WWW-Authenticate: Bearer`) unless the request carries the token."""

    def __init__(self, app: ASGIApp, token: str, open_paths: Collection[str] = OPEN_PATHS) -> None:
        if not token:
            raise ValueError("an empty token would let every request in")
        self.app = app
        self._token = token.encode()
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = bearer_token(scope)
        if given is not None and hmac.compare_digest(given, self._token):
            await self.app(scope, receive, send)
            return
        if given is None:
            exc = Unauthorized("missing bearer token: the Q2T API over TCP needs "
                               "'Authorization: Bearer <token>' (the manager's q2t_token_file)")
            challenge = 'Bearer realm="q2t"'
        else:
            exc = Unauthorized("invalid bearer token")
            challenge = 'Bearer realm="q2t", error="invalid_token"'
        response = error_response(exc.http_status, exc.message)
        response.headers["WWW-Authenticate"] = challenge
        response.headers["Connection"] = "close"  # the unread body must not be parsed as a next request
        await response(scope, receive, send)


__all__ = ["OPEN_PATHS", "BearerTokenMiddleware", "bearer_token"]
