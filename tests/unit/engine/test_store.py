"""SqliteKV: writes are one SQLite transaction until `commit()`; nothing uncommitted survives a reopen."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth.db.atomic import AtomicDB

from engine.db.store import SqliteKV


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sub" / "chain.sqlite"


@pytest.fixture
def kv(path: Path) -> Iterator[SqliteKV]:
    store = SqliteKV(path)
    try:
        yield store
    finally:
        store.close()


def reopened(path: Path) -> dict[bytes, bytes]:
    store = SqliteKV(path)
    try:
        return {k: store[k] for k in (b"a", b"b", b"c") if k in store}
    finally:
        store.close()


def test_read_your_writes_and_missing_keys(kv: SqliteKV):
    kv[b"a"] = b"1"
    assert kv[b"a"] == b"1" and b"a" in kv and kv.exists(b"a")
    kv[b"a"] = b"2"
    assert kv[b"a"] == b"2"
    del kv[b"a"]
    assert b"a" not in kv
    with pytest.raises(KeyError):
        _ = kv[b"a"]
    with pytest.raises(KeyError):
        del kv[b"a"]


def test_commit_makes_writes_visible_to_another_connection(path: Path, kv: SqliteKV):
    other = SqliteKV(path)
    try:
        kv[b"a"] = b"1"
        assert b"a" not in other  # still inside this connection's transaction
        kv.commit()
        assert other[b"a"] == b"1"
        kv.commit()  # nothing pending: a no-op
    finally:
        other.close()


def test_rollback_undoes_every_write_since_the_last_commit(kv: SqliteKV):
    kv[b"a"] = b"1"
    kv.commit()
    kv[b"a"] = b"2"
    kv[b"b"] = b"3"
    del kv[b"a"]
    kv.rollback()
    assert kv[b"a"] == b"1" and b"b" not in kv
    kv.rollback()  # nothing pending: a no-op
    kv[b"c"] = b"4"  # a new transaction starts after a rollback
    kv.commit()
    assert kv[b"c"] == b"4"


def test_uncommitted_writes_vanish_on_reopen(path: Path):
    store = SqliteKV(path)
    store[b"a"] = b"committed"
    store.commit()
    store[b"b"] = b"not committed"
    store[b"a"] = b"overwritten, not committed"
    store.close()
    assert reopened(path) == {b"a": b"committed"}


def test_uncommitted_writes_vanish_after_a_crash(path: Path):
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from engine.db.store import SqliteKV
        store = SqliteKV(Path({str(path)!r}))
        store[b"a"] = b"committed"
        store.commit()
        store[b"b"] = b"in flight"
        store[b"a"] = b"in flight"
        os._exit(0)  # no close, no rollback: as if killed mid-block
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert reopened(path) == {b"a": b"committed"}


def test_atomic_db_batch_commits_into_one_sqlite_transaction(path: Path, kv: SqliteKV):
    db = AtomicDB(kv)
    with db.atomic_batch() as batch:
        batch[b"a"] = b"1"
        batch[b"b"] = b"2"
    assert db[b"a"] == b"1"
    kv.rollback()  # the batch reached SQLite, but the block was never committed
    assert b"a" not in db and b"b" not in db
    with db.atomic_batch() as batch:
        batch[b"c"] = b"3"
    kv.commit()
    assert reopened(path) == {b"c": b"3"}
