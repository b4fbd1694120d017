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
from dataclasses import dataclass, field, replace

from tessera_like.abc import KeyStoreAPI
from tessera_like.identity import PeerIdentity
from tessera_like.types import PublicKey, normalize_url

MAX_PEERS = 1024
MAX_UNVERIFIED_PEERS = 64
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
    """What we know about one peer URL.

    `configured`: from the settings, never evicted. `verified`: the manager there proved it
    holds a key (bound to this URL). `introduced`: the caller that told us the URL was
    itself the manager at that URL (not a third party's hint).
    """

    url: str
    last_ok: float | None = None
    failures: int = 0
    configured: bool = False
    verified: bool = False
    introduced: bool = False
    added: float = field(default_factory=time.monotonic)

    @property
    def down(self) -> bool:
        return self.failures > 0

    @property
    def evictable(self) -> bool:
        return not (self.configured or self.verified)


class PartyInfo:
    """This manager's view of the network: own keys, key → URL, peer URLs. Thread-safe.

    Trust rules kept here:
    - a key is bound to a URL only through `set_key_url`, which callers use only after a
      proof of possession verified at that URL (`peers.py`); the latest such proof wins;
    - the peer list is bounded: at most MAX_PEERS URLs, of which at most
      MAX_UNVERIFIED_PEERS not yet verified. Unverified peers are evicted (the unreachable
      first) to make room and after a failed verification; configured and verified peers
      never are. A URL introduced by its own manager may take the place of an unverified
      URL learned from a third party's gossip, so a flood cannot lock a newcomer out;
    - with the allow-list, an unlisted URL is never added (so never contacted).
    """

    def __init__(self, own_url: str, keys: KeyStoreAPI, peers: Sequence[str] = (),
                 allow_list: Sequence[str] | None = None) -> None:
        self.own_url = normalize_url(own_url)
        self.keys = keys
        self.allow_list = None if allow_list is None else {normalize_url(u) for u in allow_list}
        self._lock = threading.Lock()
        self._key_urls: dict[PublicKey, str] = {}
        self._peers: dict[str, PeerState] = {}
        for url in peers:
            self.add_peer(url, configured=True)

    # -- peers ------------------------------------------------------------------------
    def may_contact(self, url: str) -> bool:
        """True for a well-formed peer URL that is not ours and passes the allow-list."""
        url = normalize_url(url)
        if not url or url == self.own_url or not url.startswith(("http://", "https://")):
            return False
        return self.allow_list is None or url in self.allow_list

    def add_peer(self, url: str, *, introduced: bool = False, configured: bool = False) -> bool:
        """Remember a peer URL; True when it is new (added, possibly in an evicted one's place)."""
        url = normalize_url(url)
        if not self.may_contact(url):
            return False
        with self._lock:
            known = self._peers.get(url)
            if known is not None:
                known.introduced = known.introduced or introduced
                known.configured = known.configured or configured
                return False
            if not configured and not self._make_room(introduced):
                return False
            self._peers[url] = PeerState(url, configured=configured, introduced=introduced)
            return True

    def _make_room(self, introduced: bool, verified: bool = False) -> bool:
        """Evict one unverified peer if a new peer would not fit (lock held)."""
        unverified = [p for p in self._peers.values() if p.evictable]
        if len(self._peers) < MAX_PEERS and (verified or len(unverified) < MAX_UNVERIFIED_PEERS):
            return True
        victims = [p for p in unverified if p.down]
        if not victims and introduced:
            victims = [p for p in unverified if not p.introduced]
        if not victims:
            return False
        del self._peers[min(victims, key=lambda p: p.added).url]
        return True

    def evict_unverified(self, url: str) -> bool:
        """Forget `url` unless it is configured or verified; True when it was removed."""
        with self._lock:
            state = self._peers.get(normalize_url(url))
            if state is None or not state.evictable:
                return False
            del self._peers[state.url]
            return True

    def peer_urls(self) -> list[str]:
        """Every peer URL (verification targets), verified or not."""
        with self._lock:
            return list(self._peers)

    def verified_peer_urls(self) -> list[str]:
        """The peers that proved a key at their URL: the only ones sent anything but party info."""
        with self._lock:
            return [p.url for p in self._peers.values() if p.verified]

    def is_verified(self, url: str) -> bool:
        url = normalize_url(url)
        with self._lock:
            state = self._peers.get(url)
            return (state is not None and state.verified) or url in self._key_urls.values()

    def peers(self) -> list[PeerState]:
        with self._lock:
            return [replace(p) for p in self._peers.values()]

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

    # -- keys -------------------------------------------------------------------------
    def set_key_url(self, key: PublicKey, url: str) -> None:
        """Bind `key` to `url`. Only after a proof of possession verified at `url`."""
        if key in self.keys:
            return  # our own keys are ours, whatever a peer claims
        url = normalize_url(url)
        with self._lock:
            self._key_urls[key] = url
            state = self._peers.get(url)
            if state is None and self.may_contact(url) and self._make_room(True, verified=True):
                state = self._peers[url] = PeerState(url)
            if state is not None:
                state.verified = True

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

    # -- identities -------------------------------------------------------------------
    def admits(self, caller: PeerIdentity) -> bool:
        """With the allow-list on: True when the caller is a listed manager or this one."""
        if self.allow_list is None:
            return True
        return any(caller.is_at(url) for url in (*self.allow_list, self.own_url))

    def urls_of(self, caller: PeerIdentity) -> list[str]:
        """The peer URLs the caller may be (to verify it): its certificate URIs, or the
        known and allowed URLs on its address."""
        if caller.urls:
            return [u for u in sorted(caller.urls) if self.may_contact(u)]
        candidates = dict.fromkeys([*self.peer_urls(), *sorted(self.allow_list or ())])
        return [u for u in candidates if self.may_contact(u) and caller.is_at(u)]

    def view(self) -> PartyView:
        """What `GET /partyinfo` shows: our URL, every key we know with its URL, and the
        peers worth passing on (configured, verified, or introduced by their own manager;
        not URLs merely heard from third parties)."""
        claims = tuple(KeyClaim(k, u) for k, u in self.known_keys().items())
        with self._lock:
            peers = tuple(p.url for p in self._peers.values() if p.configured or p.verified or p.introduced)
        return PartyView(self.own_url, claims, peers)


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
