"""Numbered schema migrations of the payload store: one list, both databases.

A migration is a version number and the statements that take the schema from the version
before it to that version (`{blob}` stands for the binary column type, BLOB or BYTEA).
`migrate()` brings a database up to the newest version this code knows:

- each migration runs in its own transaction, under the database's write lock (SQLite
  `BEGIN IMMEDIATE`, PostgreSQL `pg_advisory_xact_lock`), and records its version in
  `tessera_like_schema` (one row per applied version; the schema is at the highest) in
  that same transaction: a failure leaves the database at the version before, never
  half-migrated, and managers starting together on one database apply it once;
- applied versions are skipped: opening a store again changes nothing;
- a database at a version newer than this code knows is refused (StorageError): an older
  manager must not write into a schema it does not understand;
- a database without a recorded version whose payload tables already exist (a first start
  interrupted before it recorded one) is adopted once its tables are checked to have
  version 1's columns.

Version 1 is the schema the store had before migrations existed; its databases already
record version 1 and open unchanged. To change the schema, append `Migration(n + 1, …)`;
never edit a released one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tessera_like.errors import StorageError
from tessera_like.store.dialects import Dialect

log = logging.getLogger(__name__)

T = TypeVar("T")
Runner = Callable[[Callable[[Any], T]], T]

VERSION_TABLE = "tessera_like_schema"
TX_TABLE = "encrypted_transaction"
RAW_TABLE = "encrypted_raw_transaction"
PAYLOAD_COLUMNS = frozenset({"hash", "encoded_payload", "stored_at"})


@dataclass(frozen=True)
class Migration:
    """Schema version `version`: the statements that lead to it from `version - 1`."""

    version: int
    description: str
    statements: tuple[str, ...]


def _payload_table(name: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {name} (hash {{blob}} PRIMARY KEY, "
            "encoded_payload {blob} NOT NULL, stored_at BIGINT NOT NULL)")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "payload tables: encrypted_transaction, encrypted_raw_transaction",
              (_payload_table(TX_TABLE), _payload_table(RAW_TABLE))),
    Migration(2, "state commitments: state_commitment, state_commitment_party, state_commitment_outbox, "
                 "state_divergence (divergence detection, PROTOCOL.md §12)", (
        "CREATE TABLE IF NOT EXISTS state_commitment (block_hash {blob} NOT NULL, contract {blob} NOT NULL, "
        "party {blob} NOT NULL, block_number BIGINT NOT NULL, storage_root {blob} NOT NULL, "
        "own INTEGER NOT NULL, payload_hashes {blob} NOT NULL, received_at BIGINT NOT NULL, "
        "PRIMARY KEY (block_hash, contract, party))",
        "CREATE INDEX IF NOT EXISTS state_commitment_block ON state_commitment (block_number)",
        "CREATE TABLE IF NOT EXISTS state_commitment_party (payload_hash {blob} NOT NULL, party {blob} NOT NULL, "
        "PRIMARY KEY (payload_hash, party))",
        "CREATE TABLE IF NOT EXISTS state_commitment_outbox (block_hash {blob} NOT NULL, contract {blob} NOT NULL, "
        "payload_hash {blob} NOT NULL, author {blob} NOT NULL, recipient {blob} NOT NULL, "
        "block_number BIGINT NOT NULL, attempts INTEGER NOT NULL, next_at BIGINT NOT NULL, "
        "PRIMARY KEY (block_hash, contract, payload_hash, author, recipient))",
        "CREATE INDEX IF NOT EXISTS state_commitment_outbox_due ON state_commitment_outbox (next_at)",
        "CREATE TABLE IF NOT EXISTS state_divergence (block_hash {blob} NOT NULL, contract {blob} NOT NULL, "
        "block_number BIGINT NOT NULL, sides TEXT NOT NULL, detected_at BIGINT NOT NULL, "
        "updated_at BIGINT NOT NULL, PRIMARY KEY (block_hash, contract))",
        "CREATE INDEX IF NOT EXISTS state_divergence_block ON state_divergence (block_number)",
    )),
)
#: The schema version this code writes.
LATEST_VERSION = MIGRATIONS[-1].version


def check_sequence(migrations: Sequence[Migration]) -> None:
    """Versions must be 1, 2, 3, … in order (a gap or a reordering is a programming error)."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3, … in order, got {versions}")


def _columns(cur: Any, dialect: Dialect, table: str) -> set[str]:
    return {str(row[0]).lower() for row in cur.execute(dialect.sql(dialect.columns_query), (table,)).fetchall()}


def _check_adoptable(cur: Any, dialect: Dialect) -> None:
    """Payload tables found without a recorded version must be version 1's, or are refused."""
    for table in (TX_TABLE, RAW_TABLE):
        found = _columns(cur, dialect, table)
        if found and found != PAYLOAD_COLUMNS:
            raise StorageError(f"db_url: {dialect.description} has a table {table} with columns "
                               f"{', '.join(sorted(found))}, not this manager's "
                               f"({', '.join(sorted(PAYLOAD_COLUMNS))}); refusing to use it")


def current_version(cur: Any) -> int:
    """The schema version recorded in the database (0 when none is)."""
    row = cur.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def _step(cur: Any, dialect: Dialect, migrations: Sequence[Migration]) -> int | None:
    """Apply the next pending migration; the current version if none is pending."""
    cur.execute(dialect.lock_statement)
    cur.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
    current = current_version(cur)
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise StorageError(f"db_url: {dialect.description} has schema version {current}, newer than this "
                           f"manager knows ({latest}); run the newer tessera_like that upgraded it")
    pending = next((m for m in migrations if m.version > current), None)
    if pending is None:
        return current
    if current == 0:
        _check_adoptable(cur, dialect)
    for statement in pending.statements:
        cur.execute(statement.format(blob=dialect.blob_type))
    cur.execute(dialect.sql(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)"), (pending.version,))
    log.info("payload store schema migrated to version %d (%s)", pending.version, pending.description)
    return None


def migrate(run: Runner[int | None], dialect: Dialect, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database to the newest version of `migrations`; return that version.

    `run(work)` calls `work(cursor)` in one transaction and commits it.
    """
    check_sequence(migrations)
    while True:
        version = run(lambda cur: _step(cur, dialect, migrations))
        if version is not None:
            return version


__all__ = ["LATEST_VERSION", "MIGRATIONS", "RAW_TABLE", "TX_TABLE", "VERSION_TABLE", "Migration",
           "check_sequence", "current_version", "migrate"]
