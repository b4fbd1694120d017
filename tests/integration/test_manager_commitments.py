"""State commitments between four real managers over mutual TLS (divergence detection, PROTOCOL.md §12).

A sends a payload to B and C; D is a member of the network but no party. Nodes are stood in
for by what a node does: `POST /commitments` on its own manager's Q2T API (unix socket). Every
party path is paired with a refused forgery: a wrong MAC, a key not bound to the calling peer,
a non-party of the payload, a caller without a client certificate, a malformed body.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tessera_like.commitment_wire import encode_peer_commitment
from tessera_like.commitments import CommitmentService
from tessera_like.crypto.commitment import CommitmentStatement, commitment_mac
from tessera_like.types import KeyPair, PayloadHash, PublicKey
from tests.helpers import manager_cluster
from tests.helpers.manager_cluster import b64, eventually

pytestmark = pytest.mark.integration

CONTRACT = bytes.fromhex("5a" * 20)
ROOT = bytes.fromhex("11" * 32)
CORRUPT_ROOT = bytes.fromhex("22" * 32)
WAIT_S = 30.0  # commitments travel on the delivery thread


class Member(manager_cluster.Member):
    """A member standing in for its node: commitments in, divergences out."""

    @property
    def service(self) -> CommitmentService:
        assert self.process.parts is not None and self.process.parts.commitments is not None
        return self.process.parts.commitments

    def commit(self, block: int, block_hash: bytes, root: bytes, *payloads: str,
               contract: bytes = CONTRACT) -> httpx.Response:
        return self.q2t.post("/commitments", json={"commitments": [{
            "blockNumber": block, "blockHash": "0x" + block_hash.hex(), "contract": "0x" + contract.hex(),
            "storageRoot": "0x" + root.hex(), "payloadHashes": list(payloads)}]})

    def send(self, to: list[Member], data: bytes) -> str:
        answer = self.q2t.post("/send", json={"payload": b64(data), "to": [m.key for m in to]})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["key"])

    def divergences(self, from_block: int = 0) -> list[dict[str, Any]]:
        answer = self.q2t.get("/commitments/divergences", params={"fromBlock": str(from_block)})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["divergences"])

    def divergences_at(self, block: int) -> list[dict[str, Any]]:
        return [found for found in self.divergences(block) if found["blockNumber"] == block]

    def stored(self, block_hash: bytes, contract: bytes = CONTRACT) -> dict[str, bytes]:
        """party (base64) → root, of every commitment this manager holds for (block, contract)."""
        return {b64(c.party): c.storage_root for c in self.service.store.for_contract(block_hash, contract)}

    def named(self, block_hash: bytes, party: Member, contract: bytes = CONTRACT) -> list[str]:
        """The payloads (base64) `party`'s commitment held here for (block, contract) names."""
        (row,) = [c for c in self.service.store.for_contract(block_hash, contract) if b64(c.party) == party.key]
        return [b64(h) for h in row.payload_hashes]


class Cluster(manager_cluster.Cluster[Member]):
    member_type = Member


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, list[Member], str]]:
    """A, B, C, D (mutual TLS, each on its own address); one payload from A to B and C."""
    cluster = Cluster(tmp_path_factory.mktemp("commitments"), tls=True)
    a = cluster.start("a", "127.0.0.61", [])
    b = cluster.start("b", "127.0.0.62", [a.url])
    c = cluster.start("c", "127.0.0.63", [a.url])
    d = cluster.start("d", "127.0.0.64", [a.url])
    members = [a, b, c, d]
    for m in members:
        m.network.refresh()
    for m in members:
        eventually(lambda m=m: all(m.network.lookup(o.pair.public) == o.url for o in members if o is not m),
                   timeout=WAIT_S)
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
        eventually(lambda member=member: set(member.stored(block_hash)) == parties, timeout=WAIT_S)
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
        eventually(lambda member=member: [sides(f) for f in member.divergences_at(8)] == [expected],
                   timeout=WAIT_S)
        (found,) = member.divergences_at(8)
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


def test_a_block_of_many_payloads_is_one_commitment_and_one_message_per_party(
        net: tuple[Cluster, list[Member], str]) -> None:
    _, (a, b, c, d), _ = net
    payloads = [a.send([b], f"add({i})".encode()) for i in range(20)]
    block_hash = bytes.fromhex("06" * 32)
    for member in (a, b):
        answer = member.commit(12, block_hash, ROOT, *payloads)
        assert answer.json() == {"stored": 1, "unknownPayloads": []}, answer.text
    for member in (a, b):
        eventually(lambda member=member: set(member.stored(block_hash)) == {a.key, b.key}, timeout=WAIT_S)
        assert member.divergences_at(12) == []
    # the other party's commitment named one payload: the first one both are parties of
    assert b.named(block_hash, a) == [payloads[0]] and a.named(block_hash, b) == [payloads[0]]
    assert b.named(block_hash, b) == payloads  # our own row keeps every payload of the node's list
    assert c.stored(block_hash) == {} and d.stored(block_hash) == {}
    assert a.service.store.outbox_size() == 0 and b.service.store.outbox_size() == 0


def test_parties_of_different_payloads_in_one_block_all_compare(net: tuple[Cluster, list[Member], str]) -> None:
    """A→B first, then A→B,C: B and C learn each other from A's list of the second payload,
    not from the first payload A names to B."""
    _, (a, b, c, d), _ = net
    only_ab = a.send([b], b"set(44)")
    abc = a.send([b, c], b"set(45)")
    block_hash = bytes.fromhex("07" * 32)
    assert a.commit(13, block_hash, ROOT, only_ab, abc).json() == {"stored": 1, "unknownPayloads": []}
    assert b.commit(13, block_hash, ROOT, only_ab, abc).json() == {"stored": 1, "unknownPayloads": []}
    assert c.commit(13, block_hash, CORRUPT_ROOT, abc).json() == {"stored": 1, "unknownPayloads": []}
    expected = {"0x" + ROOT.hex(): {a.key, b.key}, "0x" + CORRUPT_ROOT.hex(): {c.key}}
    for member in (a, b, c):
        eventually(lambda member=member: set(member.stored(block_hash)) == {a.key, b.key, c.key}, timeout=WAIT_S)
        eventually(lambda member=member: [{s["storageRoot"]: set(s["parties"]) for s in f["sides"]}
                                          for f in member.divergences_at(13)] == [expected], timeout=WAIT_S)
    assert b.named(block_hash, c) == [abc] and c.named(block_hash, b) == [abc]
    assert d.stored(block_hash) == {} and d.divergences_at(13) == []


def test_recipients_sharing_different_payloads_learn_each_other_pairwise(
        net: tuple[Cluster, list[Member], str]) -> None:
    """A→B,C, A→C,D, A→B,D in one block: each pair of recipients shares only one of them."""
    _, (a, b, c, d), _ = net
    bc, cd, bd = a.send([b, c], b"set(46)"), a.send([c, d], b"set(47)"), a.send([b, d], b"set(48)")
    block_hash = bytes.fromhex("08" * 32)
    for member, payloads in ((a, (bc, cd, bd)), (b, (bc, bd)), (c, (bc, cd)), (d, (cd, bd))):
        assert member.commit(14, block_hash, ROOT, *payloads).json() == {"stored": 1, "unknownPayloads": []}
    everyone = {a.key, b.key, c.key, d.key}
    for member in (a, b, c, d):
        eventually(lambda member=member: set(member.stored(block_hash)) == everyone, timeout=WAIT_S)
        assert member.divergences_at(14) == []
    assert b.named(block_hash, d) == [bd] and d.named(block_hash, b) == [bd]


def test_a_recipient_that_committed_first_learns_the_parties_for_every_contract_of_the_payload(
        net: tuple[Cluster, list[Member], str]) -> None:
    """B's node commits before A's list of parties arrives: B then owes C its commitments for
    both contracts the payload touched, though A's list arrives once per contract."""
    _, (a, b, c, d), _ = net
    abc = a.send([b, c], b"call(other)")
    block_hash, other = bytes.fromhex("0a" * 32), bytes.fromhex("5b" * 20)

    def commit(member: Member) -> None:
        answer = member.q2t.post("/commitments", json={"commitments": [{
            "blockNumber": 16, "blockHash": "0x" + block_hash.hex(), "contract": "0x" + contract.hex(),
            "storageRoot": "0x" + ROOT.hex(), "payloadHashes": [abc]} for contract in (CONTRACT, other)]})
        assert answer.json() == {"stored": 2, "unknownPayloads": []}, answer.text

    commit(b)
    eventually(lambda: b.service.store.outbox_size() == 0, timeout=WAIT_S)  # B told A; it knows no C yet
    commit(a)
    commit(c)
    for member in (a, b, c):
        for contract in (CONTRACT, other):
            eventually(lambda member=member, contract=contract: set(member.stored(block_hash, contract))
                       == {a.key, b.key, c.key}, timeout=WAIT_S)
    assert d.stored(block_hash) == {} and d.stored(block_hash, other) == {}


def test_a_peers_root_counts_only_through_a_payload_committed_here(net: tuple[Cluster, list[Member], str]) -> None:
    cluster, (a, b, c, d), payload = net
    second = a.send([b, c], b"set(49)")
    block_hash = bytes.fromhex("09" * 32)
    assert a.commit(15, block_hash, ROOT, second).status_code == 200
    # B names a payload A and B share, but not one A's node committed to for this block and contract:
    # stored (B is a party of it), never compared
    from_b = CommitmentStatement(b.pair.public, a.pair.public, 15, block_hash, CONTRACT, CORRUPT_ROOT,
                                 (PayloadHash(base64.b64decode(payload)),))
    answer = cluster.client("127.0.0.62", b.cert).post(
        f"{a.url}/commitments", json=encode_peer_commitment(from_b, commitment_mac(b.pair, from_b)))
    assert answer.status_code == 200 and answer.json() == {"stored": True}, answer.text
    assert a.stored(block_hash)[b.key] == CORRUPT_ROOT and a.divergences_at(15) == []
    # the control: C names the payload A committed to, and its differing root is reported
    from_c = CommitmentStatement(c.pair.public, a.pair.public, 15, block_hash, CONTRACT, CORRUPT_ROOT,
                                 (PayloadHash(base64.b64decode(second)),))
    answer = cluster.client("127.0.0.63", c.cert).post(
        f"{a.url}/commitments", json=encode_peer_commitment(from_c, commitment_mac(c.pair, from_c)))
    assert answer.status_code == 200 and answer.json() == {"stored": True}, answer.text
    (found,) = a.divergences_at(15)
    assert {s["storageRoot"]: s["parties"] for s in found["sides"]} == {"0x" + ROOT.hex(): [a.key],
                                                                       "0x" + CORRUPT_ROOT.hex(): [c.key]}


def test_a_commitment_naming_a_payload_its_author_is_no_party_of_is_refused_whole(
        net: tuple[Cluster, list[Member], str]) -> None:
    cluster, (a, b, c, d), payload = net
    only_ab = a.send([b], b"set(50)")
    # C is no party of `only_ab`: a commitment from C naming it with a payload C is party to is refused whole
    as_c = cluster.client("127.0.0.63", c.cert)
    mixed = CommitmentStatement(c.pair.public, b.pair.public, 11, bytes.fromhex("05" * 32), CONTRACT, ROOT,
                                (PayloadHash(base64.b64decode(payload)), PayloadHash(base64.b64decode(only_ab))))
    _refused(as_c.post(f"{b.url}/commitments", json=encode_peer_commitment(mixed, commitment_mac(c.pair, mixed))),
             403, "is not a party of payload")
    assert b.stored(bytes.fromhex("05" * 32)) == {}
