"""The SQL payload store, on SQLite always and on PostgreSQL when
PRIVNET_TEST_POSTGRES_DSN is set (the same code path, another dialect)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera_like.errors import ConfigError
from tessera_like.store.sql import RAW_TABLE, TX_TABLE, SqlPayloadStore, dialect_for
from tessera_like.types import PayloadHash

POSTGRES_DSN = os.environ.get("PRIVNET_TEST_POSTGRES_DSN")
BACKENDS = ["sqlite-file", "sqlite-memory"] + (["postgresql"] if POSTGRES_DSN else [])


def h(n: int) -> PayloadHash:
    return PayloadHash(n.to_bytes(64, "big"))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlPayloadStore]:
    if request.param == "sqlite-file":
        s = SqlPayloadStore(f"sqlite:///{tmp_path / 'manager.db'}")
    elif request.param == "sqlite-memory":
        s = SqlPayloadStore("sqlite:///:memory:")
    else:
        s = SqlPayloadStore(str(POSTGRES_DSN))
        s._run(lambda cur: cur.execute(f"DELETE FROM {TX_TABLE}"))
        s._run(lambda cur: cur.execute(f"DELETE FROM {RAW_TABLE}"))
    yield s
    s.close()


def test_put_is_idempotent_and_get_returns_the_first(store: SqlPayloadStore) -> None:
    assert store.put(h(1), b"first") is True
    assert store.put(h(1), b"second") is False
    assert store.get(h(1)) == b"first"
    assert store.get(h(2)) is None
    assert store.count() == 1


def test_raw_payloads_live_apart(store: SqlPayloadStore) -> None:
    store.put_raw(h(7), b"raw")
    assert store.get(h(7)) is None
    assert store.get_raw(h(7)) == b"raw"
    assert store.count() == 0
    store.put(h(7), b"distributed")
    assert store.delete_raw(h(7)) is True
    assert store.get(h(7)) == b"distributed"
    assert store.delete_raw(h(7)) is False


def test_delete_and_replace(store: SqlPayloadStore) -> None:
    store.put(h(3), b"a")
    store.replace(h(3), b"b")
    assert store.get(h(3)) == b"b"
    assert store.delete(h(3)) is True
    assert store.delete(h(3)) is False
    assert store.get(h(3)) is None


def test_scan_pages_through_everything_in_hash_order(store: SqlPayloadStore) -> None:
    for n in range(23):
        store.put(h(1000 - n), bytes([n]))
    seen = list(store.scan(batch_size=5))
    assert [k for k, _ in seen] == sorted(h(1000 - n) for n in range(23))
    assert len({v for _, v in seen}) == 23


def test_concurrent_writers(store: SqlPayloadStore) -> None:
    def writer(base: int) -> None:
        for n in range(25):
            store.put(h(base + n), b"x" * 100)

    threads = [threading.Thread(target=writer, args=(i * 1000,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 150


def test_committed_rows_survive_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'manager.db'}"
    first = SqlPayloadStore(url)
    first.put(h(9), b"kept")
    first.close()
    second = SqlPayloadStore(url)
    assert second.get(h(9)) == b"kept"
    mode = second._run(lambda cur: cur.execute("PRAGMA journal_mode").fetchone())[0]
    assert mode.lower() == "wal"
    second.close()


@pytest.mark.parametrize("url", ["mysql://x", "sqlite:relative.db"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="db_url"):
        dialect_for(url)


def test_postgres_statements_use_psycopg_placeholders() -> None:
    pytest.importorskip("psycopg")
    dialect = dialect_for(f"postgresql://nobody@127.0.0.1:1/{uuid.uuid4().hex}")
    assert dialect.name == "postgresql" and dialect.blob_type == "BYTEA"
    assert dialect.sql("SELECT x FROM t WHERE a = ? AND b = ?") == "SELECT x FROM t WHERE a = %s AND b = %s"
