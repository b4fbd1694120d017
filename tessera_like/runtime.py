"""Wiring and lifecycle: build a manager from settings and serve both APIs.

`ManagerProcess` runs the Q2T and P2P servers (two uvicorn servers) on background threads
of the current process, so tests and tools can start a real manager in a few lines::

    with ManagerProcess(settings) as proc:
        httpx.post(f"{proc.q2t_url}/send", json={...})

`run_manager(settings)` does the same in the foreground until SIGTERM/SIGINT; it is what
`python -m tessera_like --config manager.toml` calls.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import ssl
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import uvicorn

from tessera_like.api.app import create_p2p_app, create_q2t_app
from tessera_like.api.peer_identity import PeerIdentityProtocol
from tessera_like.api.serving import QuietServer
from tessera_like.commitments import CommitmentService
from tessera_like.config import ManagerSettings, is_loopback_host
from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.crypto.keyfile import load_key_pair, read_password_file
from tessera_like.crypto.keys import InMemoryKeyStore, decode_key, encode_key
from tessera_like.errors import ConfigError
from tessera_like.manager import TransactionManager
from tessera_like.partyinfo import PartyInfo
from tessera_like.peer_client import HttpPeerClient
from tessera_like.peers import PeerNetwork
from tessera_like.snapshots import StoreSnapshots
from tessera_like.store.commitments import SqlCommitmentStore
from tessera_like.store.sql import SqlPayloadStore
from tessera_like.tokenfile import q2t_token_for
from tessera_like.types import KeyPair, PublicKey

log = logging.getLogger("tessera_like")


def load_keys(settings: ManagerSettings) -> list[KeyPair]:
    """Every configured key pair, unlocked; raises KeyFileError naming the file at fault."""
    pairs = []
    for entry in settings.keys:
        password = read_password_file(entry.password_file) if entry.password_file is not None else None
        pairs.append(load_key_pair(entry.private_key_file, password, entry.public_key_file))
    return pairs


@dataclass
class ManagerParts:
    """Everything a running manager is made of (for tests that look inside)."""

    manager: TransactionManager
    network: PeerNetwork
    store: SqlPayloadStore
    #: Divergence detection (tessera_like/commitments.py): its delivery thread runs while served.
    commitments: CommitmentService | None = None


def build_manager(settings: ManagerSettings, keys: list[KeyPair] | None = None) -> ManagerParts:
    """Load keys, open the store, set up peers; nothing is served or started yet.

    Opening the store connects to the database and applies pending schema migrations; a
    database that cannot be reached or is newer than this code raises StorageError, naming
    the database (never its password) and the reason.
    """
    key_store = InMemoryKeyStore(keys if keys is not None else load_keys(settings))
    store = SqlPayloadStore(settings.db_url, settings.sqlite_synchronous)
    try:
        tls = settings.tls
        client_cert = (str(tls.cert_file), str(tls.key_file)) if tls.client_auth else None
        client = HttpPeerClient(timeout=settings.peer_timeout_seconds,
                                ca_file=str(tls.ca_file) if tls.ca_file else None, client_cert=client_cert,
                                local_address=_source_address(settings.p2p_host),
                                keepalive_s=peer_keepalive_s(settings))
        party = PartyInfo(settings.advertised_p2p_url, key_store, settings.peers,
                          allow_list=settings.peers if settings.use_peer_allow_list else None)
        network = PeerNetwork(party, client, settings.gossip_interval_seconds)
        always = [PublicKey(decode_key(k, "always_send_to")) for k in settings.always_send_to]
        manager = TransactionManager(key_store, store, X25519Encryptor(), network, always,
                                     settings.max_payload_bytes)
    except BaseException:
        store.close()
        raise
    log.info("payload store: %s, schema version %d", store.dialect.description, store.schema_version)
    commitments = CommitmentService(key_store, store, SqlCommitmentStore(store), network, client.post_commitment)
    return ManagerParts(manager, network, store, commitments)


def _source_address(p2p_host: str) -> str | None:
    """Where P2P requests leave from: the P2P host when it is a loopback address.

    Managers sharing a machine on 127.0.0.x are told apart by the address they call from
    (the identity of plain HTTP); elsewhere the route picks the source address.
    """
    return p2p_host if p2p_host != "localhost" and is_loopback_host(p2p_host) else None


#: The P2P server keeps an idle connection this much longer than its peers' clients do, so a
#: client never reuses a connection the server is closing at that moment.
PEER_KEEPALIVE_MARGIN_S = 5


def peer_keepalive_s(settings: ManagerSettings) -> float:
    """How long idle P2P connections are kept: three gossip rounds. uvicorn's and httpx's 5 s
    default equals the default gossip interval, so every round reconnected and paid a mutual TLS
    handshake on both sides (measured: managers' idle CPU 0.0025 → 0.006 cores each)."""
    return max(30.0, 3 * settings.gossip_interval_seconds)


def _tcp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it every response waits out a delayed ACK (~40 ms per request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _unix_socket(path: Path) -> socket.socket:
    if path.exists():
        if not stat.S_ISSOCK(path.stat().st_mode):
            raise ConfigError(f"q2t_socket: {path} exists and is not a socket")
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # owner-only from the moment it exists
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _ServerThread:
    """One uvicorn server on a pre-bound socket, on its own thread and event loop."""

    def __init__(self, app: Any, sock: socket.socket, name: str, log_level: str, **ssl_options: Any) -> None:
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5, **ssl_options)
        self.server = QuietServer(config)
        self.sock = sock
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # reported by start(); SystemExit from uvicorn included
            self.error = exc

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.thread.name} did not start"
                                   + (f": {self.error!r}" if self.error else ""))
            time.sleep(0.01)

    def stop(self) -> None:
        """Finish in-flight requests (up to the graceful timeout), then close.

        Note: idle keep-alive connections are not waited for. A TLS connection only closes
        after the peer answers close_notify, which an idle client never does, so uvicorn
        would otherwise sit out its whole graceful timeout on every stop.
        """
        self.server.should_exit = True
        deadline = time.monotonic() + 15
        while self.thread.is_alive() and time.monotonic() < deadline:
            self.thread.join(timeout=0.1)
            if self.thread.is_alive() and not self.server.server_state.tasks:
                self.server.force_exit = True
        with contextlib.suppress(OSError):
            self.sock.close()


class ManagerProcess:
    """A manager serving Q2T and P2P from this process, on background threads.

    Ports may be 0 (the OS picks; `q2t_url`/`p2p_url` tell which). The advertised P2P URL
    defaults to the bound address. `start()` returns once both servers accept requests
    and the first gossip round has been launched.
    """

    def __init__(self, settings: ManagerSettings, keys: list[KeyPair] | None = None) -> None:
        self._keys = keys
        self.settings = settings
        self.parts: ManagerParts | None = None
        self._servers: list[_ServerThread] = []
        self.q2t_url = ""
        self.p2p_url = ""
        #: The bearer token TCP Q2T requests need (None on a unix socket). Never print or log it.
        self.q2t_token: str | None = None

    @property
    def manager(self) -> TransactionManager:
        assert self.parts is not None, "start() first"
        return self.parts.manager

    @property
    def public_keys(self) -> list[str]:
        return [encode_key(k) for k in self.manager.keys.public_keys()]

    def start(self) -> ManagerProcess:
        settings = self.settings
        if settings.q2t_socket is None and not is_loopback_host(settings.q2t_host):
            raise ConfigError(f"q2t_host: the Q2T API binds to loopback only, not {settings.q2t_host!r}")
        self.q2t_token = q2t_token_for(settings)
        p2p_sock = _tcp_socket(settings.p2p_host, settings.p2p_port)
        q2t_sock: socket.socket | None = None
        try:
            p2p_port = p2p_sock.getsockname()[1]
            if settings.q2t_socket is not None:
                q2t_sock = _unix_socket(settings.q2t_socket)
            else:
                q2t_sock = _tcp_socket(settings.q2t_host, settings.q2t_port)
            update: dict[str, Any] = {"p2p_port": p2p_port}
            if settings.q2t_socket is None:
                update["q2t_port"] = q2t_sock.getsockname()[1]
            self.settings = settings = settings.model_copy(update=update)
            self.parts = build_manager(settings, self._keys)
        except BaseException:
            p2p_sock.close()
            if q2t_sock is not None:
                q2t_sock.close()
            raise
        self.p2p_url = settings.advertised_p2p_url
        if settings.q2t_socket is not None:
            self.q2t_url = f"unix://{settings.q2t_socket}"
        else:
            host = f"[{settings.q2t_host}]" if ":" in settings.q2t_host else settings.q2t_host
            self.q2t_url = f"http://{host}:{settings.q2t_port}"
        tls = settings.tls
        ssl_options: dict[str, Any] = {}
        if tls.enabled:
            ssl_options = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
            if tls.client_auth:
                ssl_options.update(ssl_cert_reqs=ssl.CERT_REQUIRED, ssl_ca_certs=str(tls.ca_file))
        self._servers = [
            _ServerThread(create_p2p_app(self.parts.manager, self.parts.network, self.parts.commitments), p2p_sock,
                          f"tessera-like-p2p-{p2p_port}", settings.log_level, http=PeerIdentityProtocol,
                          timeout_keep_alive=int(peer_keepalive_s(settings)) + PEER_KEEPALIVE_MARGIN_S,
                          **ssl_options),
            _ServerThread(create_q2t_app(self.parts.manager, q2t_token=self.q2t_token,
                                         commitments=self.parts.commitments,
                                         snapshots=StoreSnapshots(settings.db_url) if settings.dev_snapshots else None),
                          q2t_sock,
                          "tessera-like-q2t", settings.log_level),
        ]
        try:
            for server in self._servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        self.parts.network.start()
        if self.parts.commitments is not None:
            self.parts.commitments.start()
        log.info("tessera_like up: q2t=%s p2p=%s keys=%s", self.q2t_url, self.p2p_url,
                 ",".join(self.public_keys))
        return self

    def stop(self) -> None:
        """Stop both servers, then gossip, then close the store. Safe to call twice."""
        servers, self._servers = self._servers, []
        for server in servers:  # first: in-flight requests still need peers and the store
            server.stop()
        if self.parts is not None:
            if self.parts.commitments is not None:
                self.parts.commitments.stop()
            self.parts.network.stop()
            self.parts.store.close()
        if self.settings.q2t_socket is not None:
            with contextlib.suppress(OSError):
                self.settings.q2t_socket.unlink()

    def __enter__(self) -> ManagerProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def run_manager(settings: ManagerSettings, ready: threading.Event | None = None,
                stop: threading.Event | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or `stop` is set); return the exit status.

    Prints one line `tessera_like ready q2t=<url> p2p=<url> keys=<b64,…>` on stdout once
    both servers accept requests, for scripts that start it as a subprocess.
    """
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    process = ManagerProcess(settings)
    try:
        process.start()
        print(f"tessera_like ready q2t={process.q2t_url} p2p={process.p2p_url} keys={','.join(process.public_keys)}",
              flush=True)
        if ready is not None:
            ready.set()
        while not stop.wait(5.0):  # woken at once by the signal handler's stop.set()
            pass
    finally:
        process.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


__all__ = ["ManagerParts", "ManagerProcess", "build_manager", "load_keys", "run_manager"]
