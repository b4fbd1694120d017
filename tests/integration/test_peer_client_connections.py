"""The P2P client's connections against a real server: kept alive between requests, replaced
after `keepalive_s` idle (the server keeps them longer, so none is reused while it closes), and
a clear PeerUnavailable when the peer refuses or never answers."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from tessera_like.errors import PeerUnavailable
from tessera_like.peer_client import HttpPeerClient
from tests.helpers.servers import free_port, serve_in_thread

pytestmark = pytest.mark.integration


class Recorder:
    """A peer that takes any commitment and records the caller's (address, port) per request."""

    def __init__(self) -> None:
        self.callers: list[tuple[str, int]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.callers.append(tuple(scope["client"]))  # type: ignore[arg-type]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"stored": true}'})


def test_connections_are_reused_while_fresh_and_replaced_once_idle_too_long() -> None:
    peer = Recorder()
    with serve_in_thread(peer) as url:
        client = HttpPeerClient(keepalive_s=0.3)
        try:
            client.post_commitment(url, {"n": 1})
            client.post_commitment(url, {"n": 2})
            time.sleep(0.6)
            client.post_commitment(url, {"n": 3})
        finally:
            client.close()
    first, second, after_idle = peer.callers
    assert first == second != after_idle


def test_a_refused_connection_and_a_silent_peer_are_peer_unavailable() -> None:
    client = HttpPeerClient(timeout=0.3, connect_timeout=0.3)
    refused = f"http://127.0.0.1:{free_port()}"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts into the backlog, never answers
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        try:
            with pytest.raises(PeerUnavailable, match="is unavailable: cannot connect"):
                client.push(refused, b"payload")
            with pytest.raises(PeerUnavailable, match="is unavailable: request timed out"):
                client.push(silent_url, b"payload")
        finally:
            client.close()
