"""State commitments, vouched parties, the delivery outbox and detected divergences, in SQL.

The tables (schema version 2, `migrations.py`) live in the payload store's database and go
through its connections (`SqlPayloadStore.run`): one code path for SQLite and PostgreSQL,
every write committed before a method returns. Rows are per (block, contract, party), not per
payload, so a block of many transactions to one contract costs a few rows.

- `state_commitment`: one row per (block hash, contract, party): the storage root that party
  committed to (the first one stands) and `payload_hashes`, the 64-byte payload hashes
  concatenated: for an own row (`own` = 1, from this manager's node) every payload of the
  node's list that party is a party of; for a peer's row the payloads its commitment named
  (each checked to have both that peer and our key as parties).
- `state_commitment_party`: parties of a payload vouched for by the payload's sender (a
  recipient's copy of a standard payload names only its own key and the sender).
- `state_commitment_outbox`: own commitments still to be delivered to another party, each
  naming the payload that proves the pair are parties.
- `state_divergence`: one row per (block hash, contract) whose parties committed to
  different roots; `sides` is JSON `[{"storageRoot": hex, "parties": [b64, …]}, …]`.

`payloads_and_parties` reads the payload table (`encrypted_transaction`) of the same database,
many rows in one transaction, for the node's commitments naming many payloads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tessera_like.store.migrations import TX_TABLE
from tessera_like.store.sql import SqlPayloadStore
from tessera_like.types import PAYLOAD_HASH_SIZE, PayloadHash, PublicKey

#: Values per `IN (…)` list (SQLite's historical limit is 999 variables per statement).
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredCommitment:
    """A party's root for a contract after a block, and the payloads it names (see the module docstring)."""

    block_number: int
    block_hash: bytes
    contract: bytes
    party: PublicKey
    storage_root: bytes
    own: bool
    payload_hashes: tuple[PayloadHash, ...]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An own commitment (`author`'s) still owed to `recipient`, naming `payload_hash` (a payload
    both are parties of) as its proof."""

    block_number: int
    block_hash: bytes
    contract: bytes
    payload_hash: PayloadHash
    author: PublicKey
    recipient: PublicKey
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class DivergenceRow:
    block_number: int
    block_hash: bytes
    contract: bytes
    sides: str
    detected_at: int
    updated_at: int


_COMMITMENT_COLUMNS = "block_number, block_hash, contract, party, storage_root, own, payload_hashes"
_OUTBOX_KEY = "block_hash = ? AND contract = ? AND payload_hash = ? AND author = ? AND recipient = ?"


def join_hashes(hashes: Iterable[PayloadHash]) -> bytes:
    return b"".join(bytes(h) for h in hashes)


def split_hashes(data: bytes) -> tuple[PayloadHash, ...]:
    return tuple(PayloadHash(data[i:i + PAYLOAD_HASH_SIZE]) for i in range(0, len(data), PAYLOAD_HASH_SIZE))


def _commitment(row: Any) -> StoredCommitment:
    return StoredCommitment(int(row[0]), bytes(row[1]), bytes(row[2]), PublicKey(bytes(row[3])), bytes(row[4]),
                            bool(row[5]), split_hashes(bytes(row[6])))


def _chunks(items: list[bytes]) -> Iterable[list[bytes]]:
    return (items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK))


def _outbox_key(entry: OutboxEntry) -> tuple[bytes, ...]:
    return (entry.block_hash, entry.contract, bytes(entry.payload_hash), bytes(entry.author), bytes(entry.recipient))


class SqlCommitmentStore:
    """The commitment tables of the manager's database (see the module docstring)."""

    def __init__(self, store: SqlPayloadStore) -> None:
        self._store = store
        self._sql = store.dialect.sql

    @property
    def payload_store(self) -> SqlPayloadStore:
        """The payload store whose database (and connections) these tables share."""
        return self._store

    # -- commitments --------------------------------------------------------------------
    def add(self, c: StoredCommitment) -> bool:
        """Store if absent (a replay changes nothing); True when a row was written."""
        return self.add_many([c]) == 1

    def add_many(self, commitments: Iterable[StoredCommitment], outbox: Iterable[OutboxEntry] = (),
                 now_ms: int = 0) -> int:
        """Store each commitment if absent (the first one for a (block, contract, party) stands)
        and queue `outbox`, in one transaction; how many commitments were new."""
        sql = self._sql(f"INSERT INTO state_commitment ({_COMMITMENT_COLUMNS}, received_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (block_hash, contract, party) DO NOTHING")
        now = int(time.time())
        rows = [(c.block_number, c.block_hash, c.contract, bytes(c.party), c.storage_root, 1 if c.own else 0,
                 join_hashes(c.payload_hashes), now) for c in commitments]
        entries = list(outbox)

        def work(cur: Any) -> int:
            written = sum(cur.execute(sql, row).rowcount == 1 for row in rows)
            self._enqueue(cur, entries, now_ms)
            return written

        return self._store.run(work) if rows or entries else 0

    def for_contract(self, block_hash: bytes, contract: bytes) -> list[StoredCommitment]:
        sql = self._sql(f"SELECT {_COMMITMENT_COLUMNS} FROM state_commitment WHERE block_hash = ? AND contract = ?")
        rows = self._store.run(lambda cur: cur.execute(sql, (block_hash, contract)).fetchall())
        return [_commitment(r) for r in rows]

    def own(self, block_hash: bytes, contract: bytes, party: PublicKey) -> StoredCommitment | None:
        """`party`'s own commitment for (block, contract), if stored."""
        sql = self._sql(f"SELECT {_COMMITMENT_COLUMNS} FROM state_commitment WHERE block_hash = ? AND contract = ? "
                        "AND party = ? AND own = 1")
        row = self._store.run(lambda cur: cur.execute(sql, (block_hash, contract, bytes(party))).fetchone())
        return None if row is None else _commitment(row)

    def own_in_block(self, block_hash: bytes) -> list[StoredCommitment]:
        """Every own commitment for the block (one per contract and own party)."""
        sql = self._sql(f"SELECT {_COMMITMENT_COLUMNS} FROM state_commitment WHERE block_hash = ? AND own = 1")
        rows = self._store.run(lambda cur: cur.execute(sql, (block_hash,)).fetchall())
        return [_commitment(r) for r in rows]

    def count(self) -> int:
        return int(self._store.run(lambda cur: cur.execute("SELECT COUNT(*) FROM state_commitment").fetchone())[0])

    # -- payloads, many at once ------------------------------------------------------------
    def payloads_and_parties(self, hashes: Iterable[PayloadHash]
                             ) -> tuple[dict[bytes, bytes], dict[bytes, set[PublicKey]]]:
        """The stored encoded payloads among `hashes` and their vouched parties, by hash, read
        in one transaction (a few statements however many hashes)."""
        keys = list(dict.fromkeys(bytes(h) for h in hashes))

        def work(cur: Any) -> tuple[dict[bytes, bytes], dict[bytes, set[PublicKey]]]:
            encoded: dict[bytes, bytes] = {}
            vouched: dict[bytes, set[PublicKey]] = {}
            for chunk in _chunks(keys):
                marks = ", ".join("?" * len(chunk))
                for h, data in cur.execute(self._sql(f"SELECT hash, encoded_payload FROM {TX_TABLE} "
                                                     f"WHERE hash IN ({marks})"), chunk).fetchall():
                    encoded[bytes(h)] = bytes(data)
                for h, party in cur.execute(self._sql("SELECT payload_hash, party FROM state_commitment_party "
                                                      f"WHERE payload_hash IN ({marks})"), chunk).fetchall():
                    vouched.setdefault(bytes(h), set()).add(PublicKey(bytes(party)))
            return encoded, vouched

        return self._store.run(work) if keys else ({}, {})

    # -- parties vouched for by a payload's sender -----------------------------------------
    def add_parties(self, payload_hash: PayloadHash, parties: Iterable[PublicKey]) -> list[PublicKey]:
        """Record parties of `payload_hash`; the ones not recorded before."""
        sql = self._sql("INSERT INTO state_commitment_party (payload_hash, party) VALUES (?, ?) "
                        "ON CONFLICT (payload_hash, party) DO NOTHING")
        keys = list(dict.fromkeys(parties))

        def work(cur: Any) -> list[PublicKey]:
            return [k for k in keys if cur.execute(sql, (bytes(payload_hash), bytes(k))).rowcount == 1]

        return self._store.run(work)

    def parties(self, payload_hash: PayloadHash) -> set[PublicKey]:
        sql = self._sql("SELECT party FROM state_commitment_party WHERE payload_hash = ?")
        rows = self._store.run(lambda cur: cur.execute(sql, (bytes(payload_hash),)).fetchall())
        return {PublicKey(bytes(r[0])) for r in rows}

    # -- the outbox ----------------------------------------------------------------------
    def enqueue(self, entries: Iterable[OutboxEntry], now_ms: int) -> None:
        items = list(entries)
        if items:
            self._store.run(lambda cur: self._enqueue(cur, items, now_ms))

    def _enqueue(self, cur: Any, entries: list[OutboxEntry], now_ms: int) -> None:
        sql = self._sql("INSERT INTO state_commitment_outbox (block_hash, contract, payload_hash, author, recipient, "
                        "block_number, attempts, next_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?) "
                        "ON CONFLICT (block_hash, contract, payload_hash, author, recipient) DO NOTHING")
        for e in entries:
            cur.execute(sql, (*_outbox_key(e), e.block_number, now_ms))

    def due(self, now_ms: int, limit: int = 1000) -> list[OutboxEntry]:
        sql = self._sql("SELECT block_number, block_hash, contract, payload_hash, author, recipient, attempts "
                        "FROM state_commitment_outbox WHERE next_at <= ? ORDER BY next_at LIMIT ?")
        rows = self._store.run(lambda cur: cur.execute(sql, (now_ms, limit)).fetchall())
        return [OutboxEntry(int(r[0]), bytes(r[1]), bytes(r[2]), PayloadHash(bytes(r[3])), PublicKey(bytes(r[4])),
                            PublicKey(bytes(r[5])), int(r[6])) for r in rows]

    def next_due(self) -> int | None:
        """When the earliest outbox entry is due (ms), None when the outbox is empty."""
        row = self._store.run(lambda cur: cur.execute("SELECT MIN(next_at) FROM state_commitment_outbox").fetchone())
        return None if row is None or row[0] is None else int(row[0])

    def delivered(self, *entries: OutboxEntry) -> None:
        sql = self._sql(f"DELETE FROM state_commitment_outbox WHERE {_OUTBOX_KEY}")

        def work(cur: Any) -> None:
            for entry in entries:
                cur.execute(sql, _outbox_key(entry))

        self._store.run(work)

    def retry_at(self, attempts: int, next_ms: int, *entries: OutboxEntry) -> None:
        sql = self._sql(f"UPDATE state_commitment_outbox SET attempts = ?, next_at = ? WHERE {_OUTBOX_KEY}")

        def work(cur: Any) -> None:
            for entry in entries:
                cur.execute(sql, (attempts, next_ms, *_outbox_key(entry)))

        self._store.run(work)

    def outbox_size(self) -> int:
        return int(self._store.run(
            lambda cur: cur.execute("SELECT COUNT(*) FROM state_commitment_outbox").fetchone())[0])

    # -- divergences ---------------------------------------------------------------------
    def record_divergence(self, block_number: int, block_hash: bytes, contract: bytes, sides: str) -> bool:
        """Insert or update the divergence of (block, contract); True when it is new or changed."""
        now = int(time.time())
        select = self._sql("SELECT sides FROM state_divergence WHERE block_hash = ? AND contract = ?")
        upsert = self._sql("INSERT INTO state_divergence (block_hash, contract, block_number, sides, detected_at, "
                           "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (block_hash, contract) "
                           "DO UPDATE SET sides = excluded.sides, updated_at = excluded.updated_at")

        def work(cur: Any) -> bool:
            row = cur.execute(select, (block_hash, contract)).fetchone()
            if row is not None and str(row[0]) == sides:
                return False
            cur.execute(upsert, (block_hash, contract, block_number, sides, now, now))
            return True

        return self._store.run(work)

    def divergences(self, from_block: int = 0, limit: int = 1000) -> list[DivergenceRow]:
        sql = self._sql("SELECT block_number, block_hash, contract, sides, detected_at, updated_at "
                        "FROM state_divergence WHERE block_number >= ? ORDER BY block_number, contract LIMIT ?")
        rows = self._store.run(lambda cur: cur.execute(sql, (from_block, limit)).fetchall())
        return [DivergenceRow(int(r[0]), bytes(r[1]), bytes(r[2]), str(r[3]), int(r[4]), int(r[5])) for r in rows]


__all__ = ["DivergenceRow", "OutboxEntry", "SqlCommitmentStore", "StoredCommitment", "join_hashes",
           "split_hashes"]
