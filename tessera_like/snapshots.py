"""Development snapshots of the manager's store (Q2T `/dev/snapshots`, only with `dev_snapshots = true`).

Its node asks for one when it takes its own (`evm_snapshot`, engine/dev/snapshots.py) and for
a restore when it reverts, so that the payloads, raw payloads and commitment tables go back
with the node's chain and private state. SQLite's online backup API copies the live store in
one read transaction and restores it into the live file in one write transaction; the
store's per-thread connections simply see the restored content at their next statement.

Copies live beside the database, in `<db file>.snapshots/<id>.sqlite` (directory 0700,
files 0600: they hold every payload). A PostgreSQL or in-memory store cannot be
snapshotted: every request is refused with 400.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import threading
from pathlib import Path

from tessera_like.errors import InvalidRequest, NotFound

MSG_NEEDS_SQLITE = "snapshots need the SQLite store"
_ID = re.compile(r"[0-9a-f]{32}")
#: How long a restore waits for a statement of another connection to finish.
BUSY_TIMEOUT_S = 30.0


def sqlite_file(db_url: str) -> Path | None:
    """The SQLite file `db_url` names, or None (PostgreSQL, or SQLite in memory)."""
    if db_url.startswith(("postgresql://", "postgres://")) or db_url in ("sqlite://", "sqlite:"):
        return None
    target = db_url[len("sqlite:///"):] if db_url.startswith("sqlite:///") else db_url
    return None if target in ("", ":memory:") else Path(target).expanduser()


def _new_owner_only_file(path: Path) -> None:
    """Create `path` 0600 before SQLite opens it, whatever the umask."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    os.close(fd)


class StoreSnapshots:
    """Take, restore and delete whole-store copies; ids are random (32 hex digits)."""

    def __init__(self, db_url: str) -> None:
        self.database = sqlite_file(db_url)
        self.directory = None if self.database is None else self.database.with_name(self.database.name + ".snapshots")
        self._lock = threading.Lock()

    def _file(self, snapshot_id: str) -> Path:
        database, directory = self._paths()
        if not _ID.fullmatch(snapshot_id):
            raise InvalidRequest("invalid snapshot id: 32 lowercase hex digits expected")
        return directory / f"{snapshot_id}.sqlite"

    def _paths(self) -> tuple[Path, Path]:
        if self.database is None or self.directory is None:
            raise InvalidRequest(MSG_NEEDS_SQLITE)
        return self.database, self.directory

    def take(self) -> str:
        database, directory = self._paths()
        snapshot_id = secrets.token_hex(16)
        with self._lock:
            if not directory.is_dir():
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                directory.chmod(0o700)
            target = self._file(snapshot_id)
            _new_owner_only_file(target)
            src = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                dst = sqlite3.connect(target)
                try:
                    src.backup(dst)
                    dst.execute("PRAGMA journal_mode=DELETE")  # a copy at rest: no -wal/-shm beside it
                finally:
                    dst.close()
            finally:
                src.close()
        return snapshot_id

    def restore(self, snapshot_id: str) -> None:
        database, _ = self._paths()
        source = self._file(snapshot_id)
        with self._lock:
            if not source.is_file():
                raise NotFound(f"no snapshot {snapshot_id}")
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                dst = sqlite3.connect(database, timeout=BUSY_TIMEOUT_S)
                try:
                    src.backup(dst)
                finally:
                    dst.close()
            finally:
                src.close()

    def delete(self, snapshot_id: str) -> None:
        target = self._file(snapshot_id)
        with self._lock:
            if not target.is_file():
                raise NotFound(f"no snapshot {snapshot_id}")
            target.unlink()

    def delete_all(self) -> int:
        _, directory = self._paths()
        with self._lock:
            found = list(directory.glob("*.sqlite")) if directory.is_dir() else []
            for file in found:
                file.unlink(missing_ok=True)
        return len(found)


__all__ = ["MSG_NEEDS_SQLITE", "StoreSnapshots", "sqlite_file"]
