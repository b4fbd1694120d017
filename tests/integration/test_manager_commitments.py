"""State commitments between four real managers over mutual TLS (divergence detection, PROTOCOL.md §12).

A sends a payload to B and C; D is a member of the network but no party. Nodes are stood in
for by what a node does: `POST /commitments` on its own manager's Q2T API (unix socket). Every
party path is paired with a refused forgery: a wrong MAC, a key not bound to the calling peer,
a non-party of the payload, a caller without a client certificate, a malformed body.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera_like.commitment_wire import encode_peer_commitment
from tessera_like.commitments import CommitmentService
from tessera_like.config import KeyConfig, ManagerSettings, TlsSettings
from tessera_like.crypto.commitment import CommitmentStatement, commitment_mac
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.runtime import ManagerProcess
from tessera_like.types import KeyPair, PayloadHash, PublicKey
from tests.helpers.tls_certs import TestCA, free_port_on

pytestmark = pytest.mark.integration

CONTRACT = bytes.fromhex("5a" * 20)
ROOT = bytes.fromhex("11" * 32)
CORRUPT_ROOT = bytes.fromhex("22" * 32)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


@dataclass
class Member:
    process: ManagerProcess
    q2t: httpx.Client
    cert: tuple[Path, Path]

    @property
    def url(self) -> str:
        return self.process.p2p_url

    @property
    def key(self) -> str:
        return self.process.public_keys[0]

    @property
    def pair(self) -> KeyPair:
        manager = self.process.manager
        return manager.keys.require(manager.keys.public_keys()[0])

    @property
    def service(self) -> CommitmentService:
        assert self.process.parts is not None and self.process.parts.commitments is not None
        return self.process.parts.commitments

    def commit(self, block: int, block_hash: bytes, root: bytes, payload: str,
               contract: bytes = CONTRACT) -> httpx.Response:
        return self.q2t.post("/commitments", json={"commitments": [{
            "blockNumber": block, "blockHash": "0x" + block_hash.hex(), "contract": "0x" + contract.hex(),
            "storageRoot": "0x" + root.hex(), "payloadHashes": [payload]}]})

    def divergences(self, from_block: int = 0) -> list[dict[str, Any]]:
        answer = self.q2t.get("/commitments/divergences", params={"fromBlock": str(from_block)})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["divergences"])

    def stored(self, block_hash: bytes, contract: bytes = CONTRACT) -> dict[str, bytes]:
        """party (base64) → root, of every commitment this manager holds for (block, contract)."""
        return {b64(c.party): c.storage_root for c in self.service.store.for_contract(block_hash, contract)}


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = TestCA(directory / "pki")
        self.members: list[Member] = []
        self.clients: list[httpx.Client] = []
        self._sockets = Path(tempfile.mkdtemp(prefix="tc-"))

    def start(self, name: str, host: str, peers: list[str]) -> Member:
        port = free_port_on(host)
        pub, key = write_key_files(self.directory / name, "key", None)
        cert = self.ca.issue(name, host, [f"https://{host}:{port}"])
        settings = ManagerSettings(
            q2t_socket=self._sockets / f"{name}.ipc", p2p_host=host, p2p_port=port, peers=peers,
            keys=[KeyConfig(public_key_file=pub, private_key_file=key)],
            db_url=f"sqlite:///{self.directory / name / 'db.sqlite'}",
            tls=TlsSettings(enabled=True, cert_file=cert[0], key_file=cert[1], ca_file=self.ca.ca_file,
                            client_auth=True),
            gossip_interval_seconds=3600, peer_timeout_seconds=5, log_level="warning")
        process = ManagerProcess(settings).start()
        q2t = httpx.Client(transport=httpx.HTTPTransport(uds=str(settings.q2t_socket)), base_url="http://tc",
                           timeout=20)
        member = Member(process, q2t, cert)
        self.members.append(member)
        return member

    def client(self, host: str, cert: tuple[Path, Path] | None) -> httpx.Client:
        verify: ssl.SSLContext = self.ca.client_context(cert)
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


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, list[Member], str]]:
    """A, B, C, D (mutual TLS, each on its own address); one payload from A to B and C."""
    cluster = Cluster(tmp_path_factory.mktemp("commitments"))
    a = cluster.start("a", "127.0.0.61", [])
    b = cluster.start("b", "127.0.0.62", [a.url])
    c = cluster.start("c", "127.0.0.63", [a.url])
    d = cluster.start("d", "127.0.0.64", [a.url])
    members = [a, b, c, d]
    for m in members:
        m.process.parts.network.refresh()  # type: ignore[union-attr]
    for m in members:
        eventually(lambda m=m: all(m.process.parts.network.lookup(o.pair.public) == o.url  # type: ignore
                                   for o in members if o is not m))
    sent = a.q2t.post("/send", json={"payload": b64(b"set(42)"), "to": [b.key, c.key]})
    assert sent.status_code == 201, sent.text
    try:
        yield cluster, members, sent.json()["key"]
    finally:
        cluster.close()


def test_parties_agreeing_exchange_commitments_and_report_no_divergence(net: tuple[Cluster, list[Member], str]) -> None:
    _, (a, b, c, d), payload = net
    block_hash = bytes.fromhex("01" * 32)
    for member in (a, b, c):
        answer = member.commit(7, block_hash, ROOT, payload)
        assert answer.status_code == 200 and answer.json() == {"stored": 1, "unknownPayloads": []}, answer.text
    parties = {a.key, b.key, c.key}
    for member in (a, b, c):  # B and C learn each other from A's (the sender's) party list
        eventually(lambda member=member: set(member.stored(block_hash)) == parties)
        assert set(member.stored(block_hash).values()) == {ROOT}
        assert member.divergences() == []
    assert d.stored(block_hash) == {} and d.divergences() == []
    # D commits for a payload it is no party to: its own manager does not hold it
    answer = d.commit(7, block_hash, ROOT, payload)
    assert answer.json() == {"stored": 0, "unknownPayloads": [payload]}


def test_a_differing_root_is_reported_by_every_party_naming_contract_block_and_sides(
        net: tuple[Cluster, list[Member], str]) -> None:
    _, (a, b, c, d), payload = net
    block_hash = bytes.fromhex("02" * 32)
    for member, root in ((a, ROOT), (b, CORRUPT_ROOT), (c, ROOT)):
        assert member.commit(8, block_hash, root, payload).status_code == 200
    expected = {"0x" + ROOT.hex(): {a.key, c.key}, "0x" + CORRUPT_ROOT.hex(): {b.key}}

    def sides(found: dict[str, Any]) -> dict[str, set[str]]:
        return {s["storageRoot"]: set(s["parties"]) for s in found["sides"]}

    for member in (a, b, c):  # each sees the divergence once every party's commitment reached it
        eventually(lambda member=member: [sides(f) for f in member.divergences(8)] == [expected])
        (found,) = member.divergences(8)
        assert found["blockNumber"] == 8 and found["blockHash"] == "0x" + block_hash.hex()
        assert found["contract"] == "0x" + CONTRACT.hex()
        assert found["ownParties"] == [member.key]
        assert member.divergences(9) == []  # fromBlock filters
    assert d.divergences() == [] and d.stored(block_hash) == {}


def _statement(author: KeyPair, recipient: PublicKey, payload: str, block_hash: bytes,
               root: bytes = CORRUPT_ROOT) -> CommitmentStatement:
    return CommitmentStatement(author.public, recipient, 9, block_hash, CONTRACT, root,
                               (PayloadHash(base64.b64decode(payload)),))


def _refused(answer: httpx.Response, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert words in answer.json()["error"]


def test_forged_commitments_are_refused_and_recorded_nowhere(net: tuple[Cluster, list[Member], str]) -> None:
    cluster, (a, b, c, d), payload = net
    block_hash = bytes.fromhex("03" * 32)
    as_b = cluster.client("127.0.0.62", b.cert)
    as_d = cluster.client("127.0.0.64", d.cert)
    statement = _statement(b.pair, a.pair.public, payload, block_hash)
    good_mac = commitment_mac(b.pair, statement)

    # a wrong MAC, from B's own peer identity
    _refused(as_b.post(f"{a.url}/commitments", json=encode_peer_commitment(statement, bytes(32))), 403,
             "MAC does not verify")
    # B's key and a valid MAC, but from D's connection: B's key is not bound to D
    _refused(as_d.post(f"{a.url}/commitments", json=encode_peer_commitment(statement, good_mac)), 403,
             "is not a key the caller")
    # D's own key, correctly MAC'd, for a payload D is no party to
    from_d = _statement(d.pair, a.pair.public, payload, block_hash)
    _refused(as_d.post(f"{a.url}/commitments", json=encode_peer_commitment(from_d, commitment_mac(d.pair, from_d))),
             403, "is not a party of payload")
    # addressed to a key A does not hold
    to_c = _statement(b.pair, c.pair.public, payload, block_hash)
    _refused(as_b.post(f"{a.url}/commitments", json=encode_peer_commitment(to_c, commitment_mac(b.pair, to_c))),
             403, "which this manager does not hold")
    # a caller without a client certificate does not get past the TLS handshake
    outsider = cluster.client("127.0.0.65", None)
    with pytest.raises(httpx.TransportError):
        outsider.post(f"{a.url}/commitments", json=encode_peer_commitment(statement, good_mac))
    # malformed bodies: 400 with a JSON error
    document = encode_peer_commitment(statement, good_mac)
    _refused(as_b.post(f"{a.url}/commitments", json={**document, "storageRoot": "0x1234"}), 400, "storageRoot")
    _refused(as_b.post(f"{a.url}/commitments", json={**document, "mac": "not base64!"}), 400, "mac")
    _refused(as_b.post(f"{a.url}/commitments", content=b"{", headers={"content-type": "application/json"}), 400,
             "malformed JSON")
    for member in (a, b, c, d):
        assert member.stored(block_hash) == {}
        assert all(found["blockHash"] != "0x" + block_hash.hex() for found in member.divergences())

    # the same valid commitment from B's own connection is taken (the control for the refusals above)
    accepted = as_b.post(f"{a.url}/commitments", json=document)
    assert accepted.status_code == 200 and accepted.json() == {"stored": True}, accepted.text
    assert a.stored(block_hash) == {b.key: CORRUPT_ROOT}
    replay = as_b.post(f"{a.url}/commitments", json=document)
    assert replay.status_code == 200 and replay.json() == {"stored": False}
    # a peer cannot make A report a divergence about what A itself never committed to
    assert all(found["blockHash"] != "0x" + block_hash.hex() for found in a.divergences())


def test_the_node_api_refuses_malformed_commitments(net: tuple[Cluster, list[Member], str]) -> None:
    _, (a, *_), payload = net
    bad = a.q2t.post("/commitments", json={"commitments": [{"blockNumber": -1, "blockHash": "0x00",
                                                            "contract": "0x00", "storageRoot": "0x00",
                                                            "payloadHashes": [payload]}]})
    _refused(bad, 400, "blockNumber")
    short = a.q2t.post("/commitments", json={"commitments": [{
        "blockNumber": 1, "blockHash": "0x" + "00" * 31, "contract": "0x" + CONTRACT.hex(),
        "storageRoot": "0x" + ROOT.hex(), "payloadHashes": [payload]}]})
    _refused(short, 400, "commitments[0].blockHash must be 32 bytes")
    _refused(a.q2t.get("/commitments/divergences", params={"fromBlock": "latest"}), 400, "fromBlock")


def test_several_payloads_in_one_block_travel_together_and_all_must_be_the_authors(
        net: tuple[Cluster, list[Member], str]) -> None:
    cluster, (a, b, c, d), payload = net
    second = a.q2t.post("/send", json={"payload": b64(b"set(43)"), "to": [b.key, c.key]}).json()["key"]
    only_ab = a.q2t.post("/send", json={"payload": b64(b"set(44)"), "to": [b.key]}).json()["key"]
    block_hash = bytes.fromhex("04" * 32)
    for member in (a, b, c):
        answer = member.q2t.post("/commitments", json={"commitments": [{
            "blockNumber": 10, "blockHash": "0x" + block_hash.hex(), "contract": "0x" + CONTRACT.hex(),
            "storageRoot": "0x" + ROOT.hex(), "payloadHashes": [payload, second]}]})
        assert answer.json() == {"stored": 2, "unknownPayloads": []}, answer.text
    for member in (a, b, c):  # each party holds every party's commitment for both payloads
        eventually(lambda member=member: len(member.service.store.for_contract(block_hash, CONTRACT)) == 6)

    # C is no party of `only_ab`: a commitment from C naming it with a payload C is party to is refused whole
    as_c = cluster.client("127.0.0.63", c.cert)
    mixed = CommitmentStatement(c.pair.public, b.pair.public, 11, bytes.fromhex("05" * 32), CONTRACT, ROOT,
                                (PayloadHash(base64.b64decode(payload)), PayloadHash(base64.b64decode(only_ab))))
    _refused(as_c.post(f"{b.url}/commitments", json=encode_peer_commitment(mixed, commitment_mac(c.pair, mixed))),
             403, "is not a party of payload")
    assert b.stored(bytes.fromhex("05" * 32)) == {}
