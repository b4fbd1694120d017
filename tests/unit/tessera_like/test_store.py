"""The SQL payload store and its migrations, on SQLite and on a real PostgreSQL server
(tests/helpers/postgres.py): the same code path, another dialect."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tessera_like.config import load_settings
from tessera_like.errors import ConfigError, StorageError
from tessera_like.store.migrations import MIGRATIONS, VERSION_TABLE, Migration
from tessera_like.store.sql import RAW_TABLE, SCHEMA_VERSION, TX_TABLE, SqlPayloadStore, dialect_for
from tessera_like.types import PayloadHash
from tests.helpers.postgres import APP_PASSWORD, PostgresServer, cluster

# The schema as the store created it before migrations existed (its databases must open unchanged).
PRE_MIGRATION_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tessera_like_schema (version INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {TX_TABLE} ("
    "hash {blob} PRIMARY KEY, encoded_payload {blob} NOT NULL, stored_at BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} ("
    "hash {blob} PRIMARY KEY, encoded_payload {blob} NOT NULL, stored_at BIGINT NOT NULL)",
)


#: Every schema version this code knows, in order (what a fresh or upgraded database records).
ALL_VERSIONS = [m.version for m in MIGRATIONS]
NEXT = SCHEMA_VERSION + 1


def h(n: int) -> PayloadHash:
    return PayloadHash(n.to_bytes(64, "big"))


def execute(url: str, *statements: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run statements on the database behind `url` directly (not through the store); the last's rows."""
    dialect = dialect_for(url)
    conn = dialect.connect()
    try:
        cur = conn.cursor()
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cur.execute(dialect.sql(statement.format(blob=dialect.blob_type)), params if "?" in statement else ())
            rows = list(cur.fetchall()) if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def versions(url: str) -> list[int]:
    return [int(str(v)) for (v,) in execute(url, f"SELECT version FROM {VERSION_TABLE} ORDER BY version")]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database that outlives one store: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'manager.db'}"
    factory: Callable[[], str] = request.getfixturevalue("postgres_url")
    return factory()


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlPayloadStore]:
    if request.param == "sqlite-file":
        s = SqlPayloadStore(f"sqlite:///{tmp_path / 'manager.db'}")
    elif request.param == "sqlite-memory":
        s = SqlPayloadStore("sqlite:///:memory:")
    else:
        s = SqlPayloadStore(request.getfixturevalue("postgres_url")())
    yield s
    s.close()


# -- conformance: the same behaviour on every backend -----------------------------------


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
    store.put(PayloadHash(b"\xff" * 64), b"high bit")  # bytes compare unsigned on both databases
    seen = list(store.scan(batch_size=5))
    assert [k for k, _ in seen] == sorted([h(1000 - n) for n in range(23)] + [PayloadHash(b"\xff" * 64)])
    assert len({v for _, v in seen}) == 24


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


def test_a_new_store_is_at_the_newest_schema_version(store: SqlPayloadStore) -> None:
    assert store.schema_version == SCHEMA_VERSION == MIGRATIONS[-1].version
    assert store.current_schema_version() == SCHEMA_VERSION


def test_committed_rows_survive_reopening(fresh_url: str) -> None:
    first = SqlPayloadStore(fresh_url)
    first.put(h(9), b"kept")
    first.close()
    second = SqlPayloadStore(fresh_url)
    assert second.get(h(9)) == b"kept"
    second.close()
    assert versions(fresh_url) == ALL_VERSIONS  # reopening applies nothing again


def test_sqlite_files_are_in_wal_mode(tmp_path: Path) -> None:
    store = SqlPayloadStore(f"sqlite:///{tmp_path / 'db' / 'manager.db'}")
    mode = store._run(lambda cur: cur.execute("PRAGMA journal_mode").fetchone())[0]
    assert mode.lower() == "wal"
    store.close()


# -- migrations ---------------------------------------------------------------------------


def test_a_database_made_before_migrations_opens_unchanged(fresh_url: str) -> None:
    execute(fresh_url, *PRE_MIGRATION_SCHEMA)
    execute(fresh_url, "INSERT INTO tessera_like_schema (version) VALUES (1)")
    execute(fresh_url, f"INSERT INTO {TX_TABLE} VALUES (?, ?, 1700000000)", params=(bytes(h(5)), b"old row"))
    store = SqlPayloadStore(fresh_url)  # its rows kept, later migrations applied
    assert store.schema_version == SCHEMA_VERSION and store.get(h(5)) == b"old row"
    store.close()
    assert versions(fresh_url) == ALL_VERSIONS


def test_payload_tables_without_a_recorded_version_are_adopted(fresh_url: str) -> None:
    execute(fresh_url, *PRE_MIGRATION_SCHEMA[1:])
    execute(fresh_url, f"INSERT INTO {RAW_TABLE} VALUES (?, ?, 1700000000)", params=(bytes(h(6)), b"raw row"))
    store = SqlPayloadStore(fresh_url)
    assert store.get_raw(h(6)) == b"raw row"
    store.close()
    assert versions(fresh_url) == ALL_VERSIONS


def test_a_table_of_another_shape_is_refused(fresh_url: str) -> None:
    execute(fresh_url, f"CREATE TABLE {TX_TABLE} (id INTEGER PRIMARY KEY, data {{blob}})")
    with pytest.raises(StorageError, match=rf"table {TX_TABLE} with columns data, id, not this manager's"):
        SqlPayloadStore(fresh_url)


def test_new_migrations_apply_in_order_once_and_newer_schemas_are_refused(fresh_url: str) -> None:
    SqlPayloadStore(fresh_url).close()
    upgrades = (*MIGRATIONS,
                Migration(NEXT, "an index on stored_at", (f"CREATE INDEX tx_stored_at ON {TX_TABLE} (stored_at)",)),
                Migration(NEXT + 1, "a notes table", ("CREATE TABLE upgrade_notes (note TEXT NOT NULL)",
                                                      "INSERT INTO upgrade_notes (note) VALUES ('v3')")))
    upgraded = SqlPayloadStore(fresh_url, migrations=upgrades)
    assert upgraded.schema_version == NEXT + 1
    upgraded.put(h(1), b"after the upgrade")
    upgraded.close()
    SqlPayloadStore(fresh_url, migrations=upgrades).close()  # idempotent on restart
    assert versions(fresh_url) == [*ALL_VERSIONS, NEXT, NEXT + 1]
    assert execute(fresh_url, "SELECT note FROM upgrade_notes") == [("v3",)]
    with pytest.raises(StorageError, match=rf"has schema version {NEXT + 1}, newer than this manager knows "
                                           rf"\({SCHEMA_VERSION}\)"):
        SqlPayloadStore(fresh_url)


def test_a_failing_migration_leaves_the_version_before(fresh_url: str) -> None:
    SqlPayloadStore(fresh_url).close()
    broken = (*MIGRATIONS, Migration(NEXT, "half done", ("CREATE TABLE half_done (x INTEGER)",
                                                         "INSERT INTO no_such_table VALUES (1)")))
    with pytest.raises(StorageError, match="cannot open the payload store .*no_such_table"):
        SqlPayloadStore(fresh_url, migrations=broken)
    assert versions(fresh_url) == ALL_VERSIONS
    store = SqlPayloadStore(fresh_url, migrations=(*MIGRATIONS, Migration(NEXT, "again", (
        "CREATE TABLE half_done (x INTEGER)",))))  # the half-done table was rolled back with it
    assert store.schema_version == NEXT
    store.close()


def test_managers_opening_one_database_together_migrate_it_once(fresh_url: str) -> None:
    stores: list[SqlPayloadStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_store() -> None:
        start.wait()
        try:
            stores.append(SqlPayloadStore(fresh_url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(stores) == 6
    for s in stores:
        s.close()
    assert versions(fresh_url) == ALL_VERSIONS


def test_migrations_must_be_numbered_in_order(tmp_path: Path) -> None:
    got = ", ".join(str(v) for v in [*ALL_VERSIONS, NEXT + 1])
    with pytest.raises(ValueError, match=rf"numbered 1, 2, 3, … in order, got \[{got}\]"):
        SqlPayloadStore(f"sqlite:///{tmp_path / 'x.db'}", migrations=(*MIGRATIONS, Migration(NEXT + 1, "gap", ())))


# -- PostgreSQL: the URL, errors when opening, connections lost while running ------------


def test_postgres_statements_use_psycopg_placeholders() -> None:
    pytest.importorskip("psycopg")
    dialect = dialect_for(f"postgres://nobody@127.0.0.1:1/{uuid.uuid4().hex}")
    assert dialect.name == "postgresql" and dialect.blob_type == "BYTEA"
    assert dialect.sql("SELECT x FROM t WHERE a = ? AND b = ?") == "SELECT x FROM t WHERE a = %s AND b = %s"


@pytest.mark.parametrize("url", ["mysql://x", "sqlite:relative.db", "postgresql+psycopg://h/db"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="db_url"):
        dialect_for(url)


def test_db_url_from_file_or_environment_is_checked_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg")
    config = tmp_path / "manager.toml"
    url = "postgresql://privnet:s3cret@db.example:5433/tessera?sslmode=require"
    config.write_text(f'db_url = "{url}"\n[[keys]]\npublic_key_file = "k.pub"\nprivate_key_file = "k.key"\n')
    assert load_settings(config).db_url == url  # not a path: left as it is
    monkeypatch.setenv("TESSERA_LIKE_DB_URL", "postgres://other@127.0.0.1/tm")
    assert load_settings(config).db_url == "postgres://other@127.0.0.1/tm"
    monkeypatch.setenv("TESSERA_LIKE_DB_URL", "postgresql://privnet:pa%zzword@h/db")
    with pytest.raises(ConfigError, match="db_url: not a valid PostgreSQL URL") as caught:
        load_settings(config)
    assert "pa%zzword" not in caught.value.message
    monkeypatch.setenv("TESSERA_LIKE_DB_URL", "mysql://h/db")
    with pytest.raises(ConfigError, match="db_url: unsupported database URL 'mysql'"):
        load_settings(config)


def test_connection_defaults_give_way_to_the_url() -> None:
    pytest.importorskip("psycopg")
    described = dialect_for("postgresql://app:pw@db.example:6543/tm?connect_timeout=3").description
    assert described == "PostgreSQL app@db.example:6543/tm" and "pw" not in described


def _open_error(url: str) -> str:
    with pytest.raises(StorageError) as caught:
        SqlPayloadStore(url)
    return caught.value.message


def test_opening_fails_with_the_reason_and_without_the_password(postgres_url: Callable[[], str]) -> None:
    url = postgres_url()
    server = url.rsplit("/", 1)[0]
    message = _open_error(url.replace(APP_PASSWORD, "wrong-password"))
    assert "cannot open the payload store (PostgreSQL privnet@127.0.0.1" in message
    assert "password authentication failed" in message and "wrong-password" not in message
    assert 'database "no_such_db" does not exist' in _open_error(f"{server}/no_such_db")
    port = int(server.rsplit(":", 1)[1])
    refused = _open_error(url.replace(f":{port}/", ":1/"))
    assert "127.0.0.1:1/" in refused and "Connection refused" in refused and APP_PASSWORD not in refused


def test_broken_connections_are_replaced(postgres_url: Callable[[], str]) -> None:
    """The server ends every session (a restart, a failover): the next statement still works."""
    url = postgres_url()
    store = SqlPayloadStore(url)
    store.put(h(1), b"before")
    dbname = url.rsplit("/", 1)[1]
    cluster().shared_server().admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'")
    assert store.get(h(1)) == b"before"
    assert store.put(h(2), b"after") is True
    store.close()


def test_database_down_is_unavailable_then_recovers(postgres_server_factory: Callable[[], PostgresServer]) -> None:
    server = postgres_server_factory()
    store = SqlPayloadStore(server.create_database())
    store.put(h(1), b"kept")
    server.stop("immediate")
    with pytest.raises(StorageError, match="^the payload store is unavailable$"):
        store.get(h(1))
    with pytest.raises(StorageError, match="unavailable"):
        store.put(h(2), b"lost")
    server.start()
    assert store.get(h(1)) == b"kept"
    assert store.put(h(2), b"after") is True
    store.close()
