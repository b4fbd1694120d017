"""A crash-safe key-value store for py-evm on SQLite.

Why: py-evm 0.12 ships only an in-memory database. Every write of one block (public
state, private state, receipts, indexes, head pointer) goes into one SQLite transaction
that the node commits after the block; a node killed mid-block restarts at the previous
block with nothing half-written.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB

from engine.files import private_dir, private_sqlite_file


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key above every key starting with `prefix` (SQLite compares BLOBs bytewise)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        raise ValueError("a key prefix must hold a byte below 0xff")
    return stripped[:-1] + bytes([stripped[-1] + 1])


class SqliteKV(BaseDB):
    """py-evm `BaseDB` over one SQLite table. Writes open a transaction; `commit()` ends it."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent, tighten_existing=False)
        private_sqlite_file(path)  # 0600 before SQLite creates it: its WAL and SHM files copy the mode
        self.path = path
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        self._in_tx = False
        self._lock = threading.RLock()

    def __getitem__(self, key: bytes) -> bytes:
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        with self._lock:
            self._begin()
            self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def _exists(self, key: bytes) -> bool:
        return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def __delitem__(self, key: bytes) -> None:
        with self._lock:
            self._begin()
            cur = self._conn.execute("DELETE FROM kv WHERE k = ?", (key,))
            if cur.rowcount == 0:
                raise KeyError(key)

    def keys_with_prefix(self, prefix: bytes) -> list[bytes]:
        """Every key starting with `prefix` (non-empty), in byte order."""
        end = _prefix_end(prefix)
        return [bytes(r[0]) for r in self._conn.execute("SELECT k FROM kv WHERE k >= ? AND k < ? ORDER BY k",
                                                        (prefix, end))]

    def delete_prefix(self, prefix: bytes) -> int:
        """Delete every key starting with `prefix` (non-empty), in the open transaction; how many."""
        with self._lock:
            self._begin()
            cur = self._conn.execute("DELETE FROM kv WHERE k >= ? AND k < ?", (prefix, _prefix_end(prefix)))
            return int(cur.rowcount)

    def _begin(self) -> None:
        if not self._in_tx:
            self._conn.execute("BEGIN")
            self._in_tx = True

    def commit(self) -> None:
        """Make every write since the last commit durable, atomically."""
        with self._lock:
            if self._in_tx:
                self._conn.execute("COMMIT")
                self._in_tx = False

    def rollback(self) -> None:
        with self._lock:
            if self._in_tx:
                self._conn.execute("ROLLBACK")
                self._in_tx = False

    def close(self) -> None:
        with self._lock:
            self.rollback()
            self._conn.close()


class SqliteReader(BaseDB):
    """A second, read-only connection to a SqliteKV file.

    Why: WAL lets it read the last *committed* state while the node writes the next block in
    its own transaction, so admission checks need not wait for the chain lock. Trie nodes are
    never deleted, so every node under a committed state root is readable here.
    """

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA query_only=1")
        self._lock = threading.Lock()

    def __getitem__(self, key: bytes) -> bytes:
        with self._lock:
            row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def _exists(self, key: bytes) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise TypeError("SqliteReader is read-only")

    def __delitem__(self, key: bytes) -> None:
        raise TypeError("SqliteReader is read-only")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class NodeDatabase:
    """The node's one database, shared by its public chain and its private side.

    Why one: a block's public state, its private state and every index it writes must land
    in one SQLite transaction. The composition root opens it and hands `atomic` (py-evm's
    view) to the chain and to the private side; the chain commits or rolls back per block.
    """

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)  # the node's data directory: private state in plaintext lives here
        self.kv = SqliteKV(path)
        self.atomic = AtomicDB(self.kv)
        self.reader = SqliteReader(path)

    def commit(self) -> None:
        self.kv.commit()

    def rollback(self) -> None:
        self.kv.rollback()

    def close(self) -> None:
        self.kv.close()
        self.reader.close()
