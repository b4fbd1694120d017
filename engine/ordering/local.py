"""`local` ordering: nodes on one machine share one SQLite file; no external service.

- The producer is whichever node holds an exclusive `flock` on `<file>.lock`; if it dies
  the kernel releases the lock and another node takes over (no home-made consensus: the
  kernel's lock is the arbiter, and the SQLite primary key is the compare-and-swap).
- `blocks(number PRIMARY KEY, rlp)`: appending a height that exists fails, so two
  producers can never both extend the chain at the same height; so does appending any
  height but the head's + 1 (no gaps, even after `truncate`).
- `submissions(id, hash, raw)`: every transaction a node acknowledged to a client, the
  producer's own included, committed before the client gets its hash. A row is deleted
  only when the producer acknowledges it (mined or refused for good), so a producer crash
  loses no submission: its successor reads every remaining row again.
- `<file>.heads/<node>`: the height each node last imported (`report_head`), one small file
  per node outside the database, so a report wakes no node (the producer reads them only while
  pacing; engine/chain/pacing.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

from eth_utils import keccak
from inotify_simple import INotify, flags

from engine.abc import OrderingServiceAPI
from engine.errors import OrderingUnavailable
from engine.files import private_dir, private_sqlite_file

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _unavailable_on_error(action: str) -> Iterator[None]:
    """A locked or unreadable file is the ordering service being unavailable: nothing happened."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise OrderingUnavailable(f"ordering service unavailable: cannot {action} ({exc})") from None


IDLE_POLL_MAX_S = 0.2


def _watch_directory(path: Path) -> INotify | None:
    """An inotify watch on the directory holding the file (None where inotify is unavailable)."""
    try:
        watch = INotify()
        watch.add_watch(str(path.parent), flags.MODIFY | flags.CREATE | flags.MOVED_TO)
    except OSError:
        return None
    return watch


def _enter_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch the shared file to WAL, waiting out the other nodes: on a new file SQLite answers
    "database is locked" at once, without its busy handler, while another connection holds it
    (the machine's nodes start together)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class LocalOrdering(OrderingServiceAPI):
    def __init__(self, path: Path, poll_interval_s: float = 0.005, name: str = "node") -> None:
        private_dir(path.parent, tighten_existing=False)  # may be a folder shared by the machine's nodes
        private_sqlite_file(path)  # every submitted transaction: owner only, as are its WAL and SHM files
        self.path = path
        self.name = name
        self.poll_interval_s = poll_interval_s
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        _enter_wal(self._conn)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, rlp BLOB NOT NULL)")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS submissions"
            " (id INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL, raw BLOB NOT NULL)"
        )
        self._conn.execute("CREATE INDEX IF NOT EXISTS submissions_by_hash ON submissions (hash)")
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        self._taken_up_to = 0
        self._seen_version = self._data_version()
        self._watch = _watch_directory(path)
        self._submitted = threading.Event()
        self._heads_dir = Path(str(path) + ".heads")
        private_dir(self._heads_dir, tighten_existing=False)

    def submit(self, raw_transactions: list[bytes]) -> None:
        """Committed before returning: a process killed right after survives with the rows
        (WAL; a commit is in the log before COMMIT returns)."""
        if not raw_transactions:
            return
        with self._lock, _unavailable_on_error("submit"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT INTO submissions (hash, raw) VALUES (?, ?)",
                                       [(keccak(r), r) for r in raw_transactions])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self._submitted.set()  # wakes this process's producer: our own commits leave data_version alone

    def take_pending(self, max_count: int) -> list[bytes]:
        with self._lock:
            self._seen_version = self._data_version()
            rows = self._conn.execute(
                "SELECT id, raw FROM submissions WHERE id > ? ORDER BY id LIMIT ?", (self._taken_up_to, max_count)
            ).fetchall()
        if rows:
            self._taken_up_to = rows[-1][0]
        return [bytes(raw) for _, raw in rows]

    def is_producer(self) -> bool:
        if self._lock_fd is not None:
            return True
        fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, self.name.encode(), 0)  # who holds the role, for `current_producer`
        self._taken_up_to = 0  # a new producer re-reads every submission not yet in a block
        return True

    def current_producer(self) -> str | None:
        if self._lock_fd is not None:
            return self.name
        lock_path = str(self.path) + ".lock"
        try:
            fd = os.open(lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held: the holder wrote its name when it took the lock
                return os.pread(fd, 256, 0).decode(errors="replace") or None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def resign(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def append_block(self, number: int, block_rlp: bytes) -> bool:
        """Only at exactly head + 1 (one statement, so the check and the insert are atomic): a
        taken height is refused, and so is a gap, e.g. a producer that has not yet seen the
        log truncated by a dev snapshot's revert (`truncate`)."""
        with self._lock, _unavailable_on_error("append a block"):
            try:
                cur = self._conn.execute(
                    "INSERT INTO blocks (number, rlp) SELECT ?, ? "
                    "WHERE (SELECT COALESCE(MAX(number), 0) FROM blocks) = ? - 1", (number, block_rlp, number))
            except sqlite3.IntegrityError:
                return False
            return cur.rowcount == 1

    def truncate(self, height: int) -> None:
        """Delete every block above `height` and every pending submission, in one transaction
        (a dev snapshot's revert, engine/dev/snapshots.py). Idempotent: every node of the
        machine reverting to the same snapshot may call it."""
        with self._lock, _unavailable_on_error("truncate the block log"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM blocks WHERE number > ?", (height,))
                self._conn.execute("DELETE FROM submissions")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._taken_up_to = 0

    def acknowledge(self, tx_hashes: list[bytes]) -> None:
        if not tx_hashes:
            return
        with self._lock, _unavailable_on_error("acknowledge"):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("DELETE FROM submissions WHERE hash = ?", [(h,) for h in tx_hashes])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def get_block_rlp(self, number: int) -> bytes | None:
        with self._lock:
            self._seen_version = self._data_version()
            row = self._conn.execute("SELECT rlp FROM blocks WHERE number = ?", (number,)).fetchone()
        return bytes(row[0]) if row else None

    def head_number(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT MAX(number) FROM blocks").fetchone()
        return int(row[0] or 0)

    def _data_version(self) -> int:
        """Changes whenever another connection commits to the file (SQLite's `data_version`)."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def wait_for_activity(self, timeout: float) -> None:
        """Until another node committed to the file since our last read, or the timeout.

        inotify on the file's directory wakes an idle node when a commit writes the WAL; the
        commit becomes visible a moment later (the WAL index is shared memory, which makes no
        event), so the wait is cut into slices of IDLE_POLL_MAX_S and `data_version` is checked
        after each: a wake-up is never lost, only possibly late by one slice. Without inotify
        the slices poll with a back-off from `poll_interval_s`.
        """
        deadline = time.monotonic() + timeout
        delay = self.poll_interval_s
        while True:
            if self._submitted.is_set():  # a submission through this instance (data_version ignores our own)
                self._submitted.clear()
                return
            with self._lock:
                if self._data_version() != self._seen_version:
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._watch is not None:
                if self._watch.read(timeout=max(1, int(min(remaining, IDLE_POLL_MAX_S) * 1000))):
                    delay = self.poll_interval_s  # a write: look again soon for its commit
                    self._submitted.wait(min(delay, max(0.0, deadline - time.monotonic())))
                continue
            self._submitted.wait(min(delay, remaining))
            delay = min(delay * 2, max(IDLE_POLL_MAX_S, self.poll_interval_s))

    def wake(self) -> None:
        self._submitted.set()  # seen after the current inotify slice (IDLE_POLL_MAX_S at most)

    def report_head(self, number: int) -> None:
        """Replace this node's file (write, then rename: a reader sees the old or the new height)."""
        target = self._heads_dir / quote(self.name, safe="")
        temporary = target.with_name(target.name + ".tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(descriptor, str(number).encode())
            finally:
                os.close(descriptor)
            os.replace(temporary, target)
        except OSError as exc:
            logger.debug("%s: cannot report head %d: %s", self.name, number, exc)

    def reported_heads(self) -> dict[str, int]:
        heads = {}
        try:
            entries = list(os.scandir(self._heads_dir))
        except OSError:
            return {}
        for entry in entries:
            if entry.name.endswith(".tmp"):
                continue
            try:
                with open(entry.path, "rb") as file:
                    heads[unquote(entry.name)] = int(file.read(32))
            except (OSError, ValueError):
                continue  # replaced or removed meanwhile: the next read has it
        return heads

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        self.resign()
