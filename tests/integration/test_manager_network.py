"""Four managers (A–D) as real servers on loopback: distribution, privacy, recovery, failures.

The whole module runs twice: every manager on a SQLite file, then every manager on its own
PostgreSQL database (tests/helpers/postgres.py)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.runtime import ManagerProcess
from tests.helpers.postgres import BACKENDS, database_url, postgres_url  # noqa: F401  (fixture)
from tests.helpers.q2t_auth import q2t_client

pytestmark = pytest.mark.integration


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_settings(directory: Path, name: str, peers: list[str], db_url: str, password: str | None = None,
                  **overrides: object) -> ManagerSettings:
    password_file = None
    if password is not None:
        password_file = directory / f"{name}.password"
        password_file.write_text(password + "\n")
    pub, key = write_key_files(directory, name, password, scrypt_n=2**14)
    return ManagerSettings(
        q2t_port=0, p2p_port=0, q2t_token_file=directory / f"{name}.token", peers=peers, db_url=db_url,
        keys=[KeyConfig(public_key_file=pub, private_key_file=key, password_file=password_file)],
        gossip_interval_seconds=3600, peer_timeout_seconds=5, log_level="warning", **overrides)  # type: ignore[arg-type]


class Node:
    """One running manager plus a client for each of its APIs."""

    def __init__(self, process: ManagerProcess) -> None:
        self.process = process
        self.key = process.public_keys[0]
        self.q2t = q2t_client(process)
        self.p2p = httpx.Client(base_url=process.p2p_url, timeout=20)

    def send(self, payload: bytes, to: list[str], **extra: object) -> httpx.Response:
        return self.q2t.post("/send", json={"payload": b64(payload), "to": to, **extra})

    def get(self, key: str, to: str | None = None) -> httpx.Response:
        return self.q2t.get(f"/transaction/{quote(key, safe='')}", params={"to": to} if to else None)

    def stored(self, key: str) -> bytes | None:
        return self.process.manager.store.get(base64.b64decode(key))  # type: ignore[arg-type]

    def close(self) -> None:
        self.q2t.close()
        self.p2p.close()
        self.process.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database every manager of the module uses: "sqlite" or "postgresql"."""
    return str(request.param)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Callable[[str], str]:
    """`db_url(name)` → a fresh database for one more manager, on this module run's backend."""
    return lambda name: database_url(request, backend, tmp_path / f"{name}.db")


@pytest.fixture(scope="module")
def net(request: pytest.FixtureRequest, backend: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Node]]:
    directory = tmp_path_factory.mktemp("managers")
    nodes: dict[str, Node] = {}
    try:
        a = ManagerProcess(make_settings(directory, "A", [], database_url(request, backend, directory / "A.db"),
                                         password="pw-a", max_payload_bytes=64 * 1024))
        nodes["A"] = Node(a.start())
        for name in "BCD":
            url = database_url(request, backend, directory / f"{name}.db")
            nodes[name] = Node(ManagerProcess(make_settings(directory, name, [a.p2p_url], url)).start())
        for node in nodes.values():
            node.process.parts.network.refresh()  # type: ignore[union-attr]
        yield nodes
    finally:
        for node in nodes.values():
            node.close()


def test_a_sends_to_b_and_c_d_sees_nothing(net: dict[str, Node]) -> None:
    a, b, c, d = net["A"], net["B"], net["C"], net["D"]
    response = a.send(b"deliver 100 XS0001 vs 99.5 EUR", [b.key, c.key])
    assert response.status_code == 201, response.text
    key = response.json()["key"]
    assert len(base64.b64decode(key)) == 64
    assert response.headers["location"] == f"/transaction/{quote(key, safe='')}"
    for node in (b, c):
        got = node.get(key, to=node.key)
        assert got.status_code == 200, got.text
        assert base64.b64decode(got.json()["payload"]) == b"deliver 100 XS0001 vs 99.5 EUR"
        assert got.json()["senderKey"] == a.key
    assert d.get(key).status_code == 404
    assert d.get(key, to=d.key).status_code == 404
    assert d.stored(key) is None
    mine = a.get(key)
    assert mine.status_code == 200 and base64.b64decode(mine.json()["payload"]).startswith(b"deliver")
    assert a.q2t.get(response.headers["location"]).status_code == 200
    assert a.q2t.get(f"/transaction/{quote(key, safe='')}/isSender").text == "true"
    assert b.q2t.get(f"/transaction/{quote(key, safe='')}/isSender").text == "false"
    assert set(a.q2t.get(f"/transaction/{quote(key, safe='')}/participants").text.split(",")) == {
        a.key, b.key, c.key}
    assert b.q2t.get(f"/transaction/{quote(key, safe='')}/participants").text == b.key
    legacy = b.q2t.post("/receive", json={"key": key, "to": b.key})
    assert legacy.status_code == 200 and base64.b64decode(legacy.json()["payload"]).startswith(b"deliver")
    assert d.q2t.post("/receive", json={"key": key}).status_code == 404


def test_recipient_recovers_a_lost_payload_through_resend(net: dict[str, Node]) -> None:
    a, b = net["A"], net["B"]
    key = a.send(b"lost and found", [b.key]).json()["key"]
    assert b.q2t.delete(f"/transaction/{quote(key, safe='')}").status_code == 204
    assert b.get(key).status_code == 404
    resend = a.p2p.post("/resend", json={"type": "ALL", "publicKey": b.key})
    assert resend.status_code == 200, resend.text
    recovered = b.get(key, to=b.key)
    assert recovered.status_code == 200 and base64.b64decode(recovered.json()["payload"]) == b"lost and found"


def test_sender_recovers_what_it_sent_from_a_recipient(net: dict[str, Node]) -> None:
    a, b, c = net["A"], net["B"], net["C"]
    key = a.send(b"sent by A", [b.key, c.key]).json()["key"]
    assert a.q2t.delete(f"/transaction/{quote(key, safe='')}").status_code == 204
    assert a.get(key).status_code == 404
    assert b.p2p.post("/resend", json={"type": "ALL", "publicKey": a.key}).status_code == 200
    back = a.get(key, to=a.key)
    assert back.status_code == 200 and base64.b64decode(back.json()["payload"]) == b"sent by A"
    assert a.q2t.get(f"/transaction/{quote(key, safe='')}/isSender").text == "true"


def test_resend_individual_returns_the_recipients_copy(net: dict[str, Node]) -> None:
    a, b = net["A"], net["B"]
    key = a.send(b"one", [b.key]).json()["key"]
    answer = a.p2p.post("/resend", json={"type": "INDIVIDUAL", "publicKey": b.key, "key": key})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/octet-stream"
    assert answer.content[0] == 1  # codec version byte
    assert b.p2p.post("/push", content=answer.content,
                      headers={"content-type": "application/octet-stream"}).status_code == 409


def test_unknown_recipient_is_404_naming_the_key(net: dict[str, Node]) -> None:
    stranger = b64(bytes(range(32)))
    response = net["A"].send(b"x", [stranger])
    assert response.status_code == 404
    assert stranger in response.json()["error"]


def test_a_new_manager_is_found_by_one_gossip_round_on_send(net: dict[str, Node], tmp_path: Path,
                                                           db_url: Callable[[str], str]) -> None:
    a = net["A"]
    late = Node(ManagerProcess(make_settings(tmp_path, "E", [a.process.p2p_url], db_url("E"))).start())
    try:
        deadline = time.monotonic() + 10
        while late.process.p2p_url not in [p["url"] for p in a.p2p.get("/partyinfo").json()["peers"]]:
            assert time.monotonic() < deadline, "E never introduced itself to A"
            time.sleep(0.05)
        assert late.key not in [k["key"] for k in a.q2t.get("/partyinfo/keys").json()["keys"]]
        response = a.send(b"welcome", [late.key])
        assert response.status_code == 201, response.text
        got = late.get(response.json()["key"])
        assert got.status_code == 200 and base64.b64decode(got.json()["payload"]) == b"welcome"
    finally:
        late.close()


def test_a_down_recipient_fails_the_send_with_503_and_nothing_stored(net: dict[str, Node], tmp_path: Path,
                                                                     db_url: Callable[[str], str]) -> None:
    a, b = net["A"], net["B"]
    doomed = Node(ManagerProcess(make_settings(tmp_path, "F", [a.process.p2p_url], db_url("F"))).start())
    doomed_key, doomed_url = doomed.key, doomed.process.p2p_url
    doomed.process.parts.network.refresh()  # type: ignore[union-attr]  # announced, whatever its own round's timing
    a.process.parts.network.refresh()  # type: ignore[union-attr]
    doomed.close()
    before = a.process.manager.store.count()
    response = a.send(b"never", [b.key, doomed_key])
    assert response.status_code == 503
    assert doomed_url in response.json()["error"]
    assert a.process.manager.store.count() == before
    assert a.q2t.get("/upcheck").status_code == 200


def test_raw_store_then_signed_send_keeps_the_key(net: dict[str, Node]) -> None:
    a, b, c = net["A"], net["B"], net["C"]
    stored = a.q2t.post("/storeraw", json={"payload": b64(b"raw for signing")})
    assert stored.status_code == 200, stored.text
    raw_key = stored.json()["key"]
    assert b.get(raw_key).status_code == 404
    assert a.get(raw_key).status_code == 404  # raw: not a distributed transaction yet
    raw_view = a.q2t.get(f"/transaction/{quote(raw_key, safe='')}", params={"isRaw": "true"})
    assert base64.b64decode(raw_view.json()["payload"]) == b"raw for signing"
    sent = a.q2t.post("/sendsignedtx", json={"hash": raw_key, "to": [b.key]})
    assert sent.status_code == 201, sent.text
    assert sent.json()["key"] == raw_key
    assert base64.b64decode(b.get(raw_key).json()["payload"]) == b"raw for signing"
    assert c.get(raw_key).status_code == 404


def test_sendraw_with_headers(net: dict[str, Node]) -> None:
    a, b = net["A"], net["B"]
    response = a.q2t.post("/sendraw", content=b"\x00\x01binary",
                          headers={"content-type": "application/octet-stream", "c11n-from": a.key,
                                   "c11n-to": f"{b.key}"})
    assert response.status_code == 200, response.text
    got = b.get(response.text)
    assert base64.b64decode(got.json()["payload"]) == b"\x00\x01binary"


def test_enhanced_privacy_fields_round_trip(net: dict[str, Node]) -> None:
    a, b, c = net["A"], net["B"], net["C"]
    creation = a.send(b"create", [b.key], privacyFlag=2, mandatoryRecipients=[b.key]).json()["key"]
    call = a.send(b"call", [b.key, c.key], privacyFlag=2, mandatoryRecipients=[b.key],
                  affectedContractTransactions=[creation], execHash=b64(b"\x11" * 32))
    assert call.status_code == 201, call.text
    key = call.json()["key"]
    for node, acoth in ((b, [creation]), (c, [])):
        body = node.get(key).json()
        assert body["privacyFlag"] == 2
        assert body["mandatoryRecipients"] == [b.key]
        assert body["execHash"] == b64(b"\x11" * 32)
        assert body["affectedContractTransactions"] == acoth
    assert b.q2t.get(f"/transaction/{quote(key, safe='')}/mandatory").text == b.key
    mismatch = a.send(b"x", [b.key], privacyFlag=1, affectedContractTransactions=[creation])
    assert mismatch.status_code == 403 and "Privacy metadata mismatched" in mismatch.json()["error"]


def test_party_info_and_keys(net: dict[str, Node]) -> None:
    a = net["A"]
    known = {k["key"] for k in a.q2t.get("/partyinfo/keys").json()["keys"]}
    assert {n.key for n in net.values()} <= known
    assert a.q2t.get("/keys").json() == {"keys": [{"key": a.key}]}
    info = net["B"].p2p.get("/partyinfo").json()
    assert info["url"] == net["B"].process.p2p_url
    by_key = {k["key"]: k["url"] for k in info["keys"]}
    assert by_key[a.key] == a.process.p2p_url


def test_service_endpoints_and_openapi(net: dict[str, Node]) -> None:
    a = net["A"]
    assert a.q2t.get("/upcheck").text == "I'm up!"
    assert a.p2p.get("/upcheck").text == "I'm up!"
    assert a.q2t.get("/version").status_code == 200
    assert "2.1" in a.q2t.get("/version/api").json()
    q2t_paths = a.q2t.get("/openapi.json").json()["paths"]
    for path in ("/send", "/sendraw", "/storeraw", "/sendsignedtx", "/receive", "/transaction/{key}",
                 "/transaction/{key}/isSender", "/transaction/{key}/participants", "/partyinfo/keys"):
        assert path in q2t_paths, path
    assert "requestBody" in q2t_paths["/send"]["post"]
    assert "/push" not in q2t_paths
    # the P2P port describes nothing to whoever asks: no schema, no docs
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert a.p2p.get(path).status_code == 404, path


def test_batch_receive_returns_parties_payloads_and_lists_the_rest(net: dict[str, Node]) -> None:
    """`POST /transactions/receive` (our extension, a node's block prefetch) agrees with GET."""
    a, b, c = net["A"], net["B"], net["C"]
    to_b = a.send(b"for b only", [b.key]).json()["key"]
    to_c = a.send(b"for c only", [c.key]).json()["key"]
    unknown = b64(b"\x07" * 64)
    answer = b.q2t.post("/transactions/receive", json={"keys": [to_b, to_c, unknown]})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body["transactions"]) == {to_b}
    assert base64.b64decode(body["transactions"][to_b]["payload"]) == b"for b only"
    assert body["transactions"][to_b] == b.get(to_b).json()
    assert sorted(body["missing"]) == sorted([to_c, unknown])
    bad = b.q2t.post("/transactions/receive", json={"keys": ["not base64!"]})
    assert bad.status_code == 400 and "keys[0]" in bad.json()["error"]
    too_many = b.q2t.post("/transactions/receive", json={"keys": [unknown] * 1001})
    assert too_many.status_code == 400
    assert b.q2t.get("/upcheck").status_code == 200


def test_node_client_receive_many_matches_per_key_receive(net: dict[str, Node]) -> None:
    """The node's prefetch: one round trip with our manager, per-key GETs without the extension."""
    from engine.privacy.client import HttpPrivacyManagerClient

    a, b, c = net["A"], net["B"], net["C"]
    keys = [base64.b64decode(a.send(f"payload {i}".encode(), [b.key]).json()["key"]) for i in range(3)]
    keys.append(base64.b64decode(a.send(b"not for b", [c.key]).json()["key"]))
    batched = HttpPrivacyManagerClient(b.process.q2t_url, retries=0, token=b.process.q2t_token)
    per_key = HttpPrivacyManagerClient(b.process.q2t_url, retries=0, token=b.process.q2t_token)
    per_key._batch_supported = False  # as against a manager without POST /transactions/receive
    try:
        many = batched.receive_many(keys)  # type: ignore[arg-type]
        assert [many[k].payload if many[k] else None for k in keys] == [b"payload 0", b"payload 1", b"payload 2", None]
        assert per_key.receive_many(keys) == many  # type: ignore[arg-type]
    finally:
        batched.close()
        per_key.close()
