"""Party info: which manager owns which key, and the documents managers exchange about it.

`PartyInfo` is this manager's own, mutable view (thread-safe). `PartyView` is the immutable
value a `/partyinfo` exchange carries in either direction: the sender's URL, the keys it
knows with their URLs (and, in an answer to a challenge, ownership proofs for its own), the
peer URLs it knows, and in a request the challenge to prove ownership against. The wire form
of a `PartyView` lives only in `wire.py`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tessera_like.abc import KeyStoreAPI
from tessera_like.types import PublicKey, normalize_url

MAX_PEERS = 1024
MIN_CHALLENGE_SIZE = 16
MAX_CHALLENGE_SIZE = 64


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """One `keys` entry: the manager at `url` owns `key`; `proof` answers a challenge."""

    key: PublicKey
    url: str
    proof: bytes | None = None


@dataclass(frozen=True, slots=True)
class Challenge:
    """What a requester asks the owners of keys to prove against: random bytes (16 to 64)
    and the requester's public key."""

    nonce: bytes
    verifier: PublicKey


@dataclass(frozen=True, slots=True)
class PartyView:
    """A `/partyinfo` document as a domain value (request, answer or `GET` result)."""

    url: str
    keys: tuple[KeyClaim, ...] = ()
    peers: tuple[str, ...] = ()
    challenge: Challenge | None = None


@dataclass
class PeerState:
    """What we know about one peer URL."""

    url: str
    last_ok: float | None = None
    failures: int = 0

    @property
    def down(self) -> bool:
        return self.failures > 0


class PartyInfo:
    """This manager's view of the network: own keys, key → URL, peer URLs. Thread-safe."""

    def __init__(self, own_url: str, keys: KeyStoreAPI, peers: Sequence[str] = (),
                 allow_list: Sequence[str] | None = None) -> None:
        self.own_url = normalize_url(own_url)
        self.keys = keys
        self.allow_list = None if allow_list is None else {normalize_url(u) for u in allow_list}
        self._lock = threading.Lock()
        self._key_urls: dict[PublicKey, str] = {}
        self._peers: dict[str, PeerState] = {}
        for url in peers:
            self.add_peer(url)

    def add_peer(self, url: str) -> bool:
        """Remember a peer URL; True when it is new."""
        url = normalize_url(url)
        if not url or url == self.own_url or not url.startswith(("http://", "https://")):
            return False
        if self.allow_list is not None and url not in self.allow_list:
            return False
        with self._lock:
            if url in self._peers or len(self._peers) >= MAX_PEERS:
                return False
            self._peers[url] = PeerState(url)
            return True

    def peer_urls(self) -> list[str]:
        with self._lock:
            return list(self._peers)

    def peers(self) -> list[PeerState]:
        with self._lock:
            return [PeerState(p.url, p.last_ok, p.failures) for p in self._peers.values()]

    def mark_ok(self, url: str) -> None:
        with self._lock:
            state = self._peers.get(normalize_url(url))
            if state is not None:
                state.last_ok, state.failures = time.time(), 0

    def mark_down(self, url: str) -> None:
        with self._lock:
            state = self._peers.get(normalize_url(url))
            if state is not None:
                state.failures += 1

    def set_key_url(self, key: PublicKey, url: str) -> None:
        if key in self.keys:
            return  # our own keys are ours, whatever a peer claims
        with self._lock:
            self._key_urls[key] = normalize_url(url)

    def url_for(self, key: PublicKey) -> str | None:
        if key in self.keys:
            return self.own_url
        with self._lock:
            return self._key_urls.get(key)

    def known_keys(self) -> dict[PublicKey, str]:
        with self._lock:
            known = dict(self._key_urls)
        known.update({k: self.own_url for k in self.keys.public_keys()})
        return known

    def view(self) -> PartyView:
        """What `GET /partyinfo` shows: our URL, every key we know with its URL, our peers."""
        claims = tuple(KeyClaim(k, u) for k, u in self.known_keys().items())
        return PartyView(self.own_url, claims, tuple(self.peer_urls()))


__all__ = [
    "MAX_CHALLENGE_SIZE",
    "MAX_PEERS",
    "MIN_CHALLENGE_SIZE",
    "Challenge",
    "KeyClaim",
    "PartyInfo",
    "PartyView",
    "PeerState",
]
