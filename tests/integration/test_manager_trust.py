"""P2P trust between real managers on loopback: each attack on the old code, paired with the
legitimate path it must not break.

Every manager has its own 127.0.0.x address (the identity of plain HTTP) and, with TLS, a
certificate whose URI SAN is its advertised P2P URL (the identity of mutual TLS). Q2T is
served on a unix socket. Attackers are raw HTTP clients or servers bound to addresses of
their own.
"""

from __future__ import annotations

import base64
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tessera_like.api.peer_identity import PeerIdentityProtocol, peer_identity
from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.errors import PrivacyViolation
from tessera_like.partyinfo import MAX_UNVERIFIED_PEERS
from tessera_like.payload import EncodedPayload, encode
from tessera_like.sealing import box_aad
from tessera_like.types import KeyPair, PayloadHash, PublicKey
from tests.helpers import manager_cluster
from tests.helpers.manager_cluster import b64, eventually
from tests.helpers.servers import serve_in_thread
from tests.helpers.tls_certs import TestCA, free_port_on

pytestmark = pytest.mark.integration
OCTET = {"content-type": "application/octet-stream"}


class Member(manager_cluster.Member):
    """A member as the attacks drive it: raw Q2T answers, recipients as base64 keys."""

    def send(self, payload: bytes, to: list[str]) -> httpx.Response:
        return self.q2t.post("/send", json={"payload": b64(payload), "to": to})

    def read(self, key: str) -> httpx.Response:
        return self.q2t.get("/transaction/" + key.replace("/", "%2F"))


class Cluster(manager_cluster.Cluster[Member]):
    member_type = Member


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, tls=False)
    yield cluster
    cluster.close()


@pytest.fixture
def mtls(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, tls=True)
    yield cluster
    cluster.close()


@pytest.fixture(params=["plain", "mtls"])
def cluster(request: pytest.FixtureRequest) -> Cluster:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def forged_as_sender(victim: PublicKey, forger: KeyPair, plaintext: bytes) -> EncodedPayload:
    """A payload that opens as if `victim` had sent it to `forger` (X25519 DH is symmetric)."""
    encryptor = X25519Encryptor()
    sealed = encryptor.seal(plaintext)
    skeleton = EncodedPayload(victim, sealed.cipher_text, sealed.nonce, (), encryptor.new_nonce(), (forger.public,))
    box = encryptor.wrap(sealed.content_key, forger, victim, forger.public, skeleton.recipient_nonce,
                         box_aad(skeleton.hash, skeleton))
    return replace(skeleton, recipient_boxes=(box,))


class Recorder:
    """A raw HTTP server that records every request; answers party info via `answer`."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.answer: Any = None

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            self.paths.append(request.url.path)
            if request.url.path == "/partyinfo" and self.answer is not None:
                return await self.answer(request)
            return JSONResponse({"error": "no"}, status_code=404)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST"])])


# -- 1. key hijack by relay -------------------------------------------------------------


def test_a_relay_cannot_bind_the_victims_key_to_its_own_url(plain: Cluster) -> None:
    node1 = plain.start("node1", "127.0.0.11")
    node2 = plain.start("node2", "127.0.0.12", peers=[node1.url])
    node1.network.refresh()
    assert node1.network.lookup(node2.raw_key) == node2.url
    relay = Recorder()
    relay_client = plain.client("127.0.0.13")

    async def relay_answer(request: Request) -> Response:  # our challenge, answered by node2
        answer = relay_client.post(f"{node2.url}/partyinfo", content=await request.body(),
                                   headers={"content-type": "application/json"})
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    relay.answer = relay_answer
    with serve_in_thread(relay.app(), host="127.0.0.13") as relay_url:
        introduced = relay_client.post(f"{node1.url}/partyinfo", json={"url": relay_url})
        assert introduced.status_code == 200
        node1.network.gossip_round()
        assert "/partyinfo" in relay.paths  # it was asked, and relayed node2's proofs
        assert node1.network.lookup(node2.raw_key) == node2.url
        assert relay_url not in node1.network.party.peer_urls()  # proved nothing at its URL: evicted
        sent = node1.send(b"for node2 only", [node2.key])
        assert sent.status_code == 201, sent.text
        assert base64.b64decode(node2.read(sent.json()["key"]).json()["payload"]) == b"for node2 only"
        assert "/push" not in relay.paths


# -- 2. forged sender on /push ------------------------------------------------------------


def test_a_push_naming_the_receivers_own_key_as_sender_is_refused(cluster: Cluster) -> None:
    node1 = cluster.start("node1", "127.0.0.21")
    node2 = cluster.start("node2", "127.0.0.22", peers=[node1.url])
    node1.network.refresh()
    forged = forged_as_sender(node1.raw_key, KeyPair.generate(), b"you sent this, honest")
    refused = cluster.client("127.0.0.22", node2.cert).post(f"{node1.url}/push", content=encode(forged),
                                                           headers=OCTET)
    assert refused.status_code == 403, refused.text
    assert "neither this manager nor a peer it asked to resend" in refused.json()["error"]
    assert node1.process.manager.store.get(forged.hash) is None
    sent = node2.send(b"a real one", [node1.key])  # the legitimate push still lands
    assert sent.status_code == 201, sent.text
    got = node1.read(sent.json()["key"]).json()
    assert got["senderKey"] == node2.key and base64.b64decode(got["payload"]) == b"a real one"
    assert node1.q2t.get(f"/transaction/{sent.json()['key'].replace('/', '%2F')}/isSender").text == "false"


def test_over_mutual_tls_only_the_sender_keys_owner_may_push_its_payloads(mtls: Cluster) -> None:
    node1 = mtls.start("node1", "127.0.0.31")
    node2 = mtls.start("node2", "127.0.0.32", peers=[node1.url])
    node3 = mtls.start("node3", "127.0.0.33", peers=[node1.url])
    for member in (node1, node2, node3):
        member.network.refresh()
    tx = node2.send(b"from node2", [node1.key]).json()["key"]
    tx_hash = PayloadHash(base64.b64decode(tx))
    copy = node2.process.manager.resend_individual(node1.raw_key, tx_hash)  # in process: trusted
    node1.process.manager.store.delete(tx_hash)
    as_node3 = mtls.client("127.0.0.33", node3.cert).post(f"{node1.url}/push", content=copy, headers=OCTET)
    assert as_node3.status_code == 403, as_node3.text
    assert "is not a key the caller" in as_node3.json()["error"]
    assert node1.process.manager.store.get(tx_hash) is None
    # from another address: over mutual TLS the certificate, not the address, is the identity
    as_node2 = mtls.client("127.0.0.39", node2.cert).post(f"{node1.url}/push", content=copy, headers=OCTET)
    assert as_node2.status_code == 201, as_node2.text
    assert base64.b64decode(node1.read(tx).json()["payload"]) == b"from node2"


def test_a_pusher_whose_key_is_not_yet_known_is_verified_once_then_accepted(mtls: Cluster) -> None:
    node1 = mtls.start("node1", "127.0.0.36")
    node2 = mtls.start("node2", "127.0.0.37", peers=[node1.url])
    node2.network.refresh()
    node1.network.party._key_urls.clear()  # node1 forgot node2's key: the push makes it verify node2
    sent = node2.send(b"first contact", [node1.key])
    assert sent.status_code == 201, sent.text
    assert node1.network.lookup(node2.raw_key) == node2.url


def test_sender_recovery_works_and_unsolicited_own_key_pushes_are_refused(cluster: Cluster) -> None:
    node1 = cluster.start("node1", "127.0.0.41")
    node2 = cluster.start("node2", "127.0.0.42", peers=[node1.url])
    node1.network.refresh()
    tx = node1.send(b"sent by node1", [node2.key]).json()["key"]
    tx_hash = PayloadHash(base64.b64decode(tx))
    node1.process.manager.store.delete(tx_hash)
    with pytest.raises(PrivacyViolation):  # node2 resending node1's own payloads unasked
        node2.process.manager.resend_all(node1.raw_key)
    assert node1.process.manager.store.get(tx_hash) is None
    assert node1.process.manager.recover() == {node2.url: "ok"}
    assert base64.b64decode(node1.read(tx).json()["payload"]) == b"sent by node1"
    assert node1.q2t.get(f"/transaction/{tx.replace('/', '%2F')}/isSender").text == "true"
    assert not node1.network._awaiting  # nothing outstanding once recovery returned


# -- 3. peer flood --------------------------------------------------------------------------


def test_a_peer_flood_stays_bounded_and_junk_is_never_pushed_to(plain: Cluster) -> None:
    node1 = plain.start("node1", "127.0.0.51")
    junk = Recorder()
    attacker = plain.client("127.0.0.53")
    junk_urls = [f"http://127.0.0.54:{port}" for port in range(20000, 21100)]  # 1,100, nothing listening

    with serve_in_thread(junk.app(), host="127.0.0.53") as junk_url:
        async def unproven(request: Request) -> Response:  # claims keys it cannot prove
            return JSONResponse({"url": junk_url, "keys": [{"key": b64(bytes(32)), "url": junk_url}]})

        junk.answer = unproven
        flood_body = {"url": junk_url, "peers": [{"url": u} for u in junk_urls]}
        flood = attacker.post(f"{node1.url}/partyinfo", json=flood_body)
        assert flood.status_code == 200
        party = node1.network.party
        assert len(party.peer_urls()) <= MAX_UNVERIFIED_PEERS
        node1.network.gossip_round()
        assert party.peer_urls() == []  # unreachable or unproven: evicted
        assert attacker.post(f"{node1.url}/partyinfo",
                             json={"url": junk_url, "peers": [{"url": u} for u in junk_urls]}).status_code == 200
        node2 = plain.start("node2", "127.0.0.52", peers=[node1.url])  # joins during the flood
        eventually(lambda: node2.url in party.peer_urls())  # it introduced itself
        assert len(party.peer_urls()) <= MAX_UNVERIFIED_PEERS
        sent = node1.send(b"welcome", [node2.key])
        assert sent.status_code == 201, sent.text
        assert base64.b64decode(node2.read(sent.json()["key"]).json()["payload"]) == b"welcome"
        assert party.verified_peer_urls() == [node2.url]
        assert "/partyinfo" in junk.paths and set(junk.paths) == {"/partyinfo"}  # verification only


def test_with_the_allow_list_unlisted_urls_are_never_added(plain: Cluster) -> None:
    port1, port2 = free_port_on("127.0.0.61"), free_port_on("127.0.0.62")
    url1, url2 = plain.url_for("127.0.0.61", port1), plain.url_for("127.0.0.62", port2)
    node1 = plain.start("node1", "127.0.0.61", peers=[url2], port=port1, allow_list=True)
    node2 = plain.start("node2", "127.0.0.62", peers=[url1], port=port2, allow_list=True)
    junk = [{"url": f"http://127.0.0.64:{port}"} for port in range(20000, 21100)]
    from_listed = plain.client("127.0.0.62").post(f"{node1.url}/partyinfo", json={"url": url2, "peers": junk})
    assert from_listed.status_code == 200
    assert node1.network.party.peer_urls() == [url2]
    from_unlisted = plain.client("127.0.0.63").post(f"{node1.url}/partyinfo", json={"url": url2, "peers": junk})
    assert from_unlisted.status_code == 403 and "allow-list" in from_unlisted.json()["error"]
    sent = node1.send(b"listed", [node2.key])
    assert sent.status_code == 201, sent.text
    assert base64.b64decode(node2.read(sent.json()["key"]).json()["payload"]) == b"listed"


# -- 4. open P2P ----------------------------------------------------------------------------


def test_mutual_tls_with_the_allow_list_admits_only_listed_members(mtls: Cluster) -> None:
    assert mtls.ca is not None
    port1, port2 = free_port_on("127.0.0.71"), free_port_on("127.0.0.72")
    url1, url2 = mtls.url_for("127.0.0.71", port1), mtls.url_for("127.0.0.72", port2)
    node1 = mtls.start("node1", "127.0.0.71", peers=[url2], port=port1, allow_list=True)
    node2 = mtls.start("node2", "127.0.0.72", peers=[url1], port=port2, allow_list=True)
    no_cert = mtls.client("127.0.0.73")
    with pytest.raises(httpx.HTTPError):
        no_cert.get(f"{node1.url}/partyinfo")
    outsider = mtls.client("127.0.0.73", mtls.ca.issue("outsider", "127.0.0.73", ["https://127.0.0.73:1"]))
    assert outsider.get(f"{node1.url}/upcheck").text == "I'm up!"
    for method, path, kwargs in (("GET", "/partyinfo", {}), ("POST", "/partyinfo", {"json": {"url": url2}}),
                                 ("POST", "/push", {"content": b"\x01", "headers": OCTET}),
                                 ("POST", "/resend", {"json": {"type": "ALL", "publicKey": node2.key}})):
        answer = outsider.request(method, f"{node1.url}{path}", **kwargs)
        assert answer.status_code == 403, (path, answer.text)
        assert "not on this manager's peer allow-list" in answer.json()["error"]
    member = mtls.client("127.0.0.72", node2.cert)
    assert member.get(f"{node1.url}/partyinfo").status_code == 200
    for path in ("/docs", "/openapi.json", "/redoc"):
        missing = member.get(f"{node1.url}{path}")
        assert missing.status_code == 404 and missing.json()["error"] == "Not Found"
    assert node1.q2t.get("/openapi.json").status_code == 200  # Q2T keeps its schema
    sent = node1.send(b"members only", [node2.key])
    assert sent.status_code == 201, sent.text


def test_resend_individual_goes_only_to_the_owner_of_the_key(cluster: Cluster) -> None:
    node1 = cluster.start("node1", "127.0.0.81")
    node2 = cluster.start("node2", "127.0.0.82", peers=[node1.url])
    node3 = cluster.start("node3", "127.0.0.83", peers=[node1.url])
    node1.network.refresh()
    tx = node1.send(b"for node2", [node2.key]).json()["key"]
    ask = {"type": "INDIVIDUAL", "publicKey": node2.key, "key": tx}
    stranger = cluster.client("127.0.0.83", node3.cert).post(f"{node1.url}/resend", json=ask)
    assert stranger.status_code == 403 and "not the verified owner" in stranger.json()["error"]
    owner = cluster.client("127.0.0.82", node2.cert).post(f"{node1.url}/resend", json=ask)
    assert owner.status_code == 200 and owner.headers["content-type"] == "application/octet-stream"


# -- the identity plumbing ------------------------------------------------------------------


def test_the_p2p_protocol_hands_the_client_certificate_uris_to_the_app(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    server_cert = ca.issue("server", "127.0.0.91")
    port = free_port_on("127.0.0.91")

    async def whoami(request: Request) -> Response:
        caller = peer_identity(request)
        return JSONResponse({"urls": sorted(caller.urls), "address": caller.address, "certified": caller.certified})

    config = uvicorn.Config(Starlette(routes=[Route("/whoami", whoami)]), host="127.0.0.91", port=port,
                            log_level="warning", lifespan="off", http=PeerIdentityProtocol,
                            ssl_certfile=str(server_cert[0]), ssl_keyfile=str(server_cert[1]),
                            ssl_ca_certs=str(ca.ca_file), ssl_cert_reqs=ssl.CERT_REQUIRED)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    try:
        answers = []
        for name, host in (("one", "127.0.0.92"), ("two", "127.0.0.93")):
            cert = ca.issue(name, host, [f"https://{host}:4567/", "spiffe://privnet/" + name])
            transport = httpx.HTTPTransport(local_address=host, verify=ca.client_context(cert))
            with httpx.Client(transport=transport) as client:
                answers.append(client.get(f"https://127.0.0.91:{port}/whoami").json())
        assert answers == [
            {"urls": ["https://127.0.0.92:4567", "spiffe://privnet/one"], "address": "127.0.0.92", "certified": True},
            {"urls": ["https://127.0.0.93:4567", "spiffe://privnet/two"], "address": "127.0.0.93", "certified": True},
        ]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
