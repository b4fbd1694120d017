"""A real PostgreSQL server for tests, started by the tests themselves (no system service).

Once per session: `initdb` into a temp folder (a template cluster, never started), then a copy
of it started with `pg_ctl start -w` on a free loopback port; each test asks for a fresh empty
database (`CREATE DATABASE … TEMPLATE template0`, under 0.1 s). Everything stops and is
removed at the end of the session (and at interpreter exit, should the session be cut short).

Authentication is real: `pg_hba.conf` trusts the superuser `postgres` on 127.0.0.1 (the
tests' admin connection) and asks everybody else for a SCRAM password. The databases handed
to tests belong to the role `privnet`, so their URLs have the form a manager is configured
with: `postgresql://privnet:<password>@127.0.0.1:<port>/<db>`.

PostgreSQL refuses to run as root, and CI runs the suite as root: then initdb, pg_ctl and
the server run as the `postgres` system user (created by Debian's `postgresql` package;
`nobody` otherwise, or `PRIVNET_TEST_POSTGRES_USER`), the folder being chowned to it.

Binaries: `PRIVNET_TEST_POSTGRES_BIN`, else the newest `/usr/lib/postgresql/*/bin` (Debian,
Ubuntu), else `initdb` on PATH. Without them (or without psycopg) the PostgreSQL tests are
skipped with the reason; `PRIVNET_REQUIRE_POSTGRES=1` turns that skip into a failure (CI).

Fixtures (import them into a conftest or test module to use them):

- `postgres_url()`: session-scoped factory → URL of a new empty database on the shared server.
- `postgres_server_factory()`: function-scoped factory → a `PostgresServer` of the test's
  own (a copy of the template, started), for tests that stop and restart the database.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.servers import free_port

APP_USER = "privnet"
APP_PASSWORD = "privnet-test-password"
ADMIN_USER = "postgres"
BACKENDS = ("sqlite", "postgresql")

_HBA = f"""\
local all all trust
host all {ADMIN_USER} 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""
# fsync off: the tests kill managers, never the machine; a commit still reaches the server
# (and its WAL) before the manager answers, which is what "acknowledged means durable" needs.
_CONF = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
fsync = off
full_page_writes = off
shared_buffers = 16MB
log_min_messages = warning
"""


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    candidates = []
    if os.environ.get("PRIVNET_TEST_POSTGRES_BIN"):
        candidates.append(Path(os.environ["PRIVNET_TEST_POSTGRES_BIN"]))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                    if p.parent.name.isdigit() else 0, reverse=True)
    candidates.extend(debian)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _run_as() -> dict[str, Any]:
    """Popen arguments to run a PostgreSQL binary as an unprivileged user (when we are root)."""
    if os.geteuid() != 0:
        return {}
    name = os.environ.get("PRIVNET_TEST_POSTGRES_USER")
    for candidate in ([name] if name else ["postgres", "nobody"]):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(candidate)
            return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and no unprivileged user for PostgreSQL "
                       "(create `postgres`, or set PRIVNET_TEST_POSTGRES_USER)")


class PostgresServer:
    """One PostgreSQL cluster in `data_dir`, on 127.0.0.1:`port` (fixed across restarts)."""

    def __init__(self, bindir: Path, data_dir: Path, port: int) -> None:
        self.bindir = bindir
        self.data_dir = data_dir
        self.port = port
        self.log_file = data_dir.parent / f"{data_dir.name}.log"
        self._admin: Any = None
        self._lock = threading.Lock()

    def _pg(self, program: str, *args: str) -> None:
        run(self.bindir / program, *args)

    @property
    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def start(self) -> PostgresServer:
        self._pg("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file),
                 "-o", f"-p {self.port}")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate`: as if it crashed); connections to it break."""
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
        if self.running:
            self._pg("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data_dir))

    def url(self, dbname: str, user: str = APP_USER, password: str | None = APP_PASSWORD) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE, …)."""
        import psycopg

        with self._lock:
            if self._admin is None or self._admin.closed:
                self._admin = psycopg.connect(self.url("postgres", ADMIN_USER, None), autocommit=True,
                                              connect_timeout=10)
            self._admin.execute(sql)

    def create_database(self) -> str:
        """A new empty database owned by `privnet`; its URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{name}" OWNER {APP_USER} TEMPLATE template0 STRATEGY FILE_COPY')
        return self.url(name)


def run(program: Path | str, *args: str) -> None:
    """Run a PostgreSQL tool (as the unprivileged user when we are root); raise with its output."""
    done = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LC_ALL": "C"}, cwd="/", check=False, **_run_as())
    if done.returncode != 0:
        raise RuntimeError(f"{Path(program).name} {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")


class _Cluster:
    """The session's PostgreSQL: a template made by initdb, and servers started from copies of it."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="privnet-pg-"))
        self.servers: list[PostgresServer] = []
        self.shared: PostgresServer | None = None
        self._lock = threading.Lock()
        self._shared_lock = threading.Lock()
        self.template = self.root / "template"
        try:
            owner = _run_as()
            if owner:
                os.chown(self.root, owner["user"], owner["group"])
            run(bindir / "initdb", "-D", str(self.template), "-U", ADMIN_USER, "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync")
            (self.template / "pg_hba.conf").write_text(_HBA)
            with (self.template / "postgresql.conf").open("a") as conf:
                conf.write(_CONF)
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def new_server(self) -> PostgresServer:
        """A running server on its own copy of the template, with the `privnet` role."""
        with self._lock:
            data_dir = self.root / f"data{len(self.servers)}"
            run("cp", "-a", str(self.template), str(data_dir))
            server = PostgresServer(self.bindir, data_dir, free_port())
            self.servers.append(server)
        server.start()
        server.admin(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
        return server

    def shared_server(self) -> PostgresServer:
        with self._shared_lock:
            if self.shared is None:
                self.shared = self.new_server()
            return self.shared

    def shutdown(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


_cluster: _Cluster | None = None
_cluster_missing: str | None = None  # why the tests skip: no binaries, no psycopg
_cluster_broken: str | None = None  # why they fail: initdb failed (not tried again)
_cluster_lock = threading.Lock()


def cluster() -> _Cluster:
    """The session's cluster (made on first use); skips the test when PostgreSQL is missing."""
    global _cluster, _cluster_missing, _cluster_broken
    with _cluster_lock:
        if _cluster is None and _cluster_missing is None and _cluster_broken is None:
            _cluster_missing = _missing()
            if _cluster_missing is None:
                try:
                    _cluster = _Cluster(find_bindir())  # type: ignore[arg-type]
                except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                    _cluster_broken = f"cannot set up the test PostgreSQL server: {exc}"
                else:
                    atexit.register(shutdown)
        if _cluster is None:
            if _cluster_broken is not None:
                pytest.fail(_cluster_broken)
            if os.environ.get("PRIVNET_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"PRIVNET_REQUIRE_POSTGRES=1 but {_cluster_missing}")
            pytest.skip(str(_cluster_missing))
        return _cluster


def _missing() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 is not installed (pip install -e '.[postgres]')"
    if find_bindir() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` "
                "package or set PRIVNET_TEST_POSTGRES_BIN")
    return None


def shutdown() -> None:
    """Stop every server of the session and remove their files (idempotent)."""
    global _cluster
    with _cluster_lock:
        current, _cluster = _cluster, None
    if current is not None:
        current.shutdown()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[Callable[[], str]]:
    """`postgres_url()` → `postgresql://privnet:…@127.0.0.1:<port>/<new empty database>`."""
    yield lambda: cluster().shared_server().create_database()
    shutdown()


@pytest.fixture
def postgres_server_factory() -> Iterator[Callable[[], PostgresServer]]:
    """`postgres_server_factory()` → a running server of this test's own (stopped after it)."""
    made: list[PostgresServer] = []

    def make() -> PostgresServer:
        made.append(cluster().new_server())
        return made[-1]

    yield make
    for server in made:
        with contextlib.suppress(Exception):
            server.stop("immediate")


def database_url(request: pytest.FixtureRequest, backend: str, sqlite_file: Path) -> str:
    """A fresh empty database of `backend` ("sqlite": the file `sqlite_file`; "postgresql": a new
    database on the session's server). The caller's module or conftest must import `postgres_url`."""
    if backend == "sqlite":
        return f"sqlite:///{sqlite_file}"
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}; one of {BACKENDS}")
    factory: Callable[[], str] = request.getfixturevalue("postgres_url")
    return factory()


__all__ = ["APP_PASSWORD", "APP_USER", "BACKENDS", "PostgresServer", "cluster", "database_url", "find_bindir",
           "postgres_server_factory", "postgres_url", "shutdown"]
