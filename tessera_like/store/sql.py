"""Payload storage through plain DB-API SQL, one code path for SQLite and PostgreSQL.

Two tables, as Tessera has: `encrypted_transaction` (hash → encoded payload of distributed
transactions) and `encrypted_raw_transaction` (payloads stored by `/storeraw`, not yet
distributed). Statements are written once with `?` placeholders; the PostgreSQL dialect
rewrites them to psycopg's `%s`. Only the DDL type names differ (BLOB / BYTEA).

Connections are per thread (FastAPI runs sync work on a thread pool), reused across
requests, and every write commits before returning; an in-memory SQLite database (tests)
has one connection used under a lock. SQLite runs in WAL mode with
`synchronous=FULL` by default, so a committed payload survives a crash or power loss.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from tessera_like.abc import PayloadStoreAPI
from tessera_like.errors import ConfigError, StorageError
from tessera_like.types import PayloadHash

log = logging.getLogger(__name__)

T = TypeVar("T")

TX_TABLE = "encrypted_transaction"
RAW_TABLE = "encrypted_raw_transaction"
SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tessera_like_schema (version INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {TX_TABLE} ("
    "hash {blob} PRIMARY KEY, encoded_payload {blob} NOT NULL, stored_at BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} ("
    "hash {blob} PRIMARY KEY, encoded_payload {blob} NOT NULL, stored_at BIGINT NOT NULL)",
)


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases: connecting, DDL types, placeholders."""

    name: Literal["sqlite", "postgresql"]
    blob_type: str
    placeholder: str
    connect: Callable[[], Any]
    operational_errors: tuple[type[BaseException], ...]
    #: One connection for all threads, used under a lock (an in-memory SQLite database).
    single_connection: bool = False

    def sql(self, statement: str) -> str:
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)


def _sqlite_dialect(target: str, synchronous: str) -> Dialect:
    memory = target in ("", ":memory:")
    if not memory:
        Path(target).expanduser().parent.mkdir(parents=True, exist_ok=True)
        target = str(Path(target).expanduser())

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:" if memory else target, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        if not memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        return conn

    return Dialect("sqlite", "BLOB", "?", connect, (sqlite3.OperationalError,), single_connection=memory)


def _postgres_dialect(dsn: str) -> Dialect:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("db_url: PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]')") from None

    def connect() -> Any:
        return psycopg.connect(dsn, autocommit=False)

    return Dialect("postgresql", "BYTEA", "%s", connect, (psycopg.OperationalError, psycopg.InterfaceError))


def dialect_for(db_url: str, sqlite_synchronous: str = "FULL") -> Dialect:
    """Pick the database from the URL.

    `postgresql://…` or `postgres://…` → PostgreSQL (the DSN goes to psycopg as is).
    `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, `sqlite:///:memory:` or a
    plain file path → SQLite.
    """
    if db_url.startswith(("postgresql://", "postgres://")):
        return _postgres_dialect(db_url)
    if db_url.startswith("sqlite:///"):
        return _sqlite_dialect(db_url[len("sqlite:///") :], sqlite_synchronous)
    if db_url in ("sqlite://", "sqlite:"):
        return _sqlite_dialect(":memory:", sqlite_synchronous)
    if "://" in db_url or db_url.startswith("sqlite:"):
        raise ConfigError(f"db_url: unsupported database URL {db_url.split(':')[0]!r}; "
                          "use sqlite:///path or postgresql://…")
    return _sqlite_dialect(db_url, sqlite_synchronous)


class SqlPayloadStore(PayloadStoreAPI):
    """Payloads in SQL; connections per thread; every statement committed at once."""

    def __init__(self, db_url: str, sqlite_synchronous: str = "FULL") -> None:
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
            self._migrate()
        except self.dialect.operational_errors:
            log.exception("cannot open the payload store")
            raise StorageError("cannot open the payload store") from None

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

    def _run(self, work: Callable[[Any], T]) -> T:
        """Run `work(cursor)` and commit; retry once on a broken connection."""
        if self._shared is not None:
            with self._shared_lock:
                return self._run_once(work, self._shared)
        for attempt in (1, 2):
            conn = self._connection()
            try:
                cur = conn.cursor()
                try:
                    result = work(cur)
                finally:
                    cur.close()
                conn.commit()
                return result
            except self.dialect.operational_errors:
                with contextlib.suppress(Exception):  # the connection may be gone
                    conn.rollback()
                if attempt == 2:
                    log.exception("payload store operation failed")
                    raise StorageError("the payload store is unavailable") from None
                self._drop_connection()
            except Exception:
                with contextlib.suppress(Exception):
                    conn.rollback()
                raise
        raise AssertionError("unreachable")

    def _run_once(self, work: Callable[[Any], T], conn: Any) -> T:
        cur = conn.cursor()
        try:
            result = work(cur)
            conn.commit()
            return result
        except self.dialect.operational_errors:
            conn.rollback()
            log.exception("payload store operation failed")
            raise StorageError("the payload store is unavailable") from None
        except Exception:
            conn.rollback()
            raise
        finally:
            cur.close()

    def _migrate(self) -> None:
        def work(cur: Any) -> None:
            for statement in _SCHEMA:
                cur.execute(statement.format(blob=self.dialect.blob_type))
            cur.execute("SELECT version FROM tessera_like_schema")
            row = cur.fetchone()
            if row is None:
                cur.execute(self.dialect.sql("INSERT INTO tessera_like_schema (version) VALUES (?)"),
                            (SCHEMA_VERSION,))
            elif int(row[0]) != SCHEMA_VERSION:
                raise ConfigError(f"db_url: database schema version {row[0]} is not {SCHEMA_VERSION}")

        self._run(work)

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

    def scan(self, batch_size: int = 500) -> Iterator[tuple[PayloadHash, bytes]]:
        sql = self.dialect.sql(
            f"SELECT hash, encoded_payload FROM {TX_TABLE} WHERE hash > ? ORDER BY hash LIMIT ?"
        )
        after = b""
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


__all__ = ["Dialect", "SqlPayloadStore", "dialect_for"]
