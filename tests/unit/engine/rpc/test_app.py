"""The HTTP layer in process: body limits, parse errors, notifications, health."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from engine.rpc.app import client_version, create_rpc_app

from .fakes import FakeNode


@pytest.fixture
def node() -> FakeNode:
    return FakeNode()


class Client:
    """Synchronous calls into the ASGI app in process (httpx's ASGI transport, one event loop per call)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://rpc") as client:
                response = await client.request(method, url, **kwargs)
                await response.aread()
                return response

        return anyio.run(go)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str) -> httpx.Response:
        return self.request("GET", url)


@pytest.fixture
def client(node):
    return Client(create_rpc_app(node, node, max_body_bytes=2048, max_batch_size=10))


def post(client, body, **kwargs):
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    return client.post("/", content=body, headers={"content-type": "application/json"}, **kwargs)


def test_single_request(client):
    response = post(client, {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == {"jsonrpc": "2.0", "id": 1, "result": "0x2"}


def test_batch_request(client):
    response = post(client, [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(3)]
                    + [{"jsonrpc": "2.0", "id": 9, "method": "eth_getBalance", "params": ["0x00"]}])
    body = response.json()
    assert [r["id"] for r in body] == [0, 1, 2, 9]
    assert body[3]["error"]["code"] == -32602


@pytest.mark.parametrize("body", [b"{", b"not json", b"", b"\xff\xfe", b'{"jsonrpc": "2.0", "id": 1,}', b"[1,]"])
def test_parse_error(client, body):
    response = post(client, body)
    assert response.status_code == 200
    assert response.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}


def test_non_json_content_type_with_non_json_body(client):
    response = client.post("/", content=b"a=1&b=2", headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.json()["error"]["code"] == -32700


def test_oversized_body_is_refused_and_server_stays_healthy(client, node):
    big = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x" + "ab" * 2000]}
    response = post(client, big)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32600 and response.json()["id"] is None
    assert "2048 bytes" in response.json()["error"]["message"]
    assert node.sent_raw == []
    assert post(client, {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"}).json()["result"] == "0x539"


def test_oversized_chunked_body_without_length_is_refused(client):
    async def chunks():
        for _ in range(10):
            yield b" " * 500

    response = client.post("/", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json()["error"]["code"] == -32600


def test_notifications_get_no_body(client, node):
    response = post(client, {"jsonrpc": "2.0", "method": "eth_sendRawTransaction", "params": ["0x01"]})
    assert response.status_code == 204 and response.content == b""
    assert node.sent_raw == [b"\x01"]
    assert post(client, [{"jsonrpc": "2.0", "method": "eth_chainId"}]).status_code == 204


def test_unexpected_error_leaks_nothing(client, node):
    node.fail_with = RuntimeError("sqlite file /data/secret.db is corrupt")
    response = post(client, {"jsonrpc": "2.0", "id": 4, "method": "eth_blockNumber"})
    assert response.status_code == 200
    assert response.json() == {"jsonrpc": "2.0", "id": 4, "error": {"code": -32603, "message": "internal error"}}
    assert "secret" not in response.text and "Traceback" not in response.text


def test_health_and_methods(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/").status_code == 405


def test_big_integer_id_is_echoed(client):
    response = post(client, b'{"jsonrpc": "2.0", "id": 18446744073709551615, "method": "eth_chainId"}')
    assert response.json()["id"] == 2**64 - 1


def test_client_version_names_the_product():
    assert client_version().startswith("privnet/v")


def test_public_surface():
    import engine.rpc

    assert engine.rpc.__all__ == ["create_rpc_app"]
    assert all(callable(getattr(engine.rpc, name)) for name in engine.rpc.__all__)
