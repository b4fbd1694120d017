"""The node's manager client against the real manager Q2T app, in process (no sockets).

A real `TransactionManager` (keys, SQLite store, encryption) behind `create_q2t_app` is
driven through `InProcessTransport`, so every request goes through the client's own code:
paths, JSON bodies, base64, status handling and bounded retries.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import anyio.from_thread
import httpx
import pytest
from fastapi import FastAPI

from engine.errors import PrivacyManagerUnauthorized, PrivacyManagerUnavailable
from engine.privacy.client import HttpPrivacyManagerClient
from engine.types import PayloadHash, PrivacyFlag, PtmPublicKey
from tessera_like.api.app import create_q2t_app
from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.crypto.keys import InMemoryKeyStore
from tessera_like.manager import TransactionManager
from tessera_like.store.sql import SqlPayloadStore
from tessera_like.types import KeyPair

RETRIES = 2


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport into an ASGI app: httpx's ASGITransport is async-only, so its
    calls run on an event loop thread of their own (an anyio blocking portal). An exception
    that escapes the app is a 500, as a server answers it."""

    def __init__(self, app: FastAPI) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._portal_context = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_context.__enter__()
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")

        async def call() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(call)

    def close(self) -> None:
        self._portal_context.__exit__(None, None, None)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[TransactionManager]:
    """A manager holding two keys: a sender and a recipient (no peers needed)."""
    store = SqlPayloadStore(f"sqlite:///{tmp_path / 'manager.db'}")
    yield TransactionManager(InMemoryKeyStore([KeyPair.generate(), KeyPair.generate()]), store, X25519Encryptor())
    store.close()


@pytest.fixture
def transport(manager: TransactionManager) -> InProcessTransport:
    return InProcessTransport(create_q2t_app(manager))


@pytest.fixture
def client(transport: InProcessTransport) -> Iterator[HttpPrivacyManagerClient]:
    client = HttpPrivacyManagerClient("http://manager", retries=RETRIES, retry_delay_s=0.01, transport=transport)
    yield client
    client.close()


def keys_of(manager: TransactionManager) -> list[PtmPublicKey]:
    return [PtmPublicKey(base64.b64encode(k).decode()) for k in manager.keys.public_keys()]


def test_upcheck(client: HttpPrivacyManagerClient) -> None:
    assert client.upcheck()


def test_public_keys_are_the_managers_own(client: HttpPrivacyManagerClient, manager: TransactionManager) -> None:
    assert client.public_keys() == keys_of(manager)


def test_send_then_receive_round_trips_payload_and_privacy_fields(client: HttpPrivacyManagerClient,
                                                                  manager: TransactionManager) -> None:
    sender, recipient = keys_of(manager)
    payload = os.urandom(200)
    tx_hash = client.send(payload, sender, (recipient,), PrivacyFlag.MANDATORY_RECIPIENTS,
                          exec_hash=b"exec", mandatory_recipients=(recipient,))
    assert len(tx_hash) == 64
    received = client.receive(tx_hash)
    assert received is not None
    assert received.payload == payload
    assert received.privacy_flag is PrivacyFlag.MANDATORY_RECIPIENTS
    assert received.mandatory_recipients == (recipient,)
    assert received.exec_hash == b"exec"
    assert received.affected_contract_transactions == ()


def test_receive_of_an_unknown_hash_is_none(client: HttpPrivacyManagerClient) -> None:
    """404 means "not a party": an ordinary answer, not an error."""
    assert client.receive(PayloadHash(os.urandom(64))) is None


def test_receive_many_mixes_known_and_unknown(client: HttpPrivacyManagerClient, manager: TransactionManager,
                                             transport: InProcessTransport) -> None:
    sender, recipient = keys_of(manager)
    known = [client.send(f"tx {i}".encode(), sender, (recipient,)) for i in range(3)]
    unknown = [PayloadHash(os.urandom(64)) for _ in range(2)]
    transport.requests.clear()
    result = client.receive_many([known[0], unknown[0], known[1], unknown[1], known[2]])
    assert transport.requests == ["POST /transactions/receive"]  # one round trip
    assert set(result) == {bytes(h) for h in known + unknown}
    assert [result[bytes(h)].payload for h in known] == [b"tx 0", b"tx 1", b"tx 2"]  # type: ignore[union-attr]
    assert all(result[bytes(h)] is None for h in unknown)


def test_store_raw_then_send_signed_keeps_the_key(client: HttpPrivacyManagerClient,
                                                 manager: TransactionManager) -> None:
    sender, recipient = keys_of(manager)
    raw_hash = client.store_raw(b"signed later", sender)
    assert client.send_signed(raw_hash, (recipient,), PrivacyFlag.PARTY_PROTECTION) == raw_hash
    received = client.receive(raw_hash)
    assert received is not None
    assert received.payload == b"signed later"
    assert received.privacy_flag is PrivacyFlag.PARTY_PROTECTION


def test_a_failing_manager_is_unavailable_after_bounded_retries_never_not_a_party(
        client: HttpPrivacyManagerClient, manager: TransactionManager, transport: InProcessTransport) -> None:
    sender, recipient = keys_of(manager)
    tx_hash = client.send(b"payload", sender, (recipient,))
    assert client.receive(tx_hash) is not None
    manager.store.close()  # every read now fails: the manager answers 5xx
    transport.requests.clear()
    with pytest.raises(PrivacyManagerUnavailable, match=r"5\d\d status"):
        client.receive(tx_hash)
    assert len(transport.requests) == 1 + RETRIES
    with pytest.raises(PrivacyManagerUnavailable, match=r"5\d\d status"):
        client.receive(PayloadHash(os.urandom(64)))
    with pytest.raises(PrivacyManagerUnavailable, match=r"5\d\d status"):
        client.receive_many([tx_hash])


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_a_token_protected_manager_refuses_at_once_with_a_clear_error(manager: TransactionManager,
                                                                      token: str | None) -> None:
    """A 401 is a configuration fault: raised on the first answer (no retries), naming the setting;
    still a PrivacyManagerUnavailable, so block import halts rather than skip the payload."""
    transport = InProcessTransport(create_q2t_app(manager, q2t_token="the-token"))
    client = HttpPrivacyManagerClient("http://manager", retries=RETRIES, retry_delay_s=0.01, transport=transport,
                                      token=token)
    try:
        assert client.upcheck()  # open: polled before anything is authenticated
        sender, recipient = keys_of(manager)
        for attempt in (lambda: client.send(b"payload", sender, (recipient,)),
                        lambda: client.receive(PayloadHash(os.urandom(64))),
                        lambda: client.receive_many([PayloadHash(os.urandom(64))]),
                        client.public_keys):
            transport.requests.clear()
            with pytest.raises(PrivacyManagerUnauthorized, match="401 status.*privacy.q2t_token_file") as info:
                attempt()
            assert isinstance(info.value, PrivacyManagerUnavailable)
            assert len(transport.requests) == 1
    finally:
        client.close()
        transport.close()


def test_the_client_sends_its_token_on_every_request(manager: TransactionManager) -> None:
    transport = InProcessTransport(create_q2t_app(manager, q2t_token="the-token"))
    client = HttpPrivacyManagerClient("http://manager", retries=0, transport=transport, token="the-token")
    try:
        sender, recipient = keys_of(manager)
        tx_hash = client.send(b"with a token", sender, (recipient,))
        received = client.receive(tx_hash)
        assert received is not None and received.payload == b"with a token"
        assert client.receive_many([tx_hash])[bytes(tx_hash)] is not None
        assert set(client.public_keys()) == {sender, recipient}
    finally:
        client.close()
        transport.close()
