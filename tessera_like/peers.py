"""Party info (which manager owns which key), gossip discovery and the P2P client.

Discovery follows Tessera: start from the configured peer URLs, `POST /partyinfo` our view
to each, merge what they answer, and visit any new URL in the same round, until no new
peer appears. Rounds run on start, then periodically on a background thread, and once on
demand when `/send` names a key nobody is known to own. A peer that fails is marked down
and retried next round.

Trust rule: a key is mapped to a URL only when the manager *at that URL* claims it in
answer to our request, and proves it holds the private key: our request carries a random
challenge and one of our public keys; the peer answers, per own key, HMAC-SHA256 over the
challenge and its URL under a key derived (X25519 + HKDF-SHA256) from its private key and
our public key. What a peer says about third parties is only used as a URL to visit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera_like.abc import KeyStoreAPI, PeerNetworkAPI
from tessera_like.crypto.keys import KeyPair, encode_key
from tessera_like.errors import (
    InvalidRequest,
    PeerError,
    PeerRejected,
    PeerUnavailable,
    PrivacyViolation,
)
from tessera_like.types import PUBLIC_KEY_SIZE, PublicKey

log = logging.getLogger(__name__)

PROOF_INFO = b"tessera_like/v1/partyinfo-proof"
MAX_PEERS = 1024
MAX_ROUND_HOPS = 8


def normalize_url(url: str) -> str:
    """Peer URLs are compared without a trailing slash."""
    return url.strip().rstrip("/")


def _proof_key(local: KeyPair, other: PublicKey, prover: PublicKey, verifier: PublicKey) -> bytes:
    shared = local.private.exchange(X25519PublicKey.from_public_bytes(other))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=PROOF_INFO + prover + verifier).derive(shared)


def make_ownership_proof(pair: KeyPair, verifier: PublicKey, challenge: bytes, url: str) -> bytes:
    """What a manager answers to prove it holds `pair` (see the module docstring)."""
    key = _proof_key(pair, verifier, pair.public, verifier)
    return hmac.new(key, challenge + normalize_url(url).encode(), hashlib.sha256).digest()


def check_ownership_proof(verifier: KeyPair, prover: PublicKey, challenge: bytes, url: str,
                          proof: bytes) -> bool:
    try:
        key = _proof_key(verifier, prover, prover, verifier.public)
    except ValueError:
        return False
    expected = hmac.new(key, challenge + normalize_url(url).encode(), hashlib.sha256).digest()
    return hmac.compare_digest(expected, proof)


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


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

    def to_json(self) -> dict[str, Any]:
        """The `{url, keys: [{key, url}], peers: [{url}]}` document of `GET /partyinfo`."""
        return {
            "url": self.own_url,
            "keys": [{"key": encode_key(k), "url": u} for k, u in self.known_keys().items()],
            "peers": [{"url": u} for u in self.peer_urls()],
        }


class HttpPeerClient:
    """P2P HTTP client shared by all pushes (keep-alive), optionally over TLS."""

    def __init__(self, timeout: float = 10.0, ca_file: str | None = None,
                 client_cert: tuple[str, str] | None = None, connect_timeout: float = 5.0) -> None:
        self.timeout = timeout
        verify: ssl.SSLContext | bool = True
        if ca_file or client_cert:
            context = ssl.create_default_context(cafile=ca_file)
            if client_cert:
                context.load_cert_chain(client_cert[0], client_cert[1])
            verify = context
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            verify=verify,
            limits=httpx.Limits(max_connections=128, max_keepalive_connections=32),
            headers={"user-agent": "tessera_like"},
        )

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise PeerUnavailable(f"peer {_origin(url)} is unavailable: request timed out", _origin(url)) from None
        except httpx.HTTPError:
            raise PeerUnavailable(f"peer {_origin(url)} is unavailable: cannot connect", _origin(url)) from None

    def _raise_for(self, response: httpx.Response, url: str, action: str) -> None:
        peer = _origin(url)
        if response.status_code >= 500:
            raise PeerUnavailable(f"peer {peer} failed to {action} (status {response.status_code})", peer)
        if response.status_code >= 400:
            reason = _error_text(response)
            if response.status_code == 403:
                raise PrivacyViolation(f"peer {peer} refused to {action}: {reason}")
            raise PeerRejected(f"peer {peer} refused to {action} (status {response.status_code}): {reason}", peer)

    def push(self, url: str, encoded: bytes) -> None:
        """Push one encoded payload; a 409 (already stored there) counts as success."""
        response = self._request("POST", f"{url}/push", content=encoded,
                                 headers={"content-type": "application/octet-stream"})
        if response.status_code in (200, 201, 409):
            return
        self._raise_for(response, url, "store the pushed payload")

    def post_partyinfo(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._request("POST", f"{url}/partyinfo", json=body)
        if response.status_code != 200:
            self._raise_for(response, url, "exchange party info")
            raise PeerRejected(f"peer {url} answered party info with status {response.status_code}", url)
        try:
            document = response.json()
        except ValueError:
            raise PeerRejected(f"peer {url} answered party info with invalid JSON", url) from None
        if not isinstance(document, dict):
            raise PeerRejected(f"peer {url} answered party info with a non-object", url)
        return document

    def resend(self, url: str, body: dict[str, Any]) -> httpx.Response:
        response = self._request("POST", f"{url}/resend", json=body)
        if response.status_code >= 400:
            self._raise_for(response, url, "resend")
        return response


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _error_text(response: httpx.Response) -> str:
    try:
        document = response.json()
        text = document.get("error") if isinstance(document, dict) else None
    except ValueError:
        text = None
    text = text if isinstance(text, str) else response.text
    return text[:300]


class PeerNetwork(PeerNetworkAPI):
    """Party info + gossip + parallel pushes. One per manager; start() after the P2P
    server listens, stop() before it shuts down."""

    def __init__(self, party: PartyInfo, client: HttpPeerClient, gossip_interval: float = 5.0,
                 max_workers: int = 16) -> None:
        self.party = party
        self.client = client
        self.gossip_interval = gossip_interval
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tessera-like-p2p")
        self._round_lock = threading.Lock()
        self._rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Start periodic gossip (the first round runs at once, on the thread)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tessera-like-gossip", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.client.timeout + 5)
            self._thread = None
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.gossip_round()
            except Exception:  # a bad round must not end discovery
                log.exception("gossip round failed")
            self._stop.wait(self.gossip_interval)

    # -- gossip -----------------------------------------------------------------------
    def gossip_round(self) -> None:
        """Exchange party info with every known peer, visiting new URLs as found.

        Runs one round at a time; a caller arriving during a round waits for it and then
        returns without starting another (what it wanted to learn was just refreshed).
        """
        rounds_seen = self._rounds
        with self._round_lock:
            if self._rounds != rounds_seen:
                return
            try:
                self._run_round()
            finally:
                self._rounds += 1

    def _run_round(self) -> None:
        keys = self.party.keys
        verifier = keys.require(keys.default_key())
        challenge = os.urandom(32)
        visited: set[str] = set()
        frontier = self.party.peer_urls()
        for _ in range(MAX_ROUND_HOPS):
            batch = [u for u in frontier if u not in visited]
            if not batch or self._stop.is_set():
                return
            visited.update(batch)
            body = self.party.to_json()
            body["challenge"] = base64.b64encode(challenge).decode()
            body["challengeKey"] = encode_key(verifier.public)
            futures = {url: self._pool.submit(self.client.post_partyinfo, url, body) for url in batch}
            frontier = []
            for url, future in futures.items():
                try:
                    answer = future.result()
                except PeerError:
                    self.party.mark_down(url)
                    continue
                except Exception:
                    log.exception("party info exchange with %s failed", url)
                    self.party.mark_down(url)
                    continue
                self.party.mark_ok(url)
                frontier.extend(self._merge_answer(url, answer, verifier, challenge))

    def _merge_answer(self, contacted: str, answer: dict[str, Any], verifier: KeyPair,
                      challenge: bytes) -> list[str]:
        """Take the peer's proven own keys; return the new URLs it told us about."""
        new_urls: list[str] = []
        advertised = answer.get("url")
        advertised = normalize_url(advertised) if isinstance(advertised, str) else contacted
        for entry in answer.get("keys") or []:
            if not isinstance(entry, dict):
                continue
            key, url = _b64(entry.get("key")), entry.get("url")
            if key is None or len(key) != PUBLIC_KEY_SIZE or not isinstance(url, str):
                continue
            if normalize_url(url) == advertised:
                proof = _b64(entry.get("proof"))
                if proof is not None and check_ownership_proof(verifier, PublicKey(key), challenge, advertised,
                                                               proof):
                    self.party.set_key_url(PublicKey(key), contacted)
                else:
                    log.warning("peer %s claimed key %s without a valid proof; ignored", contacted,
                                encode_key(key))
            elif self.party.add_peer(url):
                new_urls.append(normalize_url(url))
        for entry in answer.get("peers") or []:
            url = entry.get("url") if isinstance(entry, dict) else None
            if isinstance(url, str) and self.party.add_peer(url):
                new_urls.append(normalize_url(url))
        return new_urls

    def answer_partyinfo(self, body: dict[str, Any]) -> dict[str, Any]:
        """Handle a peer's `POST /partyinfo`: learn its URLs, answer our view with proofs."""
        sender_url = body.get("url")
        if isinstance(sender_url, str):
            self.party.add_peer(sender_url)
        for entry in body.get("peers") or []:
            if isinstance(entry, dict) and isinstance(entry.get("url"), str):
                self.party.add_peer(entry["url"])
        for entry in body.get("keys") or []:
            if isinstance(entry, dict) and isinstance(entry.get("url"), str):
                self.party.add_peer(entry["url"])
        answer = self.party.to_json()
        challenge, challenge_key = _b64(body.get("challenge")), _b64(body.get("challengeKey"))
        if challenge is not None or challenge_key is not None:
            if challenge is None or not 16 <= len(challenge) <= 64:
                raise InvalidRequest("challenge must be base64 of 16 to 64 bytes")
            if challenge_key is None or len(challenge_key) != PUBLIC_KEY_SIZE:
                raise InvalidRequest(f"challengeKey must be base64 of a {PUBLIC_KEY_SIZE}-byte key")
            keys = self.party.keys
            for entry in answer["keys"]:
                if entry["url"] != self.party.own_url:
                    continue
                pair = keys.get(PublicKey(base64.b64decode(entry["key"])))
                if pair is None:
                    continue
                try:
                    proof = make_ownership_proof(pair, PublicKey(challenge_key), challenge, self.party.own_url)
                except ValueError:
                    raise InvalidRequest("challengeKey is not a valid X25519 public key") from None
                entry["proof"] = base64.b64encode(proof).decode()
        return answer

    # -- PeerNetworkAPI ---------------------------------------------------------------
    def lookup(self, key: PublicKey) -> str | None:
        return self.party.url_for(key)

    def refresh(self) -> None:
        self.gossip_round()

    def push_all(self, pushes: Sequence[tuple[str, bytes]]) -> None:
        if not pushes:
            return
        if len(pushes) == 1:
            url, encoded = pushes[0]
            self._push_one(url, encoded)
            return
        futures = [self._pool.submit(self._push_one, url, encoded) for url, encoded in pushes]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def _push_one(self, url: str, encoded: bytes) -> None:
        try:
            self.client.push(url, encoded)
        except PeerUnavailable:
            self.party.mark_down(url)
            raise
        self.party.mark_ok(url)

    def request_resend_all(self, url: str, key: PublicKey) -> None:
        self.client.resend(url, {"type": "ALL", "publicKey": encode_key(key)})

    def known_keys(self) -> dict[PublicKey, str]:
        return self.party.known_keys()

    def peer_urls(self) -> list[str]:
        return self.party.peer_urls()

    def map_concurrently(self, fn: Callable[[str], None], urls: Sequence[str]) -> list[BaseException | None]:
        """Run `fn(url)` for each URL on the pool; the exceptions, in order (None = ok)."""
        futures = [self._pool.submit(fn, url) for url in urls]
        return [f.exception() for f in futures]


__all__ = [
    "HttpPeerClient",
    "PartyInfo",
    "PeerNetwork",
    "PeerState",
    "check_ownership_proof",
    "make_ownership_proof",
    "normalize_url",
]
