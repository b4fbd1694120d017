"""Whole-database copies with SQLite's online backup API, for dev snapshots.

Why the backup API: it copies a live WAL database consistently (one read transaction) and
writes a restore into the live file in one write transaction, so the node's other
connections (the writer, the read-only reader) see the old content or the new, never a mix,
and need not be reopened.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.files import private_sqlite_file

#: How long a restore waits for another connection's write to finish before it takes over.
BUSY_TIMEOUT_S = 30.0


def copy_database(source: Path, target: Path) -> None:
    """Copy the committed content of live database `source` into a new owner-only file `target`."""
    private_sqlite_file(target)  # 0600 before SQLite opens it
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # a copy at rest: no -wal/-shm files beside it
        finally:
            dst.close()
    finally:
        src.close()


def restore_database(snapshot: Path, target: Path) -> None:
    """Replace the whole content of live database `target` with `snapshot`'s (one transaction).

    The caller makes sure no connection of its own holds a write transaction on `target`.
    """
    src = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
