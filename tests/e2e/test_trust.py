"""The attacks of the trust issue, each tried against a network started as `privnet up` starts it
(mutual TLS between managers, the members' allow-list, Q2T on a unix socket).

Two kinds of attacker: an *outsider* on the same loopback network (no certificate of the
network's CA) and a *member gone bad* (node3's manager certificate and key, which a member
holds). Each "refused" is paired with "the legitimate path still works" and "nothing stored
was lost". A = node1, B = node2, C = node3 (the bad member), D = node4.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devnet.solc import Artifact
from tessera_like.config import load_settings
from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.payload import EncodedPayload, decode, encode
from tessera_like.runtime import load_keys
from tessera_like.sealing import box_aad
from tests.helpers.network import WAIT_S, E2ENetwork, NodeHandle
from tests.helpers.privacy import assert_private_to, deploy_storage

pytestmark = pytest.mark.e2e

OCTET = {"content-type": "application/octet-stream"}


@dataclass(frozen=True)
class ManagerFiles:
    """What a member's manager holds on disk: its config, TLS files and key pair."""

    config: Path
    cert: Path
    key: Path
    ca: Path
    p2p_url: str

    @classmethod
    def of(cls, node: NodeHandle, net: E2ENetwork) -> ManagerFiles:
        entry = next(e for e in net.spec["nodes"] if e["name"] == node.name)
        config = Path(entry["manager_config"])
        settings = load_settings(config)
        tls = settings.tls
        assert tls.enabled and tls.client_auth, "privnet up must turn mutual TLS on by default"
        assert tls.cert_file and tls.key_file and tls.ca_file
        return cls(config, tls.cert_file, tls.key_file, tls.ca_file, settings.advertised_p2p_url)

    def client(self) -> httpx.Client:
        """An HTTPS client presenting this member's certificate (what its manager presents)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        return httpx.Client(verify=context, timeout=30)


def outsider_client(ca: Path) -> httpx.Client:
    """HTTPS that trusts the network's CA but has no certificate to present."""
    return httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=30)


def party_info(member: ManagerFiles, url: str) -> dict[str, Any]:
    with member.client() as client:
        response = client.get(url + "/partyinfo")
    assert response.status_code == 200, response.text
    return dict(response.json())


def bindings(member: ManagerFiles, url: str) -> dict[str, str]:
    return {k["key"]: k["url"] for k in party_info(member, url)["keys"]}


def assert_json_refusal(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert "Traceback" not in response.text
    return str(body["error"])


def assert_tls_refused(call: Callable[[], httpx.Response]) -> None:
    """The TLS handshake (or the first read after it) fails: no HTTP answer at all."""
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        call()


# -- an outsider --------------------------------------------------------------------------------

def test_an_outsider_cannot_reach_partyinfo_push_or_resend(net: E2ENetwork) -> None:
    a, b = net.nodes[0], net.nodes[1]
    member = ManagerFiles.of(a, net)
    url = member.p2p_url
    assert url.startswith("https://"), url
    rows_before = b.manager_row_count()

    # no certificate: the handshake fails for every peer endpoint
    with outsider_client(member.ca) as outsider:
        assert_tls_refused(lambda: outsider.get(url + "/partyinfo"))
        assert_tls_refused(lambda: outsider.post(url + "/partyinfo", json={"url": "https://127.0.0.99:1",
                                                                           "keys": [], "peers": []}))
        assert_tls_refused(lambda: outsider.post(url + "/push", content=b"\x00" * 64, headers=OCTET))
        assert_tls_refused(lambda: outsider.post(url + "/resend", json={"type": "ALL", "publicKey": b.key}))
    # plain HTTP on the P2P port is not an API either
    plain = "http://" + urlsplit(url).netloc
    with httpx.Client(timeout=10) as client, pytest.raises(httpx.HTTPError):
        client.get(plain + "/partyinfo")
    # a certificate from another CA is no member's either
    with _foreign_client(member.ca) as foreign:
        assert_tls_refused(lambda: foreign.get(url + "/partyinfo"))
    # and nothing was stored or lost meanwhile
    assert b.manager_row_count() == rows_before


@contextmanager
def _foreign_client(trusted_ca: Path) -> Iterator[httpx.Client]:
    """A client with a self-made certificate (not signed by the network's CA)."""
    import datetime
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intruder")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier("https://127.0.0.99:1")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.create_default_context(cafile=str(trusted_ca))
        context.load_cert_chain(str(cert_path), str(key_path))
        with httpx.Client(verify=context, timeout=30) as client:
            yield client


# -- a member gone bad ---------------------------------------------------------------------------

def _forged_payload(forger_config: Path, claimed_sender: str) -> bytes:
    """A payload that claims `claimed_sender` sent it, boxed for the forger's own key. ECDH is
    symmetric, so the claimed sender's manager can even open it: crypto alone cannot tell."""
    forger = load_keys(load_settings(forger_config))[0]
    victim = base64.b64decode(claimed_sender)
    encryptor = X25519Encryptor()
    sealed, nonce = encryptor.seal(b"forged"), encryptor.new_nonce()
    skeleton = EncodedPayload(sender_key=victim, cipher_text=sealed.cipher_text, cipher_text_nonce=sealed.nonce,
                              recipient_boxes=(), recipient_nonce=nonce, recipient_keys=(forger.public,))
    box = encryptor.wrap(sealed.content_key, forger, victim, forger.public, nonce,
                         box_aad(skeleton.hash, skeleton))
    return encode(replace(skeleton, recipient_boxes=(box,)))


def _payload_in_the_name_of(claimed_sender: str, for_key: str) -> bytes:
    """A payload naming `claimed_sender` as its sender with a box for `for_key`: its box cannot
    open (the pusher lacks both private keys); the push must be refused before that matters."""
    encryptor = X25519Encryptor()
    sealed = encryptor.seal(b"forged")
    return encode(EncodedPayload(sender_key=base64.b64decode(claimed_sender), cipher_text=sealed.cipher_text,
                                 cipher_text_nonce=sealed.nonce, recipient_boxes=(os.urandom(48),),
                                 recipient_nonce=encryptor.new_nonce(), recipient_keys=(base64.b64decode(for_key),)))


def test_a_member_cannot_push_a_payload_in_another_managers_name(net: E2ENetwork) -> None:
    a, b, c = net.nodes[0], net.nodes[1], net.nodes[2]
    bad = ManagerFiles.of(c, net)
    b_url = ManagerFiles.of(b, net).p2p_url
    rows_before = b.manager_row_count()
    with bad.client() as client:
        # B's own key as the sender: Q2T would otherwise serve it to B's node as B's own transaction
        own = _forged_payload(bad.config, b.key)
        error = assert_json_refusal(client.post(b_url + "/push", content=own, headers=OCTET), 403)
        assert "sender" in error.lower(), error
        # A's key as the sender, pushed by C: the sender is not the authenticated peer
        other = _payload_in_the_name_of(a.key, for_key=b.key)
        error = assert_json_refusal(client.post(b_url + "/push", content=other, headers=OCTET), 403)
        assert "sender" in error.lower(), error
    assert b.manager_row_count() == rows_before
    for forged in (own, other):
        assert b.manager_transaction(decode(forged).hash).status_code == 404


def test_a_member_cannot_fetch_another_partys_copy_with_resend(net: E2ENetwork,
                                                               contract: Callable[[str], Artifact]) -> None:
    a, b, c = net.nodes[0], net.nodes[1], net.nodes[2]
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b])
    payload_hash = bytes.fromhex(a.rpc("eth_getTransactionByHash", deployed.tx_hash)["input"][2:])
    bad = ManagerFiles.of(c, net)
    with bad.client() as client:
        for target in (a, b):
            url = ManagerFiles.of(target, net).p2p_url
            answer = client.post(url + "/resend", json={"type": "INDIVIDUAL", "publicKey": b.key,
                                                        "key": base64.b64encode(payload_hash).decode()})
            assert_json_refusal(answer, 403)
            assert payload_hash not in answer.content
    # the parties still hold their copies
    for party in (a, b):
        assert party.manager_transaction(payload_hash).status_code == 200


def test_a_flood_of_peer_urls_is_refused_and_members_still_talk(net: E2ENetwork,
                                                                contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    bad = ManagerFiles.of(c, net)
    a_url = ManagerFiles.of(a, net).p2p_url
    junk = [f"https://127.0.{i // 250}.{i % 250 + 1}:{1024 + i}" for i in range(1_100)]
    with bad.client() as client:
        answer = client.post(a_url + "/partyinfo", json={"url": bad.p2p_url, "keys": [], "peers": junk})
        assert answer.status_code in (200, 400, 403), answer.text
        if answer.status_code != 200:
            assert_json_refusal(answer, answer.status_code)
    peers = {p["url"] for p in party_info(ManagerFiles.of(d, net), a_url)["peers"]}
    members = {ManagerFiles.of(n, net).p2p_url for n in net.nodes}
    assert peers <= members, sorted(peers - members)[:5]
    # the members still reach each other: a private transaction between A and D
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [d])
    assert_private_to(net, deployed, [a, d])


class _RelayHandler(BaseHTTPRequestHandler):
    """A bad member's P2P server: relays A's party-info request to B and answers with B's reply."""

    server: _RelayServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path != "/partyinfo":
            self._answer(503, b'{"error": "relay only"}')
            return
        document = json.loads(body)
        relay = self.server.relay
        with relay.member.client() as client:
            forwarded = client.post(relay.victim_url + "/partyinfo", content=body,
                                    headers={"content-type": "application/json"})
        self._answer(forwarded.status_code, forwarded.content)
        if document.get("url") == relay.requester_url and forwarded.status_code == 200:
            relay.relayed.set()

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200 if self.path == "/upcheck" else 404, b"I'm up!" if self.path == "/upcheck" else b"{}")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class _Relay:
    member: ManagerFiles
    victim_url: str
    requester_url: str
    relayed: threading.Event


class _RelayServer(ThreadingHTTPServer):
    daemon_threads = True
    relay: _Relay


@contextmanager
def relay_attacker(member: ManagerFiles, victim_url: str, requester_url: str) -> Iterator[_Relay]:
    """Serve on the bad member's own P2P address with its own certificate (it holds both)."""
    split = urlsplit(member.p2p_url)
    server = _RelayServer((split.hostname or "", split.port or 0), _RelayHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(member.cert), str(member.key))
    context.load_verify_locations(str(member.ca))
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.relay = _Relay(member, victim_url, requester_url, threading.Event())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.relay
    finally:
        server.shutdown()
        server.server_close()


def test_relaying_the_ownership_challenge_hijacks_no_key(net: E2ENetwork,
                                                         contract: Callable[[str], Artifact]) -> None:
    a, b = net.nodes[0], net.nodes[1]
    files = {n.name: ManagerFiles.of(n, net) for n in net.nodes}
    a_url, b_url = files["node1"].p2p_url, files["node2"].p2p_url
    assert bindings(files["node4"], a_url)[b.key] == b_url
    net.local.stop_process("node3-manager")
    try:
        with relay_attacker(files["node3"], b_url, a_url) as relay:
            # A gossips with every member every few seconds: with C's URL, it now reaches the relay
            assert relay.relayed.wait(WAIT_S), "A never exchanged party info with the relay"
            time.sleep(1.0)  # A merges the relayed answer right after it arrives
            assert bindings(files["node4"], a_url)[b.key] == b_url
    finally:
        net.local.start_process("node3-manager")
    assert bindings(files["node4"], a_url)[b.key] == b_url
    # both parties receive, and their private states agree
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b])
    assert_private_to(net, deployed, [a, b])


# -- Q2T and files ---------------------------------------------------------------------------------

def test_q2t_is_a_socket_only_its_owner_can_open(net: E2ENetwork) -> None:
    a = net.nodes[0]
    assert a.q2t_url.startswith("unix://"), a.q2t_url
    path = Path(a.q2t_url[len("unix://"):])
    assert path.is_socket()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_uid == os.geteuid()
    # the manager answers its owner over the socket
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport, base_url="http://q2t", timeout=30) as owner:
        assert owner.get("/upcheck").status_code == 200
    if os.geteuid() != 0:
        pytest.skip("opening the socket as another user needs root to switch users")
    # a child process that drops to `nobody` and tries to connect (fork: no interpreter to exec)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status only
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(str(path))
                code = 1
            except PermissionError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "another user could connect to the Q2T socket"


def test_key_files_are_encrypted_and_secrets_owner_only(net: E2ENetwork) -> None:
    assert (net.directory / "network.json").stat().st_mode & 0o077 == 0
    for entry in net.spec["nodes"]:
        manager_config = Path(entry["manager_config"])
        settings = tomllib.loads(manager_config.read_text())
        for key in settings["keys"]:
            key_file = manager_config.parent / key["private_key_file"]
            assert json.loads(key_file.read_text())["type"] == "scrypt-aes256gcm", key_file
            assert key_file.stat().st_mode & 0o077 == 0, key_file
        assert manager_config.parent.stat().st_mode & 0o077 == 0
        node_dir = Path(entry["node_config"]).parent
        assert node_dir.stat().st_mode & 0o077 == 0
        assert (node_dir / "chain.sqlite").stat().st_mode & 0o077 == 0


def test_payloads_stay_readable_after_the_attacks(net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    """Whatever ran before on this network: a new private transaction still reaches its parties only."""
    a, b = net.nodes[0], net.nodes[1]
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, b, [a])
    assert_private_to(net, deployed, [a, b])
    assert a.manager_transaction(bytes.fromhex(
        b.rpc("eth_getTransactionByHash", deployed.tx_hash)["input"][2:])).status_code == 200
