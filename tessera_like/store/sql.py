"""Payload storage through plain DB-API SQL, one code path for SQLite and PostgreSQL.

Two tables, as Tessera has: `encrypted_transaction` (hash → encoded payload of distributed
transactions) and `encrypted_raw_transaction` (payloads stored by `/storeraw`, not yet
distributed). Statements are written once with `?` placeholders; the PostgreSQL dialect
rewrites them to psycopg's `%s`. Only the DDL type names differ (BLOB / BYTEA); what else
differs (connecting, locking, the catalog) is in `dialects.py`, the schema and its
versions in `migrations.py`, applied when the store opens.

Connections are per thread (FastAPI runs sync work on a thread pool), reused across
requests, and every write commits before returning; an in-memory SQLite database (tests)
has one connection used under a lock. SQLite runs in WAL mode with
`synchronous=FULL` by default, so a committed payload survives a crash or power loss.

A database that cannot be reached when the store opens is a StorageError naming it and the
driver's reason (the manager does not start). Once open, a statement that fails on a broken
connection is retried once on a new one (the server restarted, a failover); if that fails
too, the request gets StorageError (503, "the payload store is unavailable", the detail
only in the log) and the next request tries again: the store recovers by itself when the
database is back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from tessera_like.abc import PayloadStoreAPI
from tessera_like.errors import ConfigError, StorageError
from tessera_like.store.dialects import Dialect, dialect_for
from tessera_like.store.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    RAW_TABLE,
    TX_TABLE,
    Migration,
    current_version,
    migrate,
)
from tessera_like.types import PayloadHash

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = LATEST_VERSION


class SqlPayloadStore(PayloadStoreAPI):
    """Payloads in SQL; connections per thread; every statement committed at once."""

    def __init__(self, db_url: str, sqlite_synchronous: str = "FULL",
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        if sqlite_synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigError("sqlite_synchronous must be FULL, NORMAL or EXTRA")
        self.dialect = dialect_for(db_url, sqlite_synchronous.upper())
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._shared: Any = None
        self._shared_lock = threading.Lock()
        try:
            if self.dialect.single_connection:
                self._shared = self.dialect.connect()
                self._all.append(self._shared)
            #: The schema version of the database (the newest of `migrations`).
            self.schema_version = migrate(self._run_opening, self.dialect, migrations)
        except self.dialect.errors as exc:
            self.close()
            log.debug("cannot open the payload store", exc_info=True)
            raise StorageError(f"cannot open the payload store ({self.dialect.description}): "
                               f"{self.dialect.reason(exc)}") from None
        except BaseException:
            self.close()
            raise

    # -- connections ------------------------------------------------------------------
    def _connection(self) -> Any:
        if self._shared is not None:
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StorageError("the payload store is closed")
            conn = self.dialect.connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._all_lock:
                if conn in self._all:
                    self._all.remove(conn)
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    @staticmethod
    def _transaction(conn: Any, work: Callable[[Any], T]) -> T:
        """`work(cursor)` in one transaction, committed; rolled back if anything fails."""
        cur = conn.cursor()
        try:
            result = work(cur)
            conn.commit()
            return result
        except BaseException:
            with contextlib.suppress(Exception):  # the connection may be gone
                conn.rollback()
            raise
        finally:
            with contextlib.suppress(Exception):
                cur.close()

    def _run_opening(self, work: Callable[[Any], T]) -> T:
        """While opening: no retry, and the driver's error reaches __init__ (for its message)."""
        return self._transaction(self._connection(), work)

    def _unavailable(self, exc: BaseException) -> StorageError:
        log.warning("payload store (%s) unavailable: %s", self.dialect.description, self.dialect.reason(exc))
        return StorageError("the payload store is unavailable")

    def _run(self, work: Callable[[Any], T]) -> T:
        """Run `work(cursor)` and commit; retry once on a new connection if this one is broken."""
        if self._shared is not None:
            with self._shared_lock:
                try:
                    return self._transaction(self._shared, work)
                except self.dialect.operational_errors as exc:
                    raise self._unavailable(exc) from None
        for attempt in (1, 2):
            try:
                return self._transaction(self._connection(), work)
            except self.dialect.operational_errors as exc:
                self._drop_connection()  # broken or never made: the next try makes a new one
                if attempt == 2:
                    raise self._unavailable(exc) from None
        raise AssertionError("unreachable")

    def run(self, work: Callable[[Any], T]) -> T:
        """`work(cursor)` in one committed transaction, with the store's retry and error rules
        (for the other tables of this database: `store/commitments.py`)."""
        return self._run(work)

    def current_schema_version(self) -> int:
        """The version recorded in the database now (another manager may have migrated it)."""
        return self._run(current_version)

    # -- shared statements ------------------------------------------------------------
    def _put(self, table: str, tx_hash: PayloadHash, encoded: bytes) -> bool:
        sql = self.dialect.sql(
            f"INSERT INTO {table} (hash, encoded_payload, stored_at) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING"
        )
        return bool(self._run(lambda cur: cur.execute(sql, (bytes(tx_hash), bytes(encoded),
                                                             int(time.time()))).rowcount) == 1)

    def _get(self, table: str, tx_hash: PayloadHash) -> bytes | None:
        sql = self.dialect.sql(f"SELECT encoded_payload FROM {table} WHERE hash = ?")
        row = self._run(lambda cur: cur.execute(sql, (bytes(tx_hash),)).fetchone())
        return None if row is None else bytes(row[0])

    def _delete(self, table: str, tx_hash: PayloadHash) -> bool:
        sql = self.dialect.sql(f"DELETE FROM {table} WHERE hash = ?")
        return bool(self._run(lambda cur: cur.execute(sql, (bytes(tx_hash),)).rowcount) > 0)

    # -- PayloadStoreAPI --------------------------------------------------------------
    def put(self, tx_hash: PayloadHash, encoded: bytes) -> bool:
        return self._put(TX_TABLE, tx_hash, encoded)

    def replace(self, tx_hash: PayloadHash, encoded: bytes) -> None:
        sql = self.dialect.sql(f"UPDATE {TX_TABLE} SET encoded_payload = ? WHERE hash = ?")
        self._run(lambda cur: cur.execute(sql, (bytes(encoded), bytes(tx_hash))))

    def get(self, tx_hash: PayloadHash) -> bytes | None:
        return self._get(TX_TABLE, tx_hash)

    def delete(self, tx_hash: PayloadHash) -> bool:
        return self._delete(TX_TABLE, tx_hash)

    def count(self) -> int:
        return int(self._run(lambda cur: cur.execute(f"SELECT COUNT(*) FROM {TX_TABLE}").fetchone())[0])

    def scan(self, batch_size: int = 500, after: bytes = b"") -> Iterator[tuple[PayloadHash, bytes]]:
        sql = self.dialect.sql(
            f"SELECT hash, encoded_payload FROM {TX_TABLE} WHERE hash > ? ORDER BY hash LIMIT ?"
        )
        after = bytes(after)
        while True:

            def page(cur: Any, start: bytes = after) -> list[Any]:
                return list(cur.execute(sql, (start, batch_size)).fetchall())

            rows = self._run(page)
            for tx_hash, encoded in rows:
                yield PayloadHash(bytes(tx_hash)), bytes(encoded)
            if len(rows) < batch_size:
                return
            after = bytes(rows[-1][0])

    def put_raw(self, tx_hash: PayloadHash, encoded: bytes) -> bool:
        return self._put(RAW_TABLE, tx_hash, encoded)

    def get_raw(self, tx_hash: PayloadHash) -> bytes | None:
        return self._get(RAW_TABLE, tx_hash)

    def delete_raw(self, tx_hash: PayloadHash) -> bool:
        return self._delete(RAW_TABLE, tx_hash)

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):  # shutting down, nothing to do
                conn.close()


__all__ = ["RAW_TABLE", "SCHEMA_VERSION", "TX_TABLE", "Dialect", "SqlPayloadStore", "dialect_for"]
