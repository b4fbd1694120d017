"""Who called the P2P API: the client certificate, carried from the TLS connection to the app.

uvicorn verifies client certificates (CERT_REQUIRED with the network's CA) but does not
pass them to the application. `PeerIdentityProtocol` is the HTTP protocol uvicorn would
pick (httptools when installed, else h11) with one addition: when a connection is made
(for TLS, after the handshake) it reads the verified peer certificate and stores a
`PeerIdentity` (its URI SANs and the client address) in the connection's copy of the app
state, which uvicorn hands each request as `scope["state"]`: `request.state.peer_identity`.

`peer_identity(request)` reads it back; served by anything else (plain uvicorn, an ASGI
transport in tests) it falls back to the client address, as plain HTTP does.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from starlette.requests import Request
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from tessera_like.identity import PeerIdentity, uri_sans

STATE_KEY = "peer_identity"


def identity_of(transport: asyncio.BaseTransport) -> PeerIdentity:
    """The identity a connection proved: certificate URIs (verified TLS client) and address."""
    peer = transport.get_extra_info("peername")
    address = str(peer[0]) if isinstance(peer, tuple) and peer else None
    ssl_object = transport.get_extra_info("ssl_object")
    certificate = None
    if ssl_object is not None:
        try:
            certificate = ssl_object.getpeercert()
        except (ValueError, ssl.SSLError):
            certificate = None
    return PeerIdentity.of(uri_sans(certificate), address, certified=bool(certificate))


class PeerIdentityProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, recording each connection's `PeerIdentity` in its app state."""

    app_state: dict[str, Any]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # The state dict is shared by every connection: give this one its own copy.
        self.app_state = {**self.app_state, STATE_KEY: identity_of(transport)}


def peer_identity(request: Request) -> PeerIdentity:
    """The caller of a P2P request (see the module docstring)."""
    identity = getattr(request.state, STATE_KEY, None)
    if isinstance(identity, PeerIdentity):
        return identity
    return PeerIdentity.of(address=request.client.host if request.client else None)


__all__ = ["PeerIdentityProtocol", "identity_of", "peer_identity"]
