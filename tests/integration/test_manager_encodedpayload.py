"""Tessera's `/encodedpayload/create` and `/encodedpayload/decrypt`, `/sendraw` with an empty
body, and `/resend` ALL for a key with nothing to resend, on real Q2T/P2P servers.

Each behaviour is paired with its refusals: bad base64, unknown keys, oversize bodies and
tampered payloads answer 4xx JSON, and `create` stores and pushes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.payload import encode
from tessera_like.runtime import ManagerProcess
from tessera_like.sealing import encrypt
from tessera_like.types import PublicKey
from tests.helpers.q2t_auth import q2t_client

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024
UNKNOWN_KEY = base64.b64encode(b"\x07" * 32).decode()
KEY_LEN_33 = base64.b64encode(b"\x01" * 33).decode()
TESSERA_FIELDS = {"senderKey", "cipherText", "cipherTextNonce", "recipientBoxes", "recipientNonce",
                  "recipientKeys", "privacyMode", "affectedContractTransactions", "execHash"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _settings(directory: Path, name: str, peers: list[str]) -> ManagerSettings:
    pub, key = write_key_files(directory, name, None)
    return ManagerSettings(q2t_port=0, p2p_port=0, q2t_token_file=directory / f"{name}.token", peers=peers,
                           db_url=f"sqlite:///{directory / name}.db",
                           keys=[KeyConfig(public_key_file=pub, private_key_file=key)],
                           max_payload_bytes=LIMIT, gossip_interval_seconds=3600, log_level="warning")


def _start_pair(directory: Path) -> tuple[ManagerProcess, ManagerProcess]:
    a = ManagerProcess(_settings(directory, "a", [])).start()
    b = ManagerProcess(_settings(directory, "b", [a.p2p_url])).start()
    b.parts.network.refresh()  # type: ignore[union-attr]  # b announced (its own first round may be late)
    a.parts.network.refresh()  # type: ignore[union-attr]
    return a, b


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ManagerProcess, ManagerProcess]]:
    a, b = _start_pair(tmp_path_factory.mktemp("encodedpayload"))
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


def rows(proc: ManagerProcess) -> list[bytes]:
    return sorted(bytes(tx_hash) for tx_hash, _ in proc.manager.store.scan())


def tx_key(document: dict[str, Any]) -> str:
    return b64(hashlib.sha3_512(base64.b64decode(document["cipherText"])).digest())


def create(proc: ManagerProcess, **body: Any) -> dict[str, Any]:
    with q2t_client(proc) as client:
        response = client.post("/encodedpayload/create", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def decrypt(proc: ManagerProcess, document: dict[str, Any]) -> httpx.Response:
    with q2t_client(proc) as client:
        return client.post("/encodedpayload/decrypt", json=document)


def assert_json_error(response: httpx.Response, status: int, match: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert re.search(match, message), message
    assert "Traceback" not in response.text


# -- /encodedpayload/create and /encodedpayload/decrypt --------------------------------------


def test_create_answers_tessera_shaped_payload_and_neither_stores_nor_pushes(
        pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    a, b = pair
    a_key, b_key = a.public_keys[0], b.public_keys[0]
    before = (rows(a), rows(b))
    document = create(a, payload=b64(b"not stored anywhere"), to=[b_key])
    assert TESSERA_FIELDS <= set(document)
    assert document["senderKey"] == a_key
    assert set(document["recipientKeys"]) == {a_key, b_key}
    assert len(document["recipientBoxes"]) == len(document["recipientKeys"]) == 2
    assert document["privacyMode"] == 0
    assert document["affectedContractTransactions"] == {} and document["execHash"] == ""
    assert len(base64.b64decode(document["cipherTextNonce"])) == 12
    assert (rows(a), rows(b)) == before  # nothing stored, nothing pushed
    with q2t_client(a) as client:
        assert client.get(f"/transaction/{tx_key(document).replace('/', '%2F')}").status_code == 404


def test_decrypt_opens_for_the_recipient_and_the_sender_and_stores_nothing(
        pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    a, b = pair
    exec_hash = b64(b"\x05" * 32)
    document = create(a, payload=b64(b"for b's eyes"), to=[b.public_keys[0]], privacyFlag=1, execHash=exec_hash)
    assert document["privacyMode"] == 1 and document["execHash"] == exec_hash
    before = (rows(a), rows(b))
    for proc in (b, a):  # the recipient with its box; the sender with its own
        answer = decrypt(proc, document)
        assert answer.status_code == 200, answer.text
        received = answer.json()
        assert base64.b64decode(received["payload"]) == b"for b's eyes"
        assert received["privacyFlag"] == 1 and received["execHash"] == exec_hash
        assert received["senderKey"] == a.public_keys[0]
        assert received["managedParties"] == proc.public_keys
    assert (rows(a), rows(b)) == before


def test_decrypt_of_only_the_tessera_crypto_fields_works_for_standard_private(
        pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    """GoQuorum's `DecryptPayload` sends the six crypto fields only."""
    a, b = pair
    document = create(a, payload=b64(b"quorum style"), to=[b.public_keys[0]])
    six = {k: document[k] for k in ("senderKey", "cipherText", "cipherTextNonce", "recipientBoxes",
                                    "recipientNonce", "recipientKeys")}
    answer = decrypt(b, six)
    assert answer.status_code == 200 and base64.b64decode(answer.json()["payload"]) == b"quorum style"


def test_decrypt_by_a_manager_that_is_not_a_party_is_404(pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    a, b = pair
    document = create(a, payload=b64(b"a alone"))
    assert_json_error(decrypt(b, document), 404, "no key of this manager can open payload")


def _flip(value: str, index: int = 0) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return b64(bytes(raw))


TAMPERINGS = {
    "cipherText": lambda d: {**d, "cipherText": _flip(d["cipherText"], 3)},
    "cipherTextNonce": lambda d: {**d, "cipherTextNonce": _flip(d["cipherTextNonce"])},
    "recipientBox": lambda d: {**d, "recipientBoxes": [_flip(box, 5) for box in d["recipientBoxes"]]},
    "recipientNonce": lambda d: {**d, "recipientNonce": _flip(d["recipientNonce"])},
    "privacyMode": lambda d: {**d, "privacyMode": 1},
    "execHash": lambda d: {**d, "execHash": b64(b"\x09" * 32)},
}


@pytest.mark.parametrize("field", sorted(TAMPERINGS))
def test_decrypt_of_a_tampered_payload_is_400(pair: tuple[ManagerProcess, ManagerProcess], field: str) -> None:
    a, b = pair
    document = create(a, payload=b64(b"integrity"), to=[b.public_keys[0]])
    assert_json_error(decrypt(b, TAMPERINGS[field](document)), 400, "corrupted payload|failed authentication")


CREATE_REFUSALS = [
    pytest.param({"payload": "%%%"}, 400, "payload is not valid base64", id="payload-not-base64"),
    pytest.param({"payload": "AA==", "to": [KEY_LEN_33]}, 400, r"to\[0\] must decode to 32 bytes", id="to-33"),
    pytest.param({"payload": "AA==", "from": UNKNOWN_KEY}, 404, "sender key", id="from-unknown"),
    pytest.param({"payload": "AA==", "privacyFlag": 7}, 400, "invalid privacy flag 7", id="flag-7"),
    pytest.param({"payload": "AA==", "privacyFlag": 2}, 400, "missing mandatory recipients", id="flag-2"),
    pytest.param({"payload": "AA==", "privacyFlag": 1, "affectedContractTransactions": [b64(b"\x07" * 64)]},
                 403, "Unable to find affectedContractTransaction", id="acoth-unknown"),
    pytest.param({"payload": b64(b"x" * (LIMIT + 1))}, 413, f"exceeds the limit of {LIMIT} bytes", id="payload-size"),
    pytest.param({"payload": b64(b"x" * (2 * 1024 * 1024))}, 413, "request body exceeds the limit", id="body-size"),
    pytest.param({"to": []}, 400, "payload: Field required", id="no-payload"),
]


@pytest.mark.parametrize(("body", "status", "match"), CREATE_REFUSALS)
def test_create_refusals_are_4xx_json_and_store_nothing(pair: tuple[ManagerProcess, ManagerProcess],
                                                        body: dict[str, Any], status: int, match: str) -> None:
    a, b = pair
    before = (rows(a), rows(b))
    with q2t_client(a) as client:
        assert_json_error(client.post("/encodedpayload/create", json=body), status, match)
        assert client.get("/upcheck").status_code == 200
    assert (rows(a), rows(b)) == before


DECRYPT_REFUSALS = [
    pytest.param(lambda d: {**d, "cipherText": "***"}, 400, "cipherText is not valid base64", id="cipher-b64"),
    pytest.param(lambda d: {**d, "senderKey": KEY_LEN_33}, 400, "senderKey must decode to 32 bytes", id="sender-33"),
    pytest.param(lambda d: {**d, "recipientKeys": [KEY_LEN_33]}, 400, r"recipientKeys\[0\] must decode to 32",
                 id="recipient-33"),
    pytest.param(lambda d: {**d, "recipientBoxes": ["AAAA"]}, 400, "recipientBox must be 48 bytes", id="box-size"),
    pytest.param(lambda d: {**d, "recipientBoxes": []}, 400, "holds no recipient box", id="no-box"),
    pytest.param(lambda d: {**d, "cipherTextNonce": "AAAA"}, 400, "cipherTextNonce must be 12 bytes",
                 id="nonce-size"),
    pytest.param(lambda d: {**d, "privacyMode": 9}, 400, "invalid privacy flag 9", id="mode-9"),
    pytest.param(lambda d: {**d, "affectedContractTransactions": {UNKNOWN_KEY: UNKNOWN_KEY}}, 400,
                 "affectedContractTransactions key 0 must decode to 64 bytes", id="acoth-key"),
    pytest.param(lambda d: {k: v for k, v in d.items() if k != "cipherText"}, 400, "cipherText: Field required",
                 id="missing-field"),
    pytest.param(lambda d: {**d, "cipherText": b64(b"x" * (2 * 1024 * 1024))}, 413,
                 "request body exceeds the limit", id="body-size"),
    pytest.param(lambda d: {**d, "cipherText": b64(b"x" * (LIMIT + 17))}, 413,
                 f"exceeds the limit of {LIMIT} bytes", id="payload-size"),
]


@pytest.mark.parametrize(("change", "status", "match"), DECRYPT_REFUSALS)
def test_decrypt_refusals_are_4xx_json(pair: tuple[ManagerProcess, ManagerProcess], change: Any, status: int,
                                       match: str) -> None:
    a, b = pair
    document = create(a, payload=b64(b"refusals"), to=[b.public_keys[0]])
    assert_json_error(decrypt(b, change(document)), status, match)


def test_decrypt_needs_json(pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    a, _ = pair
    with q2t_client(a) as client:
        answer = client.post("/encodedpayload/decrypt", content=b"{}", headers={"content-type": "text/plain"})
    assert_json_error(answer, 415, "Content-Type must be application/json")


# -- /sendraw with an empty body ----------------------------------------------------------------


def test_sendraw_with_an_empty_body_is_400_and_stores_nothing(pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    a, b = pair
    before = (rows(a), rows(b))
    with q2t_client(a) as client:
        answer = client.post("/sendraw", content=b"", headers={"content-type": "application/octet-stream",
                                                               "c11n-to": b.public_keys[0]})
        assert_json_error(answer, 400, "payload.* empty")
        sent = client.post("/sendraw", content=b"\x01", headers={"content-type": "application/octet-stream"})
        assert sent.status_code == 200, sent.text  # one byte is a payload
    assert rows(b) == before[1]


# -- /resend ALL with nothing to resend -----------------------------------------------------------


def test_resend_all_for_a_known_key_with_no_payloads_is_200_and_sends_nothing(tmp_path: Path) -> None:
    a, b = _start_pair(tmp_path)
    try:
        with httpx.Client(timeout=20) as client:
            answer = client.post(f"{a.p2p_url}/resend", json={"type": "ALL", "publicKey": b.public_keys[0]})
        assert answer.status_code == 200, answer.text
        assert rows(b) == []
    finally:
        b.stop()
        a.stop()


def test_resend_all_for_an_unknown_key_is_200_with_no_payloads_and_404_with_some(
        pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    a, _ = pair
    stranger = base64.b64encode(b"\x0b" * 32).decode()
    with httpx.Client(timeout=20) as client:
        nothing = client.post(f"{a.p2p_url}/resend", json={"type": "ALL", "publicKey": stranger})
        assert nothing.status_code == 200, nothing.text
        manager = a.manager
        orphan = encrypt(manager.encryptor, b"for a key nobody owns", manager.keys.require(manager.keys.default_key()),
                         [PublicKey(base64.b64decode(stranger))])
        manager.store.put(orphan.hash, encode(orphan))
        try:
            some = client.post(f"{a.p2p_url}/resend", json={"type": "ALL", "publicKey": stranger})
            assert_json_error(some, 404, "not known to any peer")
        finally:
            manager.store.delete(orphan.hash)
