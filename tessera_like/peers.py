"""Gossip discovery and parallel pushes: this manager's side of the P2P protocol.

Discovery follows Tessera: start from the configured peer URLs, `POST /partyinfo` our view
to each, merge what they answer, and visit any new URL in the same round, until no new
peer appears. Rounds run on start, then periodically on a background thread, and once on
demand when `/send` names a key nobody is known to own. A peer that fails is marked down
and retried next round.

Trust rules (each closes an attack on the earlier code):
- A key is bound to a URL only when the manager we *contacted* at that URL proves it holds
  the private key (`crypto/proofs.py`): our request carries a random challenge and one of
  our public keys, the peer answers a proof per own key, bound to its own URL. The proof is
  checked against the URL we contacted, never the one the answer claims, so a relay at X
  cannot get node2's key bound to X. Over TLS, a server certificate carrying URI SANs must
  name the contacted URL too. Bindings only ever come from such proofs; a later proof at
  another URL moves the key.
- What a peer says about third parties is only a URL to visit. A URL that has not proven a
  key is sent party-info requests (its verification) and nothing else; one that fails
  verification is evicted (`partyinfo.PartyInfo` bounds the list).
- Pushes and resends are authorized here (`authorize_push`, `authorize_resend`) against
  the caller identity the P2P transport proved (`identity.PeerIdentity`).

Everything here works on domain values (`partyinfo.PartyView`); the wire form is parsed
and written at the edges (`wire.py`, used by `api/p2p.py` and `peer_client.py`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from tessera_like.abc import PeerNetworkAPI, ResendPage
from tessera_like.crypto.keys import encode_key
from tessera_like.crypto.proofs import check_ownership_proof, make_ownership_proof
from tessera_like.errors import InvalidRequest, PeerError, PeerNotAllowed, PeerUnavailable, UnknownRecipient
from tessera_like.identity import PeerIdentity
from tessera_like.partyinfo import MAX_PEERS, Challenge, KeyClaim, PartyInfo, PartyView
from tessera_like.peer_client import HttpPeerClient
from tessera_like.types import KeyPair, PayloadHash, PublicKey, normalize_url

log = logging.getLogger(__name__)

MAX_ROUND_HOPS = 8
CHALLENGE_SIZE = 32
#: A caller's URL is verified on demand at most this often (pushes naming unknown senders).
VERIFY_INTERVAL_S = 2.0
#: At most this many URLs are tried to verify one caller (IP identity: URLs on its address).
MAX_VERIFY_URLS = 4


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
        self._guard = threading.Lock()
        self._awaiting: Counter[tuple[str, PublicKey]] = Counter()
        self._verify_locks: dict[str, threading.Lock] = {}
        self._verified_at: dict[str, float] = {}

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
        visited: set[str] = set()
        frontier = self.party.peer_urls()
        for _ in range(MAX_ROUND_HOPS):
            batch = [u for u in frontier if u not in visited]
            if not batch or self._stop.is_set():
                return
            visited.update(batch)
            futures = [self._pool.submit(self._exchange, url) for url in batch]
            frontier = [url for future in futures for url in future.result()]

    def _exchange(self, url: str) -> list[str]:
        """One verification exchange with `url`; the new URLs it told us about.

        A URL that is unreachable, or answers without proving a key at that URL, is evicted
        unless configured or verified before.
        """
        keys = self.party.keys
        verifier = keys.require(keys.default_key())
        challenge = os.urandom(CHALLENGE_SIZE)
        request = replace(self.party.view(), challenge=Challenge(challenge, verifier.public))
        try:
            answer, server_urls = self.client.post_partyinfo(url, request)
        except Exception as exc:
            if not isinstance(exc, PeerError):
                log.exception("party info exchange with %s failed", url)
            self.party.mark_down(url)
            self.party.evict_unverified(url)
            return []
        self.party.mark_ok(url)
        new = self._merge_answer(url, answer, verifier, challenge, server_urls)
        if not self.party.is_verified(url):
            self.party.evict_unverified(url)
        return new

    def _merge_answer(self, contacted: str, answer: PartyView, verifier: KeyPair, challenge: bytes,
                      server_urls: frozenset[str] | None = None) -> list[str]:
        """Bind the keys proven at the contacted URL; return the new URLs the peer told us about.

        `server_urls`: the URI SANs of the server certificate seen (None without TLS). When
        present, the contacted URL must be one of them for any key to be bound.
        """
        contacted = normalize_url(contacted)
        certified = not server_urls or contacted in server_urls
        if not certified:
            log.warning("peer %s presented a certificate for %s; no key bound", contacted,
                        ", ".join(sorted(server_urls or ())))
        hints: list[str] = [answer.url]
        for claim in answer.keys:
            if claim.proof is None:
                hints.append(claim.url)  # a third party's key: only a URL to visit
            elif certified and check_ownership_proof(verifier, claim.key, challenge, contacted, claim.proof):
                self.party.set_key_url(claim.key, contacted)
            else:
                log.warning("peer %s claimed key %s without a valid proof for that URL; ignored", contacted,
                            encode_key(claim.key))
                hints.append(claim.url)  # maybe its owner answers there
        hints.extend(answer.peers)
        unique = [u for u in dict.fromkeys(normalize_url(url) for url in hints) if u != contacted]
        return [url for url in unique[:MAX_PEERS] if self.party.add_peer(url)]

    def verify_peer(self, url: str) -> None:
        """One verification exchange with `url` now, unless one ran in the last
        VERIFY_INTERVAL_S (callers for one URL share the exchange)."""
        url = normalize_url(url)
        if not self.party.may_contact(url):
            return
        with self._guard:
            if len(self._verify_locks) > 4 * MAX_PEERS:
                self._verify_locks.clear()
                self._verified_at.clear()
            lock = self._verify_locks.setdefault(url, threading.Lock())
        with lock:
            last = self._verified_at.get(url)
            if last is not None and time.monotonic() - last < VERIFY_INTERVAL_S:
                return
            try:
                self._exchange(url)
            finally:
                self._verified_at[url] = time.monotonic()

    def answer_partyinfo(self, request: PartyView, caller: PeerIdentity | None = None) -> PartyView:
        """Handle a peer's `POST /partyinfo`: note its URLs, answer our view with proofs.

        The URLs are only remembered to be verified later. The requester's own URL counts
        as introduced by its manager when the caller is at that URL.
        """
        introduced = caller is not None and caller.is_at(request.url)
        self.party.add_peer(request.url, introduced=introduced)
        hints = dict.fromkeys((*request.peers, *(claim.url for claim in request.keys)))
        for url in list(hints)[:MAX_PEERS]:
            self.party.add_peer(url)
        view = self.party.view()
        if request.challenge is None:
            return view
        return replace(view, keys=tuple(self._prove(claim, request.challenge) for claim in view.keys))

    def _prove(self, claim: KeyClaim, challenge: Challenge) -> KeyClaim:
        """`claim` with its ownership proof when the key is one of ours."""
        pair = self.party.keys.get(claim.key) if claim.url == self.party.own_url else None
        if pair is None:
            return claim
        try:
            proof = make_ownership_proof(pair, challenge.verifier, challenge.nonce, self.party.own_url)
        except ValueError:
            raise InvalidRequest("challengeKey is not a valid X25519 public key") from None
        return replace(claim, proof=proof)

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
        self._require_verified(url)
        try:
            self.client.push(url, encoded)
        except PeerUnavailable:
            self.party.mark_down(url)
            raise
        self.party.mark_ok(url)

    def _require_verified(self, url: str) -> None:
        if not self.party.is_verified(url):
            raise UnknownRecipient(f"{normalize_url(url)} has not proven a key: it is sent party info only")

    def request_resend_all(self, url: str, key: PublicKey) -> None:
        """Ask `url` to resend; while the request is outstanding, that peer may push back
        payloads that name `key` (ours) as their sender (sender recovery)."""
        self._require_verified(url)
        entry = (normalize_url(url), key)
        with self._guard:
            self._awaiting[entry] += 1
        try:
            self.client.resend_all(url, key)
        finally:
            with self._guard:
                self._awaiting[entry] -= 1
                if self._awaiting[entry] <= 0:
                    del self._awaiting[entry]

    def unverified_peer_urls(self) -> list[str]:
        verified = set(self.party.verified_peer_urls())
        return [url for url in self.party.peer_urls() if url not in verified]

    def fetch_resend_page(self, url: str, key: PublicKey, after: PayloadHash | None, limit: int) -> ResendPage:
        """One page of `key`'s payloads from `url`, a peer that proved a key at that URL."""
        self._require_verified(url)
        try:
            page = self.client.resend_page(url, key, after, limit)
        except PeerUnavailable:
            self.party.mark_down(url)
            raise
        self.party.mark_ok(url)
        return page

    def known_keys(self) -> dict[PublicKey, str]:
        return self.party.known_keys()

    def peer_urls(self) -> list[str]:
        """The peers that proved a key (the only ones asked to resend)."""
        return self.party.verified_peer_urls()

    def admits(self, caller: PeerIdentity) -> bool:
        return self.party.admits(caller)

    def authorize_push(self, sender: PublicKey, caller: PeerIdentity) -> None:
        """Refuse a push whose sender key the caller may not speak for.

        - Our own key as sender: only from this manager itself, or from a peer we have an
          outstanding resend-ALL request to for that key (sender recovery).
        - Another key, on an authenticated P2P API (client certificate or allow-list): the
          key must be bound to the caller (verified once with the caller's URL if unbound).
        """
        party = self.party
        if sender in party.keys:
            if caller.is_at(party.own_url) or self._awaits_resend(caller, sender):
                return
            raise PeerNotAllowed(f"the payload names this manager's key {encode_key(sender)} as its sender, but "
                                 f"the caller ({caller}) is neither this manager nor a peer it asked to resend")
        if not (caller.certified or party.allow_list is not None):
            return  # open P2P API (library use): nothing proves who pushed
        if not self._is_owner(caller, sender):
            raise PeerNotAllowed(f"sender key {encode_key(sender)} is not a key the caller ({caller}) proved to hold")

    def authorize_resend(self, key: PublicKey, caller: PeerIdentity) -> None:
        """Refuse to hand `key`'s copies to anyone but the verified owner of `key`."""
        if self._is_owner(caller, key):
            return
        if self.party.url_for(key) is None:
            raise UnknownRecipient(f"key {encode_key(key)} not found: no verified peer owns it")
        raise PeerNotAllowed(f"the caller ({caller}) is not the verified owner of key {encode_key(key)}")

    def _is_owner(self, caller: PeerIdentity, key: PublicKey) -> bool:
        """True when `key` is bound to the caller; an unbound key is verified once first."""
        url = self.party.url_for(key)
        if url is None:
            for candidate in self.party.urls_of(caller)[:MAX_VERIFY_URLS]:
                self.verify_peer(candidate)
            url = self.party.url_for(key)
        return url is not None and caller.is_at(url)

    def _awaits_resend(self, caller: PeerIdentity, key: PublicKey) -> bool:
        with self._guard:
            pending = [url for url, wanted in self._awaiting if wanted == key]
        return any(caller.is_at(url) for url in pending)

    def map_concurrently(self, fn: Callable[[str], None], urls: Sequence[str]) -> list[BaseException | None]:
        """Run `fn(url)` for each URL on the pool; the exceptions, in order (None = ok)."""
        futures = [self._pool.submit(fn, url) for url in urls]
        return [f.exception() for f in futures]


__all__ = ["PeerNetwork"]
