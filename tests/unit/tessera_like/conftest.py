"""Managers wired in one process: real keys, real SQLite stores, real encryption.

`postgres_url` / `postgres_server_factory` (tests/helpers/postgres.py) give the store tests a
real PostgreSQL database (the server starts once per session, on first use).

`InProcessNetwork` stands in only for the HTTP hop between managers (a process boundary):
it hands a push to the other manager's `push` and translates outcomes as the HTTP client
does (a duplicate counts as delivered, a "down" manager is unavailable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tessera_like.abc import PeerNetworkAPI
from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.crypto.keys import InMemoryKeyStore
from tessera_like.errors import DuplicatePayload, PeerRejected, PeerUnavailable, PrivacyViolation, PTMError
from tessera_like.manager import TransactionManager
from tessera_like.store.sql import SqlPayloadStore
from tessera_like.types import KeyPair, PublicKey
from tests.helpers.postgres import postgres_server_factory, postgres_url  # noqa: F401  (fixtures)

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of the manager package answers to `-k manager` (the issue's test command)."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.extra_keyword_matches.add("manager")


class InProcessNetwork(PeerNetworkAPI):
    def __init__(self, registry: dict[str, TransactionManager], own_url: str) -> None:
        self.registry = registry
        self.own_url = own_url
        self.down: set[str] = set()
        self.refreshes = 0
        self.known: dict[PublicKey, str] = {}

    def lookup(self, key: PublicKey) -> str | None:
        return self.known.get(key)

    def refresh(self) -> None:
        self.refreshes += 1
        for url, manager in self.registry.items():
            for key in manager.keys.public_keys():
                self.known[key] = url

    def _push(self, url: str, encoded: bytes) -> None:
        if url in self.down:
            raise PeerUnavailable(f"peer {url} is unavailable: cannot connect", url)
        try:
            self.registry[url].push(encoded)
        except DuplicatePayload:
            return
        except PTMError as exc:
            if exc.http_status == 403:
                raise PrivacyViolation(f"peer {url} refused: {exc.message}") from None
            raise PeerRejected(f"peer {url} refused: {exc.message}", url) from None

    def push_all(self, pushes: Sequence[tuple[str, bytes]]) -> None:
        errors = []
        for url, encoded in pushes:
            try:
                self._push(url, encoded)
            except PTMError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def request_resend_all(self, url: str, key: PublicKey) -> None:
        self.registry[url].resend_all(key)

    def known_keys(self) -> dict[PublicKey, str]:
        return dict(self.known)

    def peer_urls(self) -> list[str]:
        return [u for u in self.registry if u != self.own_url]


@pytest.fixture
def network_of(tmp_path: Path) -> Iterator[Callable[[int], list[TransactionManager]]]:
    """`network_of(4)` → managers A–D, each with one key pair and its own SQLite file."""
    stores: list[SqlPayloadStore] = []
    registry: dict[str, TransactionManager] = {}

    def build(count: int, keys_per_manager: int = 1, **kwargs: object) -> list[TransactionManager]:
        managers = []
        for _ in range(count):
            url = f"http://manager-{len(registry)}"
            store = SqlPayloadStore(f"sqlite:///{tmp_path / f'm{len(registry)}.db'}")
            stores.append(store)
            keys = InMemoryKeyStore([KeyPair.generate() for _ in range(keys_per_manager)])
            manager = TransactionManager(keys, store, X25519Encryptor(), InProcessNetwork(registry, url),
                                         **kwargs)  # type: ignore[arg-type]
            manager.url = url  # type: ignore[attr-defined]
            registry[url] = manager
            managers.append(manager)
        return managers

    yield build
    for store in stores:
        store.close()
