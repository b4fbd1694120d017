"""Q2T bearer-token authentication: the middleware (on a bare ASGI app and on the real Q2T app)
and the token file (created owner-only whatever the umask; loose, empty or odd files refused)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tessera_like.api.app import create_q2t_app
from tessera_like.api.q2t_auth import BearerTokenMiddleware
from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.crypto.keys import InMemoryKeyStore
from tessera_like.errors import ConfigError
from tessera_like.manager import TransactionManager
from tessera_like.store.sql import SqlPayloadStore
from tessera_like.tokenfile import load_or_create_token, q2t_token_for, read_token_file
from tessera_like.types import KeyPair
from tests.helpers.file_modes import mode, umask

TOKEN = "s3cret-token_value"


# -- the middleware on a bare ASGI app --------------------------------------------------------


class Recorder:
    """An inner app that reads the body and answers 200, noting that it ran."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(app: Any, path: str = "/send", headers: list[tuple[bytes, bytes]] | None = None,
         method: str = "POST") -> tuple[int, dict[bytes, bytes], bytes, int]:
    """Run one request through `app`; returns status, headers, body and how often the body was read."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b'{"payload": "AA=="}', "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body, reads


@pytest.mark.parametrize(("header", "challenge_error"), [
    (None, False),
    (b"Bearer wrong-token", True),
    (b"Basic " + base64.b64encode(b"user:" + TOKEN.encode()), False),
    (b"Bearer", False),
    (b"Bearer " + TOKEN.encode() + b"x", True),
])
def test_a_request_without_the_right_token_is_401_before_its_body_is_read(header: bytes | None,
                                                                          challenge_error: bool) -> None:
    inner = Recorder()
    app = BearerTokenMiddleware(inner, TOKEN)
    status, headers, body, reads = call(app, headers=[(b"authorization", header)] if header else [])
    assert status == 401 and not inner.called and reads == 0
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"www-authenticate"].startswith(b"Bearer")
    assert (b'error="invalid_token"' in headers[b"www-authenticate"]) is challenge_error
    message = json.loads(body)["error"]
    assert isinstance(message, str) and "token" in message and TOKEN not in message


@pytest.mark.parametrize("scheme", [b"Bearer", b"bearer", b"BEARER"])
def test_the_right_token_passes_and_the_app_reads_the_body(scheme: bytes) -> None:
    inner = Recorder()
    status, _, body, reads = call(BearerTokenMiddleware(inner, TOKEN),
                                  headers=[(b"authorization", scheme + b" " + TOKEN.encode())])
    assert (status, body, reads) == (200, b"ok", 1) and inner.called


def test_upcheck_stays_open() -> None:
    inner = Recorder()
    status, _, _, _ = call(BearerTokenMiddleware(inner, TOKEN), path="/upcheck", method="GET")
    assert status == 200 and inner.called


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="empty token"):
        BearerTokenMiddleware(Recorder(), "")


# -- the middleware on the real Q2T app --------------------------------------------------------


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[TransactionManager]:
    store = SqlPayloadStore(f"sqlite:///{tmp_path / 'manager.db'}")
    yield TransactionManager(InMemoryKeyStore([KeyPair.generate()]), store, X25519Encryptor(), max_payload_bytes=1024)
    store.close()


def request(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q2t") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_the_q2t_app_with_a_token(manager: TransactionManager) -> None:
    app = create_q2t_app(manager, q2t_token=TOKEN)
    payload = {"payload": base64.b64encode(b"hello").decode()}
    assert request(app, "GET", "/upcheck").text == "I'm up!"
    for path in ("/keys", "/version", "/openapi.json"):
        assert request(app, "GET", path).status_code == 401, path
    refused = request(app, "POST", "/send", json=payload)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert list(refused.json()) == ["error"] and "bearer token" in refused.json()["error"]
    assert manager.store.count() == 0
    # Checked before the size limit: an oversized unauthenticated body is a 401, not a 413.
    assert request(app, "POST", "/send", content=b"x" * 4_000_000,
                   headers={"content-type": "application/json"}).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    sent = request(app, "POST", "/send", json=payload, headers=auth)
    assert sent.status_code == 201, sent.text
    assert request(app, "DELETE", sent.headers["location"]).status_code == 401
    assert request(app, "GET", sent.headers["location"], headers=auth).status_code == 200


def test_the_q2t_app_without_a_token_is_open(manager: TransactionManager) -> None:
    """What a unix-socket manager serves: the socket's 0600 mode is the authentication."""
    assert request(create_q2t_app(manager), "GET", "/keys").status_code == 200


# -- the token file --------------------------------------------------------------------------


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    with umask(0o022):
        yield



@pytest.mark.usefixtures("permissive_umask")
def test_a_missing_token_file_is_created_0600_with_a_random_token(tmp_path: Path) -> None:
    path = tmp_path / "new" / "q2t.token"
    token = load_or_create_token(path)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert len(token) >= 40 and path.read_text().strip() == token
    assert load_or_create_token(path) == token  # read back on the next start
    assert load_or_create_token(tmp_path / "other.token") != token


def test_a_token_file_made_under_a_strict_umask_is_still_readable(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        token = load_or_create_token(tmp_path / "q2t.token")
    finally:
        os.umask(old)
    assert mode(tmp_path / "q2t.token") == 0o600 and read_token_file(tmp_path / "q2t.token") == token


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o620])
def test_a_token_file_others_can_access_is_refused(tmp_path: Path, loose: int) -> None:
    path = tmp_path / "q2t.token"
    path.write_text("abc\n")
    path.chmod(loose)
    with pytest.raises(ConfigError, match=f"permissions {loose:04o} .* too open.*chmod 600"):
        load_or_create_token(path)


@pytest.mark.parametrize(("content", "problem"), [("", "is empty"), ("  \n", "is empty"),
                                                  ("two words", "no spaces"), ("é", "ASCII")])
def test_an_unusable_token_file_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "q2t.token"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=problem):
        load_or_create_token(path)


def test_a_directory_is_not_a_token_file(tmp_path: Path) -> None:
    (tmp_path / "q2t.token").mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_or_create_token(tmp_path / "q2t.token")


def test_a_link_to_an_owner_only_file_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("linked-token\n")
    target.chmod(0o600)
    (tmp_path / "q2t.token").symlink_to(target)
    assert load_or_create_token(tmp_path / "q2t.token") == "linked-token"


def test_tcp_needs_a_token_file_and_a_socket_none(tmp_path: Path) -> None:
    keys = [KeyConfig(public_key_file=tmp_path / "k.pub", private_key_file=tmp_path / "k.key")]
    with pytest.raises(ConfigError, match="q2t_token_file: required when the Q2T API listens on TCP"):
        q2t_token_for(ManagerSettings(keys=keys))
    assert q2t_token_for(ManagerSettings(keys=keys, q2t_socket=tmp_path / "tm.ipc")) is None
    token = q2t_token_for(ManagerSettings(keys=keys, q2t_token_file=tmp_path / "t"))
    assert token == (tmp_path / "t").read_text().strip()


def test_the_token_file_is_relative_to_the_config(tmp_path: Path) -> None:
    from tessera_like.config import load_settings

    config = tmp_path / "manager.toml"
    config.write_text('q2t_token_file = "secrets/q2t.token"\n[[keys]]\npublic_key_file = "a"\nprivate_key_file = "b"\n')
    assert load_settings(config).q2t_token_file == tmp_path / "secrets" / "q2t.token"


# -- the payload store's SQLite file ---------------------------------------------------------


@pytest.mark.usefixtures("permissive_umask")
def test_the_manager_database_is_owner_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every payload this manager holds is in that file (and its WAL)."""
    db = tmp_path / "new" / "manager.db"
    store = SqlPayloadStore(f"sqlite:///{db}")
    try:
        store.put(os.urandom(64), b"payload")  # type: ignore[arg-type]
        files = sorted(db.parent.glob("manager.db*"))
        assert {"manager.db", "manager.db-wal", "manager.db-shm"} <= {f.name for f in files}
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(db.parent) == 0o700
    finally:
        store.close()
    db.chmod(0o644)
    with caplog.at_level(logging.INFO, logger="tessera_like.store"):
        SqlPayloadStore(f"sqlite:///{db}").close()
    assert mode(db) == 0o600 and "tightened" in caplog.text
