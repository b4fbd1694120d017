"""Gossip discovery and parallel pushes: this manager's side of the P2P protocol.

Discovery follows Tessera: start from the configured peer URLs, `POST /partyinfo` our view
to each, merge what they answer, and visit any new URL in the same round, until no new
peer appears. Rounds run on start, then periodically on a background thread, and once on
demand when `/send` names a key nobody is known to own. A peer that fails is marked down
and retried next round.

Trust rule: a key is mapped to a URL only when the manager *at that URL* claims it in
answer to our request, and proves it holds the private key (`crypto/proofs.py`): our
request carries a random challenge and one of our public keys, the peer answers a proof per
own key. What a peer says about third parties is only used as a URL to visit.

Everything here works on domain values (`partyinfo.PartyView`); the wire form is parsed
and written at the edges (`wire.py`, used by `api/p2p.py` and `peer_client.py`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from tessera_like.abc import PeerNetworkAPI
from tessera_like.crypto.keys import encode_key
from tessera_like.crypto.proofs import check_ownership_proof, make_ownership_proof
from tessera_like.errors import InvalidRequest, PeerError, PeerUnavailable
from tessera_like.partyinfo import Challenge, KeyClaim, PartyInfo, PartyView
from tessera_like.peer_client import HttpPeerClient
from tessera_like.types import KeyPair, PublicKey, normalize_url

log = logging.getLogger(__name__)

MAX_ROUND_HOPS = 8
CHALLENGE_SIZE = 32


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
        challenge = os.urandom(CHALLENGE_SIZE)
        visited: set[str] = set()
        frontier = self.party.peer_urls()
        for _ in range(MAX_ROUND_HOPS):
            batch = [u for u in frontier if u not in visited]
            if not batch or self._stop.is_set():
                return
            visited.update(batch)
            request = replace(self.party.view(), challenge=Challenge(challenge, verifier.public))
            futures = {url: self._pool.submit(self.client.post_partyinfo, url, request) for url in batch}
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

    def _merge_answer(self, contacted: str, answer: PartyView, verifier: KeyPair, challenge: bytes) -> list[str]:
        """Take the peer's proven own keys; return the new URLs it told us about."""
        advertised = normalize_url(answer.url)
        hints: list[str] = []
        for claim in answer.keys:
            if normalize_url(claim.url) != advertised:
                hints.append(claim.url)  # a third party's key: only a URL to visit
            elif claim.proof is not None and check_ownership_proof(verifier, claim.key, challenge, advertised,
                                                                   claim.proof):
                self.party.set_key_url(claim.key, contacted)
            else:
                log.warning("peer %s claimed key %s without a valid proof; ignored", contacted,
                            encode_key(claim.key))
        hints.extend(answer.peers)
        return [normalize_url(url) for url in hints if self.party.add_peer(url)]

    def answer_partyinfo(self, request: PartyView) -> PartyView:
        """Handle a peer's `POST /partyinfo`: learn its URLs, answer our view with proofs."""
        for url in (request.url, *request.peers, *(claim.url for claim in request.keys)):
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
        try:
            self.client.push(url, encoded)
        except PeerUnavailable:
            self.party.mark_down(url)
            raise
        self.party.mark_ok(url)

    def request_resend_all(self, url: str, key: PublicKey) -> None:
        self.client.resend_all(url, key)

    def known_keys(self) -> dict[PublicKey, str]:
        return self.party.known_keys()

    def peer_urls(self) -> list[str]:
        return self.party.peer_urls()

    def map_concurrently(self, fn: Callable[[str], None], urls: Sequence[str]) -> list[BaseException | None]:
        """Run `fn(url)` for each URL on the pool; the exceptions, in order (None = ok)."""
        futures = [self._pool.submit(fn, url) for url in urls]
        return [f.exception() for f in futures]


__all__ = ["PeerNetwork"]
