"""What differs between SQLite and PostgreSQL, chosen from `db_url`; everything else is shared.

`dialect_for(db_url)` reads the URL:

- `postgresql://user:password@host:port/dbname?sslmode=require` (or `postgres://…`): PostgreSQL
  through psycopg 3. The URL goes to libpq as it is (any libpq parameter may be added as a query
  parameter; a password left out of the URL comes from `PGPASSWORD` or `~/.pgpass`). Unless the
  URL sets them, connections get `connect_timeout=10`, TCP keepalives and
  `application_name=tessera_like`.
- `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, `sqlite:///:memory:` or a plain
  file path: SQLite.

Messages describe the database (`PostgreSQL privnet@db.example:5432/tessera`) and never
carry the password.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from tessera_like.errors import ConfigError

log = logging.getLogger("tessera_like.store")

#: Added to a PostgreSQL URL unless it sets them: fail fast on a dead address, notice a
#: silently dropped connection, and name ourselves in `pg_stat_activity`.
POSTGRES_DEFAULTS = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "application_name": "tessera_like",
}
#: Held for the length of a migration transaction (PostgreSQL advisory lock key).
MIGRATION_LOCK_KEY = 0x7465_7373_6572_61  # "tessera"
SQLITE_BUSY_S = 30.0  # how long a connection waits for another one's lock


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases: connecting, DDL types, placeholders, catalog queries."""

    name: Literal["sqlite", "postgresql"]
    blob_type: str
    placeholder: str
    connect: Callable[[], Any]
    #: Errors of a connection or of the server (the store retries once, then answers 503).
    operational_errors: tuple[type[BaseException], ...]
    #: Every error of the driver (opening the store turns them into a StorageError).
    errors: tuple[type[BaseException], ...]
    #: Where the data lives, for messages: never a password.
    description: str
    #: First statement of a migration: takes the database's write lock until commit.
    lock_statement: str
    #: The column names of table `?` (no row when there is no such table).
    columns_query: str
    #: One connection for all threads, used under a lock (an in-memory SQLite database).
    single_connection: bool = False

    def sql(self, statement: str) -> str:
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    def reason(self, exc: BaseException) -> str:
        """The driver's message, on one line, without libpq's connection preamble."""
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        text = " ".join(f"{line}." if line[-1] not in ".?!:" and i < len(lines) - 1 else line
                        for i, line in enumerate(lines)) or type(exc).__name__
        text = re.sub(r'^connection failed: ', "", text)
        text = re.sub(r'connection to server (at|on) .*?failed: ', "", text)
        return re.sub(r"\b(FATAL|ERROR): +", "", text)


def _sqlite_dialect(target: str, synchronous: str) -> Dialect:
    memory = target in ("", ":memory:")
    if not memory:
        _owner_only_sqlite_file(Path(target).expanduser())
        target = str(Path(target).expanduser())

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:" if memory else target, timeout=SQLITE_BUSY_S, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_S * 1000)}")
        if not memory:
            _enter_wal(conn)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        return conn

    return Dialect("sqlite", "BLOB", "?", connect, (sqlite3.OperationalError,), (sqlite3.Error,),
                   "SQLite in memory" if memory else f"SQLite file {target}",
                   lock_statement="BEGIN IMMEDIATE",
                   columns_query="SELECT name FROM pragma_table_info(?)",
                   single_connection=memory)


def _enter_wal(conn: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode = WAL`, waiting out other connections.

    Why: switching a new database to WAL needs an exclusive lock, and SQLite answers "database
    is locked" at once, without its busy handler, while another connection holds the file (six
    managers opening one fresh database together failed about one time in ten).
    """
    deadline = time.monotonic() + SQLITE_BUSY_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _owner_only_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its journal, WAL and shared-memory
    files take the database file's mode), whatever the umask; tighten a looser one found.

    Why: the file holds every payload this manager stores.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)  # mkdir's mode is filtered by the umask; chmod's is not
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.fchmod(fd, 0o600)
        os.close(fd)
        return
    for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            file.chmod(mode & 0o700)
            log.info("tightened %s from %04o to %04o (owner only)", file, mode, mode & 0o700)


def _postgres_params(url: str) -> dict[str, Any]:
    """libpq's reading of the URL; ConfigError (naming db_url, without the password) if it has none."""
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("db_url: PostgreSQL needs psycopg 3 (pip install 'privnet[postgres]' "
                          "or 'psycopg[binary]')") from None
    import psycopg

    try:
        return conninfo_to_dict(url)
    except psycopg.Error as exc:
        message = " ".join(str(exc).split())
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            message = message.replace(password, "***")
        raise ConfigError(f"db_url: not a valid PostgreSQL URL "
                          f"(postgresql://user:password@host:port/dbname): {message}") from None


def _postgres_dialect(url: str) -> Dialect:
    params = _postgres_params(url)
    import psycopg

    extra = {name: value for name, value in POSTGRES_DEFAULTS.items() if name not in params}
    user = params.get("user", "(default user)")
    host = params.get("host") or params.get("hostaddr") or "(local socket)"
    where = f"PostgreSQL {user}@{host}:{params.get('port', 5432)}/{params.get('dbname', '(default database)')}"

    def connect() -> Any:
        return psycopg.connect(url, autocommit=False, **extra)

    return Dialect("postgresql", "BYTEA", "%s", connect, (psycopg.OperationalError, psycopg.InterfaceError),
                   (psycopg.Error,), where,
                   lock_statement=f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})",
                   columns_query="SELECT column_name FROM information_schema.columns "
                                 "WHERE table_schema = current_schema() AND table_name = ?")


def dialect_for(db_url: str, sqlite_synchronous: str = "FULL") -> Dialect:
    """Pick the database from the URL (see the module docstring); ConfigError if unsupported."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return _postgres_dialect(db_url)
    if db_url.startswith("sqlite:///"):
        return _sqlite_dialect(db_url[len("sqlite:///") :], sqlite_synchronous)
    if db_url in ("sqlite://", "sqlite:"):
        return _sqlite_dialect(":memory:", sqlite_synchronous)
    if "://" in db_url or db_url.startswith("sqlite:"):
        raise ConfigError(f"db_url: unsupported database URL {db_url.split(':')[0]!r}; "
                          "use sqlite:///path or postgresql://user:password@host:port/dbname")
    return _sqlite_dialect(db_url, sqlite_synchronous)


def check_db_url(db_url: str) -> None:
    """Raise ConfigError if `db_url` cannot name a database; connects to nothing, creates nothing."""
    if db_url.startswith(("postgresql://", "postgres://")):
        _postgres_params(db_url)
    elif not db_url.startswith("sqlite:///") and db_url not in ("sqlite://", "sqlite:") \
            and ("://" in db_url or db_url.startswith("sqlite:")):
        dialect_for(db_url)  # raises: an unsupported scheme


__all__ = ["POSTGRES_DEFAULTS", "Dialect", "check_db_url", "dialect_for"]
