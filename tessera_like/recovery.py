"""Recovery of a manager's store from its peers: on demand, paged, idempotent.

A manager that lost its store (or part of it) is asked by its operator to recover (Q2T
`POST /recover`, which only its own node and operator reach: a 0600 unix socket, or TCP with
the bearer token). Nothing of this runs when a manager starts. For each key it holds and each
peer that proved a key (`PeerNetworkAPI.peer_urls`), it asks the peer's P2P `POST /resend/page`
for the payloads that key can open, one page at a time, following the peer's cursor, and
stores each under the rules of a push (PROTOCOL.md §8, §10):

- The peer answers only the verified owner of the key (`PeerNetwork.authorize_resend`, checked
  before its store is read), so no other member can page through another key's payloads.
- A payload is taken from a peer only when its sender key is one held here (sender recovery:
  the peer holds the box it received from us) or a key that peer proved to hold: a payload
  names its sender, and only the sender's manager vouches for that (as `authorize_push`).
- Then exactly what `/push` checks (`TransactionManager.push`): a box for a key held here or
  our own key as sender, every box we can open opens, the enhanced-privacy checks.
- A payload already held counts as such; one that brings boxes the stored copy lacks is
  merged (a sender gathers its recipients' boxes back, one peer at a time). Running recovery
  again is therefore harmless.

Note: Tessera's batch resend has the peer push batches back (`/resendBatch`, `/pushBatch`).
Pulling pages instead keeps the peer stateless (any cursor may be asked again, so a broken
recovery simply runs again), needs no window in which pushes naming our own key as sender are
accepted, and bounds every answer (`MAX_RESEND_PAGE` payloads, about 8 MiB, 1,000 rows read).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tessera_like.abc import PeerNetworkAPI
from tessera_like.crypto.keys import encode_key
from tessera_like.errors import (
    DecryptionFailed,
    DuplicatePayload,
    InvalidRequest,
    PeerRejected,
    PrivacyViolation,
    PTMError,
)
from tessera_like.manager import MAX_RESEND_PAGE, TransactionManager
from tessera_like.payload import decode
from tessera_like.types import PayloadHash, PublicKey, normalize_url

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 50
#: A peer whose pages never end is cut off here (its cursor must move forward on every page).
MAX_PAGES_PER_KEY = 100_000


@dataclass
class PeerRecovery:
    """What one peer gave back: payloads stored anew (`recovered`), boxes added to a payload held
    (`merged`: a sender's copy gathering its recipients' boxes), payloads already held as sent,
    payloads refused. `error` set: the peer failed part-way (what came before is kept)."""

    url: str
    recovered: int = 0
    merged: int = 0
    already_held: int = 0
    refused: int = 0
    pages: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "recovered": self.recovered, "merged": self.merged, "alreadyHeld": self.already_held,
                "refused": self.refused, "pages": self.pages, "error": self.error}


@dataclass(frozen=True)
class RecoveryReport:
    peers: tuple[PeerRecovery, ...]

    @property
    def ok(self) -> bool:
        """Every peer answered every page (refused payloads do not make a recovery fail)."""
        return all(p.error is None for p in self.peers)

    def to_json(self) -> dict[str, Any]:
        return {"peers": [p.to_json() for p in self.peers],
                "recovered": sum(p.recovered for p in self.peers),
                "merged": sum(p.merged for p in self.peers),
                "alreadyHeld": sum(p.already_held for p in self.peers),
                "refused": sum(p.refused for p in self.peers),
                "failedPeers": [p.url for p in self.peers if p.error is not None]}


def recover_from_peers(manager: TransactionManager, page_size: int = DEFAULT_PAGE_SIZE) -> RecoveryReport:
    """Ask every verified peer for every payload each key held here can open; store them.

    One discovery round first (so every peer's keys are bound). A peer that fails is reported
    with its error and the others are still asked; so is a known peer that could not prove a
    key (down): what it holds for us was not recovered.
    """
    if not 1 <= page_size <= MAX_RESEND_PAGE:
        raise InvalidRequest(f"pageSize must be between 1 and {MAX_RESEND_PAGE}, got {page_size}")
    network = manager.network
    if network is None:
        return RecoveryReport(())
    network.refresh()
    reports = []
    for url in network.peer_urls():
        report = PeerRecovery(url)
        try:
            for key in manager.keys.public_keys():
                _recover_key(manager, network, url, key, page_size, report)
        except PTMError as exc:
            report.error = exc.message
            log.warning("recovery from %s stopped: %s", url, exc.message)
        reports.append(report)
        log.info("recovery from %s: %d recovered, %d merged, %d already held, %d refused, %d pages", url,
                 report.recovered, report.merged, report.already_held, report.refused, report.pages)
    for url in network.unverified_peer_urls():  # after the discovery round: down, or no manager there
        reports.append(PeerRecovery(url, error="this peer has not proved a key to this manager (down or "
                                               "unreachable); its payloads were not asked for"))
        log.warning("recovery could not ask %s: it has not proved a key", url)
    return RecoveryReport(tuple(reports))


def _recover_key(manager: TransactionManager, network: PeerNetworkAPI, url: str, key: PublicKey, page_size: int,
                 report: PeerRecovery) -> None:
    after: PayloadHash | None = None
    for _ in range(MAX_PAGES_PER_KEY):
        page = network.fetch_resend_page(url, key, after, page_size)
        report.pages += 1
        for encoded in page.payloads:
            _store(manager, network, url, encoded, report)
        if page.next is None:
            return
        after = page.next
    raise PeerRejected(f"peer {url} sent more than {MAX_PAGES_PER_KEY} pages for key {encode_key(key)}", url)


def _store(manager: TransactionManager, network: PeerNetworkAPI, url: str, encoded: bytes,
           report: PeerRecovery) -> None:
    """Store one payload a peer resent, counting what became of it."""
    held = False
    try:
        payload = decode(encoded)
        sender = payload.sender_key
        if sender not in manager.keys and normalize_url(network.lookup(sender) or "") != normalize_url(url):
            raise PrivacyViolation(f"it names sender key {encode_key(sender)}, which that peer has not proved to hold")
        held = manager.store.get(payload.hash) is not None
        manager.push(encoded)  # in process: the peer was vouched for above
    except DuplicatePayload:
        report.already_held += 1
    except (InvalidRequest, PrivacyViolation, DecryptionFailed) as exc:
        report.refused += 1
        log.warning("payload resent by %s refused: %s", url, exc.message)
    else:
        if held:
            report.merged += 1
        else:
            report.recovered += 1


__all__ = ["DEFAULT_PAGE_SIZE", "PeerRecovery", "RecoveryReport", "recover_from_peers"]
