"""Bad input never breaks a manager: every case answers 4xx with a JSON error, and the
server stays healthy. Also the request-size limits, on a real server. Everything runs on a
SQLite and on a PostgreSQL store; a database that goes down answers 503 until it is back."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.runtime import ManagerProcess
from tests.helpers.postgres import (  # noqa: F401  (fixtures)
    BACKENDS,
    PostgresServer,
    database_url,
    postgres_server_factory,
    postgres_url,
)
from tests.helpers.q2t_auth import bearer, q2t_client

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024
GOOD_KEY_LEN_33 = base64.b64encode(b"\x01" * 33).decode()
UNKNOWN_KEY = base64.b64encode(b"\x07" * 32).decode()
UNKNOWN_HASH = base64.b64encode(b"\x07" * 64).decode()


def _settings(directory: Path, name: str, peers: list[str], db_url: str) -> ManagerSettings:
    pub, key = write_key_files(directory, name, None)
    return ManagerSettings(q2t_port=0, p2p_port=0, q2t_token_file=directory / f"{name}.token", peers=peers,
                           db_url=db_url,
                           keys=[KeyConfig(public_key_file=pub, private_key_file=key)],
                           max_payload_bytes=LIMIT, gossip_interval_seconds=3600, log_level="warning")


@pytest.fixture(scope="module", params=BACKENDS)
def pair(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ManagerProcess, ManagerProcess]]:
    directory = tmp_path_factory.mktemp("api")
    a = ManagerProcess(_settings(directory, "a", [], database_url(request, request.param, directory / "a.db"))).start()
    b = ManagerProcess(_settings(directory, "b", [a.p2p_url],
                                 database_url(request, request.param, directory / "b.db"))).start()
    b.parts.network.refresh()  # type: ignore[union-attr]  # b announced (its own first round may be late)
    a.parts.network.refresh()  # type: ignore[union-attr]
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def case(api: str, method: str, path: str, status: int, match: str, **kwargs: Any) -> Any:
    return pytest.param(api, method, path, status, match, kwargs, id=f"{api}{path}:{match}")


BAD_INPUTS = [
    case("q2t", "POST", "/send", 400, "payload is not valid base64", json={"payload": "%%%", "to": []}),
    case("q2t", "POST", "/send", 400, r"to\[0\] must decode to 32 bytes, got 33",
         json={"payload": "AA==", "to": [GOOD_KEY_LEN_33]}),
    case("q2t", "POST", "/send", 400, "to.0: Input should be a valid string", json={"payload": "AA==", "to": [5]}),
    case("q2t", "POST", "/send", 400, "from is not valid base64", json={"payload": "AA==", "from": "*"}),
    case("q2t", "POST", "/send", 404, "not known to any peer", json={"payload": "AA==", "to": [UNKNOWN_KEY]}),
    case("q2t", "POST", "/send", 404, "sender key", json={"payload": "AA==", "from": UNKNOWN_KEY}),
    case("q2t", "POST", "/send", 413, f"exceeds the limit of {LIMIT} bytes",
         json={"payload": b64(b"x" * (LIMIT + 1)), "to": []}),
    case("q2t", "POST", "/send", 413, "request body exceeds the limit",
         json={"payload": b64(b"x" * (2 * 1024 * 1024)), "to": []}),
    case("q2t", "POST", "/send", 400, "payload: Field required", json={"to": []}),
    case("q2t", "POST", "/send", 415, "Content-Type must be application/json",
         content=b'{"payload": "AA=="}', headers={"content-type": "text/plain"}),
    case("q2t", "POST", "/send", 415, "Content-Type must be application/json", content=b'{"payload": "AA=="}'),
    case("q2t", "POST", "/send", 400, "malformed JSON body",
         content=b'{"payload": "AA==",', headers={"content-type": "application/json"}),
    case("q2t", "POST", "/send", 400, "must be a JSON object", json=["AA=="]),
    case("q2t", "POST", "/send", 400, "invalid privacy flag 7", json={"payload": "AA==", "privacyFlag": 7}),
    case("q2t", "POST", "/send", 400, "privacyFlag", json={"payload": "AA==", "privacyFlag": "1"}),
    case("q2t", "POST", "/send", 400, "missing mandatory recipients", json={"payload": "AA==", "privacyFlag": 2}),
    case("q2t", "POST", "/send", 400, r"affectedContractTransactions\[0\] must decode to 64 bytes",
         json={"payload": "AA==", "privacyFlag": 1, "affectedContractTransactions": [UNKNOWN_KEY]}),
    case("q2t", "POST", "/sendraw", 415, "application/octet-stream", json={"payload": "AA=="}),
    case("q2t", "POST", "/sendraw", 400, r"c11n-to\[0\] is not valid base64", content=b"x",
         headers={"content-type": "application/octet-stream", "c11n-to": "!!"}),
    case("q2t", "POST", "/storeraw", 400, "payload: Field required", json={}),
    case("q2t", "POST", "/sendsignedtx", 404, "raw transaction", json={"hash": UNKNOWN_HASH, "to": []}),
    case("q2t", "POST", "/sendsignedtx", 400, "hash must decode to 64 bytes", json={"hash": UNKNOWN_KEY}),
    case("q2t", "POST", "/receive", 400, "key: Field required", json={"to": UNKNOWN_KEY}),
    case("q2t", "GET", "/transaction/not*base64", 400, "key is not valid base64"),
    case("q2t", "GET", f"/transaction/{UNKNOWN_KEY.replace('/', '%2F')}", 400, "key must decode to 64 bytes"),
    case("q2t", "GET", f"/transaction/{UNKNOWN_HASH.replace('/', '%2F')}", 404, "not found"),
    case("q2t", "GET", f"/transaction/{UNKNOWN_HASH}?to=abc", 400, "to is not valid base64"),
    case("q2t", "GET", f"/transaction/{UNKNOWN_HASH}?to={UNKNOWN_KEY}", 404, "not held by this manager"),
    case("q2t", "GET", f"/transaction/{UNKNOWN_HASH}/isSender", 404, "not found"),
    case("q2t", "DELETE", f"/transaction/{UNKNOWN_HASH}", 404, "not found"),
    case("q2t", "GET", "/no/such/path", 404, "Not Found"),
    case("q2t", "PUT", "/send", 405, "Method Not Allowed"),
    case("p2p", "POST", "/push", 400, "unsupported encoded payload version", content=b"\x09junk",
         headers={"content-type": "application/octet-stream"}),
    case("p2p", "POST", "/push", 400, "encoded payload is empty", content=b"",
         headers={"content-type": "application/octet-stream"}),
    case("p2p", "POST", "/push", 415, "application/octet-stream", json={"x": 1}),
    case("p2p", "POST", "/resend", 400, "type", json={"type": "SOME", "publicKey": UNKNOWN_KEY}),
    case("p2p", "POST", "/resend", 400, "publicKey must decode to 32 bytes",
         json={"type": "ALL", "publicKey": GOOD_KEY_LEN_33}),
    # /resend ALL for a key with no payload here is a 200 (Tessera): test_manager_encodedpayload.py
    case("p2p", "POST", "/resend", 400, "key is required", json={"type": "INDIVIDUAL", "publicKey": UNKNOWN_KEY}),
    case("p2p", "POST", "/resend", 404, "not found",
         json={"type": "INDIVIDUAL", "publicKey": UNKNOWN_KEY, "key": UNKNOWN_HASH}),
    case("p2p", "POST", "/partyinfo", 400, "url: Field required", json={"keys": []}),
    case("p2p", "POST", "/partyinfo", 400, "challengeKey",
         json={"url": "http://127.0.0.1:1", "challenge": b64(b"c" * 32), "challengeKey": "AA=="}),
]


@pytest.mark.parametrize(("api", "method", "path", "status", "match", "kwargs"), BAD_INPUTS)
def test_bad_input_is_a_4xx_with_a_json_message(pair: tuple[ManagerProcess, ManagerProcess], api: str,
                                                method: str, path: str, status: int, match: str,
                                                kwargs: dict[str, Any]) -> None:
    a, _ = pair
    base = a.q2t_url if api == "q2t" else a.p2p_url
    with httpx.Client(base_url=base, timeout=20, headers=bearer(a.q2t_token) if api == "q2t" else None) as client:
        response = client.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        message = response.json()["error"]
        assert isinstance(message, str)
        assert re.search(match, message), message
        assert "Traceback" not in response.text and "File \"" not in response.text
        assert client.get("/upcheck").status_code == 200


def test_chunked_body_over_the_limit_is_refused(pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    a, _ = pair

    def chunks() -> Iterator[bytes]:
        yield b'{"payload": "'
        for _ in range(40):
            yield b"A" * 65536
        yield b'"}'

    with q2t_client(a) as client:
        response = client.post("/send", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413 and "exceeds" in response.json()["error"]
        assert client.get("/upcheck").status_code == 200


def test_a_corrupted_push_names_the_problem(pair: tuple[ManagerProcess, ManagerProcess]) -> None:
    a, b = pair
    b_key = b.public_keys[0]
    with httpx.Client(timeout=20) as client:
        sent = client.post(f"{a.q2t_url}/send", json={"payload": b64(b"hello"), "to": [b_key]},
                           headers=bearer(a.q2t_token))
        assert sent.status_code == 201, sent.text
        copy = client.post(f"{a.p2p_url}/resend", json={"type": "INDIVIDUAL", "publicKey": b_key,
                                                        "key": sent.json()["key"]}).content
        tampered = bytearray(copy)
        tampered[-200] ^= 0x01
        answer = client.post(f"{b.p2p_url}/push", content=bytes(tampered),
                             headers={"content-type": "application/octet-stream"})
        assert answer.status_code == 400 and "payload" in answer.json()["error"]
        duplicate = client.post(f"{b.p2p_url}/push", content=copy,
                                headers={"content-type": "application/octet-stream"})
        assert duplicate.status_code == 409 and "already stored" in duplicate.json()["error"]
        outsider = client.post(f"{a.p2p_url}/push", content=copy,
                               headers={"content-type": "application/octet-stream"})
        assert outsider.status_code in (201, 409)  # A is the sender: accepted (sender recovery)


def test_a_database_outage_answers_503_in_json_and_the_manager_recovers(request: pytest.FixtureRequest,
                                                                        tmp_path: Path) -> None:
    server: PostgresServer = request.getfixturevalue("postgres_server_factory")()
    with ManagerProcess(_settings(tmp_path, "solo", [], server.create_database())) as proc, \
            q2t_client(proc) as client:
        before = client.post("/send", json={"payload": b64(b"before the outage")})
        assert before.status_code == 201, before.text
        server.stop("immediate")
        for response in (client.get(before.headers["location"]),
                         client.post("/send", json={"payload": b64(b"during the outage")}),
                         client.post("/storeraw", json={"payload": b64(b"raw during the outage")})):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/json")
            assert response.json() == {"error": "the payload store is unavailable"}
        assert client.get("/upcheck").status_code == 200
        server.start()
        again = client.get(before.headers["location"])
        assert again.status_code == 200 and base64.b64decode(again.json()["payload"]) == b"before the outage"
        after = client.post("/send", json={"payload": b64(b"after the outage")})
        assert after.status_code == 201, after.text
        assert base64.b64decode(client.get(after.headers["location"]).json()["payload"]) == b"after the outage"
