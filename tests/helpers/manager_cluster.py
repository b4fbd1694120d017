"""Real managers on chosen 127.0.0.x loopback addresses, for the manager's integration tests.

Every manager has its own address (the identity of plain HTTP) and, with TLS, a certificate from
one test CA whose URI SAN is its advertised P2P URL (the identity of mutual TLS). Q2T is served
on a unix socket. Other callers are raw P2P clients bound to addresses of their own, so a test
can speak as a member, as an outsider or as an attacker.

A test module subclasses `Member` with the calls it needs and names it in a `Cluster` subclass:

    class Cluster(manager_cluster.Cluster[Member]):
        member_type = Member
"""

from __future__ import annotations

import base64
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import httpx

from tessera_like.abc import PayloadStoreAPI
from tessera_like.config import KeyConfig, ManagerSettings, TlsSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.peers import PeerNetwork
from tessera_like.runtime import ManagerProcess
from tessera_like.types import KeyPair, PublicKey
from tests.helpers.tls_certs import TestCA, free_port_on


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for `check` to hold (gossip and delivery run on background threads); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


@dataclass
class Member:
    """One running manager, its Q2T client (unix socket), its address and (with TLS) its certificate."""

    process: ManagerProcess
    host: str
    q2t: httpx.Client
    cert: tuple[Path, Path] | None

    @property
    def url(self) -> str:
        return self.process.p2p_url

    @property
    def key(self) -> str:
        """Its first public key, base64 (as Q2T and P2P bodies carry it)."""
        return self.process.public_keys[0]

    @property
    def raw_key(self) -> PublicKey:
        return self.process.manager.keys.public_keys()[0]

    @property
    def pair(self) -> KeyPair:
        return self.process.manager.keys.require(self.raw_key)

    @property
    def store(self) -> PayloadStoreAPI:
        return self.process.manager.store

    @property
    def network(self) -> PeerNetwork:
        assert self.process.parts is not None
        return self.process.parts.network


M = TypeVar("M", bound=Member)


class Cluster(Generic[M]):
    """Starts managers in `directory` on chosen 127.0.0.x addresses; with `tls`, mutual TLS under one CA."""

    #: The Member class `start` returns (set by each test module's subclass).
    member_type: type[M]

    def __init__(self, directory: Path, tls: bool = True) -> None:
        self.directory = directory
        self.ca = TestCA(directory / "pki") if tls else None
        self.members: list[M] = []
        self.clients: list[httpx.Client] = []
        self._sockets = Path(tempfile.mkdtemp(prefix="tm-"))  # short: unix socket paths are limited

    def url_for(self, host: str, port: int) -> str:
        return f"{'https' if self.ca else 'http'}://{host}:{port}"

    def start(self, name: str, host: str, peers: Sequence[str] = (), port: int | None = None,
              allow_list: bool = False) -> M:
        """Start manager `name` on `host` (`port`: a free one), knowing the P2P URLs `peers`.

        With `peers`, one gossip round has finished when this returns, so the peers have been
        told this member's URL whatever the timing of its own first round in the background
        (which may not even have begun under load: a test relying on it was flaky in CI).
        """
        port = port or free_port_on(host)
        pub, key = write_key_files(self.directory / name, "key", None)
        tls, cert = TlsSettings(), None
        if self.ca is not None:
            cert = self.ca.issue(name, host, [self.url_for(host, port)])
            tls = TlsSettings(enabled=True, cert_file=cert[0], key_file=cert[1], ca_file=self.ca.ca_file,
                              client_auth=True)
        settings = ManagerSettings(
            q2t_socket=self._sockets / f"{name}.ipc", p2p_host=host, p2p_port=port, peers=list(peers),
            use_peer_allow_list=allow_list, keys=[KeyConfig(public_key_file=pub, private_key_file=key)],
            db_url=f"sqlite:///{self.directory / name / 'db.sqlite'}", tls=tls, gossip_interval_seconds=3600,
            peer_timeout_seconds=5, log_level="warning")
        process = ManagerProcess(settings).start()
        q2t = httpx.Client(transport=httpx.HTTPTransport(uds=str(settings.q2t_socket)), base_url="http://tm",
                           timeout=20)
        member = self.member_type(process, host, q2t, cert)
        self.members.append(member)
        if peers:
            member.network.refresh()
        return member

    def client(self, host: str, cert: tuple[Path, Path] | None = None) -> httpx.Client:
        """A raw P2P client calling from `host` (with TLS: presenting `cert` as its client certificate)."""
        verify: ssl.SSLContext | bool = self.ca.client_context(cert) if self.ca else True
        client = httpx.Client(transport=httpx.HTTPTransport(local_address=host, verify=verify), timeout=20)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for member in reversed(self.members):
            member.q2t.close()
            member.process.stop()
        shutil.rmtree(self._sockets, ignore_errors=True)


__all__ = ["Cluster", "Member", "b64", "eventually"]
