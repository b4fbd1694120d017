"""Divergence detection, the manager's side (PROTOCOL.md §12; beyond GoQuorum and Tessera).

GoQuorum puts only a payload's hash on chain, so parties whose private states of a contract
differ never learn it. Here, after each block, each party's node hands its manager the
storage root of every private contract the block's private transactions touched on it, with
the payloads that touched it (Q2T `POST /commitments`). The managers exchange those roots
and compare them. The work is per (block, contract, party), not per payload: a block of 77
transactions to one contract is one stored row and one message per other party.

1. Own commitments are stored (acknowledged means durable), one row per own key that is a
   party of at least one of the payloads (with those payloads), and queued in a durable
   outbox for every other party of them: normally one entry per party, naming one payload that
   proves both are parties (`_plan`).
2. A delivery thread sends each queued commitment to the party's manager over the P2P API
   (`POST /commitments`, mutual TLS), authenticated for that pair of keys by an HMAC under
   an X25519-derived key (`crypto/commitment.py`); failures are retried with back-off.
3. A receiving manager accepts a commitment only when (a) it holds the recipient key, (b) the
   author key is bound to the calling peer (`PeerNetworkAPI.authorize_push`, as for a push),
   (c) the MAC verifies, and for each payload named (normally one) (d) the recipient key is
   a party of it in this manager's copy and (e) the author is a party of it too. Anything
   else is refused (403) and stored nowhere.
4. Parties: a standard payload's recipient copy names only its own key and the sender. A
   payload's sender vouches for its full party list: among the payloads a key sent, it names
   enough of them (each to all of its parties) that every two parties sharing one of them
   learn each other through the same payload. A recipient trusts that list from the
   payload's sender only (checks b-c prove it is the sender), records those parties and then
   also sends its own commitments to them, naming that payload, so every party compares
   with every other.
5. Comparison per (block, contract), over the payloads this manager committed to itself for
   that contract in that block: a peer's root counts only when a payload its commitment
   named is one of them. More than one root is a divergence, stored with the parties on each
   side and logged as a WARNING. A peer cannot inject a divergence about a contract or
   payload we did not commit to ourselves.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from tessera_like.abc import KeyStoreAPI, PayloadStoreAPI, PeerNetworkAPI
from tessera_like.commitment_wire import NodeCommitment, encode_hex, encode_peer_commitment, encode_sides
from tessera_like.crypto.commitment import CommitmentStatement, commitment_mac, verify_commitment_mac
from tessera_like.crypto.keys import encode_key
from tessera_like.errors import InvalidPayload, PeerNotAllowed, PrivacyViolation, PTMError
from tessera_like.identity import PeerIdentity
from tessera_like.payload import decode
from tessera_like.store.commitments import OutboxEntry, SqlCommitmentStore, StoredCommitment
from tessera_like.types import PayloadHash, PublicKey

log = logging.getLogger(__name__)

#: Delivery back-off: first retry after BASE, doubling up to MAX; dropped after MAX_ATTEMPTS
#: (about 50 minutes of retries) with a warning.
RETRY_BASE_S = 0.25
RETRY_MAX_S = 15.0
MAX_ATTEMPTS = 200
IDLE_WAIT_S = 30.0

#: Delivers one commitment document to a peer's P2P URL; raises a PTMError when refused or unreachable.
Deliver = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class _Known:
    """What this manager knows of a payload: its sender, its own keys among its parties, and
    all its parties (its copy's keys and those its sender vouched for)."""

    sender: PublicKey
    own: tuple[PublicKey, ...]
    parties: frozenset[PublicKey]


@dataclass(frozen=True, slots=True)
class DivergenceSide:
    storage_root: bytes
    parties: tuple[str, ...]  # base64 keys


@dataclass(frozen=True, slots=True)
class Divergence:
    """Parties' roots of one contract after one block disagree."""

    block_number: int
    block_hash: bytes
    contract: bytes
    sides: tuple[DivergenceSide, ...]
    own_parties: tuple[str, ...]
    detected_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    stored: int
    unknown_payloads: tuple[PayloadHash, ...]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _backoff_ms(attempts: int) -> int:
    return int(min(RETRY_MAX_S, RETRY_BASE_S * 2 ** min(attempts, 16)) * 1000)


class CommitmentService:
    """Stores, exchanges and compares state commitments (see the module docstring).

    `network` authorizes callers and finds peers' URLs; `deliver` posts a document to a peer
    (the P2P client). Without a network the manager only compares its own keys' commitments.
    `payloads` must be the store whose database holds `store`'s tables: payload rows are read
    through `store`, many in one statement (`SqlCommitmentStore.payloads_and_parties`).
    """

    def __init__(self, keys: KeyStoreAPI, payloads: PayloadStoreAPI, store: SqlCommitmentStore,
                 network: PeerNetworkAPI | None = None, deliver: Deliver | None = None,
                 max_workers: int = 8) -> None:
        if store.payload_store is not payloads:
            raise ValueError("the commitment store must live in the payload store's database")
        self.keys = keys
        self.payloads = payloads
        self.store = store
        self.network = network
        self._deliver = deliver
        self._compare_lock = threading.Lock()
        # Who is owed an own commitment is decided under this lock, both when the node commits
        # and when the sender names more parties, so neither misses what the other just wrote.
        self._parties_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start delivering the outbox (what a previous run left in it too)."""
        if self._thread is not None or self._deliver is None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="tessera-like-commit")
        self._thread = threading.Thread(target=self._loop, name="tessera-like-commitments", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- from the node (Q2T) ----------------------------------------------------------------
    def submit_own(self, items: Sequence[NodeCommitment]) -> SubmitResult:
        """Store this node's commitments and queue them for the other parties (one transaction);
        then compare."""
        unknown: list[PayloadHash] = []
        rows: list[StoredCommitment] = []
        outbox: list[OutboxEntry] = []
        with self._parties_lock:
            known = self._load(h for item in items for h in item.payload_hashes)
            for item in items:
                by_key: dict[PublicKey, list[tuple[PayloadHash, _Known]]] = {}
                for payload_hash in dict.fromkeys(item.payload_hashes):
                    info = known.get(bytes(payload_hash))
                    if info is None or not info.own:
                        unknown.append(payload_hash)
                        continue
                    for key in info.own:
                        by_key.setdefault(key, []).append((payload_hash, info))
                for key, payloads in by_key.items():
                    rows.append(StoredCommitment(item.block_number, item.block_hash, item.contract, key,
                                                 item.storage_root, own=True,
                                                 payload_hashes=tuple(h for h, _ in payloads)))
                    outbox += [OutboxEntry(item.block_number, item.block_hash, item.contract, payload_hash, key, q)
                               for q, payload_hash in self._plan(key, payloads)]
            self.store.add_many(rows, outbox, _now_ms())
        for block_number, block_hash, contract in dict.fromkeys((c.block_number, c.block_hash, c.contract)
                                                                for c in rows):
            self._compare(block_number, block_hash, contract)
        if unknown:
            log.warning("state commitments for %d payload(s) not held here (or not a party) were ignored",
                        len(unknown))
        if outbox:
            self._wake.set()
        return SubmitResult(len(rows), tuple(unknown))

    def _plan(self, author: PublicKey,
              payloads: list[tuple[PayloadHash, _Known]]) -> list[tuple[PublicKey, PayloadHash]]:
        """Whom `author`'s commitment goes to, and which payload each message names.

        A payload `author` sent vouches for its parties: it is named to every party of it
        unless every pair of its parties was already named together in an earlier one, so
        two parties that learn each other from it learn it through the same payload (and
        accept each other's commitments naming it). Every other party gets one message,
        naming the first payload it is a party of. One payload per party when, as usual,
        the payloads of a block to a contract have the same parties.
        """
        named: dict[tuple[PublicKey, PayloadHash], None] = {}
        reached: set[PublicKey] = set()
        seen: set[frozenset[PublicKey]] = set()
        covered: set[frozenset[PublicKey]] = set()
        for payload_hash, info in payloads:
            others = sorted(k for k in info.parties if k not in self.keys)
            if info.sender == author:
                if info.parties in seen:
                    continue
                seen.add(info.parties)
                pairs = {frozenset(pair) for pair in combinations(info.parties, 2)
                         if not all(k in self.keys for k in pair)}
                if pairs <= covered:
                    continue
                covered |= pairs
            else:
                others = [k for k in others if k not in reached]
            for key in others:
                named[(key, payload_hash)] = None
                reached.add(key)
        return list(named)

    def divergences(self, from_block: int = 0) -> list[Divergence]:
        """Every divergence recorded here from block `from_block` on (contracts our keys are party to)."""
        own = {encode_key(k) for k in self.keys.public_keys()}
        result = []
        for row in self.store.divergences(from_block):
            sides = tuple(DivergenceSide(bytes.fromhex(s["storageRoot"][2:]), tuple(s["parties"]))
                          for s in json.loads(row.sides))
            mine = tuple(sorted({p for s in sides for p in s.parties if p in own}))
            result.append(Divergence(row.block_number, row.block_hash, row.contract, sides, mine,
                                     row.detected_at, row.updated_at))
        return result

    # -- from a peer (P2P) -------------------------------------------------------------------
    def receive_peer(self, statement: CommitmentStatement, mac: bytes, caller: PeerIdentity | None) -> bool:
        """Check and store a peer's commitment (module docstring, rule 3); True when it is new.

        `caller` is the identity the P2P transport proved (None: in process, trusted).
        Raises PrivacyViolation / PeerNotAllowed (403) for anything not provably from a party.
        """
        recipient = self.keys.get(statement.recipient)
        if recipient is None:
            raise PrivacyViolation(f"the commitment is addressed to key {encode_key(statement.recipient)}, "
                                   "which this manager does not hold")
        if statement.author in self.keys:
            raise PeerNotAllowed(f"the commitment names this manager's key {encode_key(statement.author)} "
                                 "as its author")
        if caller is not None:
            if self.network is None:
                raise PeerNotAllowed(f"this manager has no peers; P2P callers are refused ({caller})")
            self.network.authorize_push(statement.author, caller)
        if not verify_commitment_mac(recipient, statement, mac):
            raise PrivacyViolation(f"the commitment's MAC does not verify for author {encode_key(statement.author)}")
        named = tuple(dict.fromkeys(statement.payload_hashes))
        known = self._load(named)
        for payload_hash in named:
            info = known.get(bytes(payload_hash))
            if info is None or statement.recipient not in info.own:
                raise PrivacyViolation(f"key {encode_key(statement.recipient)} is not a party of payload "
                                       f"{encode_key(payload_hash)}")
            if statement.author not in info.parties:
                raise PrivacyViolation(f"author {encode_key(statement.author)} is not a party of payload "
                                       f"{encode_key(payload_hash)}")
        new = self.store.add(StoredCommitment(statement.block_number, statement.block_hash, statement.contract,
                                              statement.author, statement.storage_root, own=False,
                                              payload_hashes=named))
        for payload_hash in named:
            info = known[bytes(payload_hash)]
            if statement.author == info.sender and statement.parties:
                self._learn_parties(statement.block_hash, payload_hash,
                                    [k for k in statement.parties if k not in info.parties])
        self._compare(statement.block_number, statement.block_hash, statement.contract)
        return new

    def _learn_parties(self, block_hash: bytes, payload_hash: PayloadHash, candidates: list[PublicKey]) -> None:
        """The payload's sender named parties our copy does not: remember them, and owe them
        our own commitments of that block that name the payload (for a commitment not made
        yet, `submit_own` reads the parties recorded here)."""
        with self._parties_lock:
            fresh = [k for k in self.store.add_parties(payload_hash, candidates) if k not in self.keys]
            if not fresh:
                return
            outbox = [OutboxEntry(c.block_number, c.block_hash, c.contract, payload_hash, c.party, q)
                      for c in self.store.own_in_block(block_hash) if payload_hash in c.payload_hashes
                      for q in fresh]
            self.store.enqueue(outbox, _now_ms())
        if outbox:
            self._wake.set()

    # -- comparison ---------------------------------------------------------------------------
    def _compare(self, block_number: int, block_hash: bytes, contract: bytes) -> None:
        with self._compare_lock:
            rows = self.store.for_contract(block_hash, contract)
            ours = {h for c in rows if c.own for h in c.payload_hashes}
            roots: dict[bytes, set[PublicKey]] = {}
            for c in rows:
                if c.own or not ours.isdisjoint(c.payload_hashes):
                    roots.setdefault(c.storage_root, set()).add(c.party)
            if len(roots) < 2:
                return
            sides = [(root, sorted(parties)) for root, parties in roots.items()]
            changed = self.store.record_divergence(block_number, block_hash, contract, encode_sides(sides))
        if changed:
            described = "; ".join(
                f"storage root {encode_hex(root)} at {', '.join(self._name(k) for k in parties)}"
                for root, parties in sorted(sides, key=lambda s: [bytes(k) for k in s[1]]))
            log.warning("private state divergence: contract %s at block #%d (%s): %s", encode_hex(contract),
                        block_number, encode_hex(block_hash), described)

    def _name(self, key: PublicKey) -> str:
        return encode_key(key) + (" (this manager)" if key in self.keys else "")

    # -- delivery -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # a bad round must not end delivery
                log.exception("state commitment delivery round failed")
            try:
                next_due = self.store.next_due()
            except PTMError:
                next_due = None
            wait = IDLE_WAIT_S if next_due is None else max(0.0, min(IDLE_WAIT_S, (next_due - _now_ms()) / 1000))
            self._wake.wait(wait)
            self._wake.clear()

    def deliver_due(self) -> int:
        """Send every due outbox entry, one message per (block, contract, author, recipient, party
        list), the messages in parallel; the number of entries delivered."""
        entries = self.store.due(_now_ms())
        if not entries:
            return 0
        known = self._load(e.payload_hash for e in entries)
        groups: dict[tuple[Any, ...], list[OutboxEntry]] = {}
        for entry in entries:
            info = known.get(bytes(entry.payload_hash))
            if info is None or entry.author not in self.keys:
                self.store.delivered(entry)  # nothing left to say (a deleted payload, a removed key)
                continue
            parties = tuple(sorted(info.parties)) if info.sender == entry.author else ()
            key = (entry.block_hash, entry.contract, entry.author, entry.recipient, parties)
            groups.setdefault(key, []).append(entry)
        batches = [(key[4], group) for key, group in groups.items()]
        if self._pool is None:
            outcomes = [self._deliver_group(*batch) for batch in batches]
        else:
            outcomes = list(self._pool.map(lambda batch: self._deliver_group(*batch), batches))
        return sum(outcomes)

    def _deliver_group(self, parties: tuple[PublicKey, ...], group: list[OutboxEntry]) -> int:
        first = group[0]
        own = self.store.own(first.block_hash, first.contract, first.author)
        if own is None:
            self.store.delivered(*group)
            return 0
        if self._deliver is None:
            return 0
        url = self.network.lookup(first.recipient) if self.network is not None else None
        try:
            if url is None:
                raise PTMError(f"no known peer owns key {encode_key(first.recipient)}")
            statement = CommitmentStatement(first.author, first.recipient, first.block_number, first.block_hash,
                                            first.contract, own.storage_root, tuple(e.payload_hash for e in group),
                                            parties)
            self._deliver(url, encode_peer_commitment(statement, commitment_mac(self.keys.require(first.author),
                                                                                statement)))
        except PTMError as exc:
            attempts = max(e.attempts for e in group) + 1
            if attempts >= MAX_ATTEMPTS:
                log.warning("state commitment for contract %s at block #%d not delivered to %s after %d attempts "
                            "(%s); dropped", encode_hex(first.contract), first.block_number,
                            encode_key(first.recipient), attempts, exc.message)
                self.store.delivered(*group)
            else:
                self.store.retry_at(attempts, _now_ms() + _backoff_ms(attempts), *group)
            return 0
        self.store.delivered(*group)
        return len(group)

    # -- payloads and parties ---------------------------------------------------------------------
    def _load(self, hashes: Iterable[PayloadHash]) -> dict[bytes, _Known]:
        """What this manager knows of each payload it holds among `hashes` (read in one
        transaction through the commitment store: the payload table is in its database)."""
        encoded, vouched = self.store.payloads_and_parties(hashes)
        known = {}
        own_keys = self.keys.public_keys()
        for payload_hash, row in encoded.items():
            try:
                payload = decode(row)
            except InvalidPayload:
                log.error("stored payload %s does not decode", encode_key(PayloadHash(payload_hash)))
                continue
            boxed = payload.boxed_keys()
            own = tuple(k for k in own_keys if k in boxed or k == payload.sender_key)
            parties = frozenset({payload.sender_key, *payload.recipient_keys, *vouched.get(payload_hash, ())})
            known[payload_hash] = _Known(payload.sender_key, own, parties)
        return known


__all__ = ["CommitmentService", "Divergence", "DivergenceSide", "SubmitResult"]
