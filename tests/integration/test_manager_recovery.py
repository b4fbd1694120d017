"""Paged recovery between real managers on loopback (tessera_like/recovery.py, P2P `/resend/page`).

Each manager has its own 127.0.0.x address (the identity of plain HTTP) and, with TLS, a
certificate naming its P2P URL (the identity of mutual TLS); Q2T is on a unix socket. A store
is "lost" by deleting every row of it while the manager runs; the recovering manager is asked
through its Q2T `POST /recover`, other members are raw HTTP clients with their own address and
certificate.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tessera_like.manager import MAX_RESEND_PAGE
from tessera_like.payload import decode
from tessera_like.types import PayloadHash
from tests.helpers import manager_cluster
from tests.helpers.manager_cluster import b64

pytestmark = pytest.mark.integration


class Member(manager_cluster.Member):
    """A member whose sends must succeed and whose store can be lost while it runs."""

    def send(self, payload: bytes, to: Sequence[Member]) -> PayloadHash:
        answer = self.q2t.post("/send", json={"payload": b64(payload), "to": [m.key for m in to]})
        assert answer.status_code == 201, answer.text
        return PayloadHash(base64.b64decode(answer.json()["key"]))

    def read(self, tx: PayloadHash) -> httpx.Response:
        return self.q2t.get("/transaction/" + quote(b64(tx), safe=""))

    def recover(self, **body: Any) -> dict[str, Any]:
        answer = self.q2t.post("/recover", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def lose_store(self) -> None:
        for tx_hash, _ in list(self.store.scan()):
            self.store.delete(tx_hash)
        assert self.store.count() == 0


class Cluster(manager_cluster.Cluster[Member]):
    member_type = Member

    def three(self, base: int) -> tuple[Member, Member, Member]:
        node1 = self.start("node1", f"127.0.0.{base + 1}")
        node2 = self.start("node2", f"127.0.0.{base + 2}", peers=[node1.url])
        node3 = self.start("node3", f"127.0.0.{base + 3}", peers=[node1.url, node2.url])
        for member in (node1, node2, node3):
            member.network.refresh()
        return node1, node2, node3

    def client_of(self, member: Member) -> httpx.Client:
        """A raw P2P client calling as `member` (its address and, with TLS, its certificate)."""
        return self.client(member.host, member.cert)


@pytest.fixture(params=["plain", "mtls"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, tls=request.param == "mtls")
    yield cluster
    cluster.close()


def peer_report(report: dict[str, Any], member: Member) -> dict[str, Any]:
    found = [p for p in report["peers"] if p["url"] == member.url]
    assert len(found) == 1, report
    return dict(found[0])


def page(client: httpx.Client, owner: Member, key: str, after: str | None = None, limit: int = 3) -> httpx.Response:
    body: dict[str, Any] = {"publicKey": key, "limit": limit}
    if after is not None:
        body["after"] = after
    return client.post(f"{owner.url}/resend/page", json=body)


def test_a_manager_that_lost_its_store_recovers_received_and_sent_payloads_paged(cluster: Cluster) -> None:
    node1, node2, node3 = cluster.three(200)
    received = [node1.send(f"to node2 #{i}".encode(), [node2]) for i in range(9)]
    sent = [node2.send(f"from node2 #{i}".encode(), [node1, node3]) for i in range(4)]
    others = [node1.send(f"to node3 #{i}".encode(), [node3]) for i in range(2)]
    only_here = node2.send(b"for node2 alone", [])  # no peer holds it: it cannot come back
    node2.lose_store()
    node2.network.refresh()  # peers' rounds go on, and bring nothing back unasked
    assert node2.store.count() == 0
    assert node2.read(received[0]).status_code == 404

    report = node2.recover(pageSize=2)
    from1, from3 = peer_report(report, node1), peer_report(report, node3)
    assert (from1["recovered"], from1["merged"], from1["alreadyHeld"], from1["refused"]) == (13, 0, 0, 0)
    assert from1["error"] is None
    assert from1["pages"] >= 7  # 13 payloads, 2 a page
    # node3 holds its boxes of node2's four sends: merged into the copies node1 gave back
    assert (from3["recovered"], from3["merged"], from3["alreadyHeld"], from3["refused"]) == (0, 4, 0, 0)
    assert from3["error"] is None
    assert report["failedPeers"] == [] and (report["recovered"], report["merged"]) == (13, 4)

    for i, tx in enumerate(received):
        answer = node2.read(tx)
        assert answer.status_code == 200, answer.text
        assert base64.b64decode(answer.json()["payload"]) == f"to node2 #{i}".encode()
    for i, tx in enumerate(sent):
        assert base64.b64decode(node2.read(tx).json()["payload"]) == f"from node2 #{i}".encode()
        key = quote(b64(tx), safe="")
        assert node2.q2t.get(f"/transaction/{key}/isSender").text == "true"
        assert set(node2.q2t.get(f"/transaction/{key}/participants").text.split(",")) == {node1.key, node3.key}
    for tx in [*others, only_here]:  # not node2's to get back, or held by no peer
        assert node2.read(tx).status_code == 404
        assert node2.store.get(tx) is None
    assert node2.store.count() == 13

    again = node2.recover(pageSize=MAX_RESEND_PAGE)  # idempotent: nothing new, no error
    for peer, held in ((node1, 13), (node3, 4)):
        counts = peer_report(again, peer)
        assert (counts["recovered"], counts["merged"], counts["alreadyHeld"], counts["error"]) == (0, 0, held, None)
    assert again["failedPeers"] == [] and node2.store.count() == 13


def test_pages_are_bounded_and_the_cursor_walks_the_whole_store(cluster: Cluster) -> None:
    node1, node2, node3 = cluster.three(250)
    mine = {node1.send(f"to node2 #{i}".encode(), [node2]) for i in range(7)}
    for i in range(5):
        node1.send(f"to node3 #{i}".encode(), [node3])
    as_node2 = cluster.client_of(node2)
    seen: list[bytes] = []
    after, pages = None, 0
    while True:
        answer = page(as_node2, node1, node2.key, after, limit=3)
        assert answer.status_code == 200, answer.text
        document = answer.json()
        assert len(document["payloads"]) <= 3
        for encoded in document["payloads"]:
            payload = decode(base64.b64decode(encoded))
            assert payload.recipient_keys == (node2.raw_key,)  # node2's box only
            seen.append(payload.hash)
        pages += 1
        after = document["next"]
        if after is None:
            break
    assert sorted(seen) == sorted(mine) and pages >= 3

    for bad, reason in (({"publicKey": node2.key, "limit": 0}, "limit must be between 1 and 100"),
                        ({"publicKey": node2.key, "limit": 101}, "limit must be between 1 and 100"),
                        ({"publicKey": node2.key, "after": "not base64!"}, "after is not valid base64"),
                        ({"publicKey": "AAAA"}, "publicKey must decode to 32 bytes")):
        refused = as_node2.post(f"{node1.url}/resend/page", json=bad)
        assert refused.status_code == 400 and reason in refused.json()["error"], refused.text
    bad_size = node2.q2t.post("/recover", json={"pageSize": 0})
    assert bad_size.status_code == 400 and "pageSize must be between 1 and 100" in bad_size.json()["error"]


def test_only_the_verified_owner_of_a_key_may_page_through_its_payloads(cluster: Cluster) -> None:
    node1, node2, node3 = cluster.three(220)
    tx = node1.send(b"for node2 only", [node2])
    stolen = page(cluster.client_of(node3), node1, node2.key)
    assert stolen.status_code == 403, stolen.text
    assert "is not the verified owner of key" in stolen.json()["error"]
    assert b64(tx) not in stolen.text
    unknown = page(cluster.client_of(node3), node1, b64(bytes(range(32))))
    assert unknown.status_code == 404 and "no verified peer owns it" in unknown.json()["error"]
    own = page(cluster.client_of(node2), node1, node2.key)  # the owner itself is served
    assert own.status_code == 200, own.text
    assert [decode(base64.b64decode(p)).hash for p in own.json()["payloads"]] == [tx]


def test_a_peer_cannot_vouch_for_a_payload_another_key_sent(cluster: Cluster) -> None:
    node1, node2, node3 = cluster.three(230)
    tx = node1.send(b"sent by node1", [node2, node3])
    full = node1.store.get(tx)  # node1's copy has every box; planted at node3 as if node3 held it
    node3.store.replace(tx, full)
    node2.lose_store()
    report = node2.recover()
    from3 = peer_report(report, node3)
    assert (from3["recovered"], from3["refused"]) == (0, 1), report  # node1's payload, offered by node3
    from1 = peer_report(report, node1)
    assert (from1["recovered"], from1["refused"]) == (1, 0), report  # the sender's own manager vouches for it
    assert base64.b64decode(node2.read(tx).json()["payload"]) == b"sent by node1"
    assert decode(node2.store.get(tx)).recipient_keys == (node2.raw_key,)


def test_a_peer_that_is_down_is_reported_and_the_others_still_give_back(cluster: Cluster) -> None:
    node1, node2, node3 = cluster.three(240)
    from1 = node1.send(b"from node1", [node2])
    from3 = node3.send(b"from node3", [node2])
    node2.lose_store()
    node3.process.stop()
    report = node2.recover()
    assert report["failedPeers"] == [node3.url], report
    assert "unavailable" in peer_report(report, node3)["error"]
    assert peer_report(report, node1)["recovered"] == 1
    assert base64.b64decode(node2.read(from1).json()["payload"]) == b"from node1"
    assert node2.read(from3).status_code == 404  # only node3 held it for node2
