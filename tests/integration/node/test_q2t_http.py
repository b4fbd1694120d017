"""The node's HTTP to its manager (engine/privacy/q2t_http.py) against real servers: a unix
socket and TCP loopback, keep-alive, the body, query and headers as sent, and a clear
TransportFailure when nothing listens."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.privacy import q2t_http
from engine.privacy.q2t_http import PooledHttp, TransportFailure
from tests.helpers.servers import free_port, serve_in_thread

pytestmark = pytest.mark.integration


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every request with what it received, and the caller's address."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    answer = json.dumps({"method": scope["method"], "path": scope["path"], "query": scope["query_string"].decode(),
                         "body": body.decode(), "contentType": headers.get("content-type"),
                         "authorization": headers.get("authorization"), "client": scope.get("client")}).encode()
    status = 503 if scope["path"] == "/down" else 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(params=["unix", "tcp"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    uds = str(tmp_path / "tm.ipc") if request.param == "unix" else None
    with serve_in_thread(echo, uds=uds) as base:
        yield base


def test_a_request_arrives_as_sent_and_its_answer_comes_back_whatever_the_status(url: str) -> None:
    http = PooledHttp(url, timeout_s=5, headers={"Authorization": "Bearer t0ken"})
    try:
        reply = http.request("POST", "/send?isRaw=true", b'{"payload":"AA=="}', "application/json")
        assert reply.status_code == 200
        seen = reply.json()
        assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/send", "isRaw=true")
        assert seen["body"] == '{"payload":"AA=="}' and seen["contentType"] == "application/json"
        assert seen["authorization"] == "Bearer t0ken"
        down = http.request("GET", "/down")
        assert down.status_code == 503 and down.json()["method"] == "GET"  # a 5xx is an answer, not a failure
    finally:
        http.close()


def test_connections_are_kept_alive_between_requests() -> None:
    with serve_in_thread(echo) as base:
        http = PooledHttp(base, timeout_s=5)
        try:
            callers = {tuple(http.request("GET", "/upcheck").json()["client"]) for _ in range(5)}
        finally:
            http.close()
    assert len(callers) == 1  # one source port: the same connection every time


def test_a_base_path_in_the_url_prefixes_every_request() -> None:
    with serve_in_thread(echo) as base:
        http = PooledHttp(base + "/tessera/", timeout_s=5)
        try:
            assert http.request("GET", "/upcheck").json()["path"] == "/tessera/upcheck"
        finally:
            http.close()


def test_nothing_listening_is_a_transport_failure_naming_the_cause(tmp_path: Path) -> None:
    for url in (f"unix://{tmp_path / 'nobody.ipc'}", f"http://127.0.0.1:{free_port()}"):
        http = PooledHttp(url, timeout_s=2)
        try:
            with pytest.raises(TransportFailure, match="(?i)connect|refused|no such file"):
                http.request("GET", "/upcheck")
        finally:
            http.close()


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = tmp_path / "silent.ipc"
    listener.bind(str(path))
    listener.listen(1)  # accepts into the backlog, never reads or answers
    http = PooledHttp(f"unix://{path}", timeout_s=0.3)
    try:
        with pytest.raises(TransportFailure, match="(?i)timed out"):
            http.request("GET", "/upcheck")
    finally:
        http.close()
        listener.close()


def test_a_connection_idle_past_the_limit_is_replaced_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server may be closing a long-idle connection just as a request goes out on it."""
    monkeypatch.setattr(q2t_http, "IDLE_S", 0.2)
    with serve_in_thread(echo) as base:
        http = PooledHttp(base, timeout_s=5)
        try:
            first = tuple(http.request("GET", "/upcheck").json()["client"])
            again = tuple(http.request("GET", "/upcheck").json()["client"])
            time.sleep(0.4)
            after_idle = tuple(http.request("GET", "/upcheck").json()["client"])
        finally:
            http.close()
    assert first == again != after_idle
