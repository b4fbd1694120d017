"""HTTP client for the node's own private transaction manager (Tessera-shaped Q2T API).

Note: a 404 on receive means "not a party" and is an ordinary answer. A transport error
or a 5xx is retried (`retries` times, `retry_delay_s` apart, as GoQuorum does) and then
raises PrivacyManagerUnavailable: the node stops importing rather than guess. A 401 (the
manager wants a bearer token this node lacks or has wrong) is PrivacyManagerUnauthorized at
once: retrying cannot fix a configuration.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from engine.abc import (
    PrivacyManagerClientAPI,
    ReceivedPayload,
    StateCommitment,
    StateCommitmentsAPI,
    StateDivergence,
)
from engine.errors import (
    NotAParty,
    PrivacyManagerError,
    PrivacyManagerUnauthorized,
    PrivacyManagerUnavailable,
    PrivateTransactionRejected,
)
from engine.privacy.q2t_http import HttpxHttp, PooledHttp, Q2THttp, Reply, TransportFailure
from engine.types import Address, PayloadHash, PrivacyFlag, PtmPublicKey

logger = logging.getLogger(__name__)

BATCH_RECEIVE_MAX = 500


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class HttpPrivacyManagerClient(PrivacyManagerClientAPI, StateCommitmentsAPI):
    def __init__(self, url: str, retries: int = 5, retry_delay_s: float = 1.0, timeout_s: float = 10.0,
                 *, transport: httpx.BaseTransport | None = None, token: str | None = None) -> None:
        """`transport` replaces the HTTP connection (tests drive a manager app in process
        through it); by default keep-alive connections to `url`, or its socket for `unix://`
        (privacy/q2t_http.py). `token` is sent as `Authorization: Bearer` on every request (never logged)."""
        self.url = url
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self._batch_supported = True
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http: Q2THttp
        if transport is not None:
            base_url = "http://tessera" if url.startswith("unix://") else url.rstrip("/")
            self._http = HttpxHttp(transport, base_url, timeout_s, headers)
        else:
            self._http = PooledHttp(url, timeout_s, headers)

    def close(self) -> None:
        self._http.close()

    # -- transport with bounded retries ---------------------------------------------------
    def _request(self, method: str, path: str, *, retry: bool = True, json_body: Any = None,
                 params: dict[str, str] | None = None) -> Reply:
        body = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        content_type = None if body is None else "application/json"
        if params:
            path = f"{path}?{urlencode(params)}"
        attempts = 1 + (self.retries if retry else 0)
        last_error = ""
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, body, content_type)
            except TransportFailure as exc:
                last_error = str(exc)
            else:
                # A 5xx is the manager's answer (e.g. 503: a recipient's manager is down). Where we do
                # not retry, the caller reports it as GoQuorum does, "<status> status: <body>", rather
                # than calling this manager unavailable.
                if response.status_code == 401:
                    raise PrivacyManagerUnauthorized(
                        f"private transaction manager at {self.url} refused this node (401 status: "
                        f"{_body_text(response)}); privacy.q2t_token_file must name the manager's q2t_token_file")
                if response.status_code < 500 or not retry:
                    return response
                last_error = f"{response.status_code} status: {_body_text(response)}"
            if attempt + 1 < attempts:
                logger.warning("privacy manager %s %s failed (%s); retrying", method, path, last_error)
                time.sleep(self.retry_delay_s)
        raise PrivacyManagerUnavailable(f"private transaction manager at {self.url} unavailable: {last_error}")

    @staticmethod
    def _raise_for_client_error(response: Reply) -> None:
        if response.status_code >= 400:
            # GoQuorum reports a manager error as "<status> status: <body>".
            raise PrivateTransactionRejected(f"{response.status_code} status: {_body_text(response)}")

    # -- PrivacyManagerClientAPI -------------------------------------------------------------
    def upcheck(self) -> bool:
        try:
            return self._http.request("GET", "/upcheck").status_code == 200
        except TransportFailure:
            return False

    def send(self, payload: bytes, private_from: PtmPublicKey | None, private_for: tuple[PtmPublicKey, ...],
             privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
             affected_contract_transactions: tuple[PayloadHash, ...] = (),
             exec_hash: bytes = b"", mandatory_recipients: tuple[PtmPublicKey, ...] = ()) -> PayloadHash:
        body = _privacy_fields(private_for, privacy_flag, affected_contract_transactions, exec_hash,
                               mandatory_recipients, payload=b64(payload))
        if private_from:
            body["from"] = private_from
        # Not retried: /send is not idempotent towards the recipients' managers.
        response = self._request("POST", "/send", json_body=body, retry=False)
        self._raise_for_client_error(response)
        return PayloadHash(unb64(response.json()["key"]))

    def receive(self, payload_hash: PayloadHash) -> ReceivedPayload | None:
        response = self._request("GET", f"/transaction/{quote(b64(payload_hash), safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise PrivacyManagerError(f"{response.status_code} status: {_body_text(response)}")
        return _received(response.json())

    def receive_many(self, payload_hashes: list[PayloadHash]) -> dict[bytes, ReceivedPayload | None]:
        """`receive` for a block's worth of hashes in one round trip (our manager's
        `POST /transactions/receive`); per-key GETs against a manager without it (Tessera)."""
        if not self._batch_supported:
            return {bytes(h): self.receive(h) for h in payload_hashes}
        result: dict[bytes, ReceivedPayload | None] = {}
        for start in range(0, len(payload_hashes), BATCH_RECEIVE_MAX):
            chunk = payload_hashes[start:start + BATCH_RECEIVE_MAX]
            keys = {b64(h): bytes(h) for h in chunk}
            response = self._request("POST", "/transactions/receive", json_body={"keys": list(keys)})
            if response.status_code in (404, 405):
                self._batch_supported = False
                return {bytes(h): self.receive(h) for h in payload_hashes}
            if response.status_code >= 400:
                raise PrivacyManagerError(f"{response.status_code} status: {_body_text(response)}")
            data = response.json()
            for key, item in data["transactions"].items():
                result[keys[key]] = _received(item)
            for key in data["missing"]:
                result[keys[key]] = None
        return result

    def receive_raw(self, payload_hash: PayloadHash) -> bytes | None:
        response = self._request("GET", f"/transaction/{quote(b64(payload_hash), safe='')}", params={"isRaw": "true"})
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise PrivacyManagerError(f"{response.status_code} status: {_body_text(response)}")
        return unb64(response.json()["payload"])

    def store_raw(self, payload: bytes, private_from: PtmPublicKey | None) -> PayloadHash:
        body: dict[str, Any] = {"payload": b64(payload)}
        if private_from:
            body["from"] = private_from
        response = self._request("POST", "/storeraw", json_body=body, retry=False)
        self._raise_for_client_error(response)
        return PayloadHash(unb64(response.json()["key"]))

    def send_signed(self, payload_hash: PayloadHash, private_for: tuple[PtmPublicKey, ...],
                    privacy_flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
                    affected_contract_transactions: tuple[PayloadHash, ...] = (),
                    exec_hash: bytes = b"", mandatory_recipients: tuple[PtmPublicKey, ...] = ()) -> PayloadHash:
        body = _privacy_fields(private_for, privacy_flag, affected_contract_transactions, exec_hash,
                               mandatory_recipients, hash=b64(payload_hash))
        response = self._request("POST", "/sendsignedtx", json_body=body, retry=False)
        self._raise_for_client_error(response)
        return PayloadHash(unb64(response.json()["key"]))

    def public_keys(self) -> list[PtmPublicKey]:
        response = self._request("GET", "/keys")  # this manager's own keys (/partyinfo/keys: everyone's)
        self._raise_for_client_error(response)
        return [PtmPublicKey(k["key"]) for k in response.json().get("keys", [])]

    # -- contract extension: GoQuorum's IsSender / GetParticipants --------------------------
    def is_sender(self, payload_hash: PayloadHash) -> bool:
        response = self._request("GET", f"/transaction/{quote(b64(payload_hash), safe='')}/isSender")
        if response.status_code == 404:
            return False
        if response.status_code >= 400:
            raise PrivacyManagerError(f"{response.status_code} status: {_body_text(response)}")
        return response.text.strip() == "true"

    def participants(self, payload_hash: PayloadHash) -> list[PtmPublicKey]:
        response = self._request("GET", f"/transaction/{quote(b64(payload_hash), safe='')}/participants")
        if response.status_code >= 400:
            raise PrivacyManagerError(f"{response.status_code} status: {_body_text(response)}")
        return [PtmPublicKey(k) for k in response.text.strip().split(",") if k]

    def receive_or_raise(self, payload_hash: PayloadHash) -> ReceivedPayload:
        received = self.receive(payload_hash)
        if received is None:
            raise NotAParty("this node is not a party to the transaction")
        return received

    # -- divergence detection: our manager's extension (PROTOCOL.md §12) --------------------
    def submit_state_commitments(self, commitments: Sequence[StateCommitment]) -> bool:
        """Not retried here (the caller keeps them and retries later): POST /commitments.
        False when the manager has no such route (404/405: e.g. Tessera itself)."""
        body = {"commitments": [{"blockNumber": c.block_number, "blockHash": "0x" + c.block_hash.hex(),
                                 "contract": "0x" + bytes(c.contract).hex(), "storageRoot": "0x" + c.storage_root.hex(),
                                 "payloadHashes": [b64(h) for h in c.payload_hashes]} for c in commitments]}
        response = self._request("POST", "/commitments", json_body=body, retry=False)
        if response.status_code in (404, 405):
            return False
        if response.status_code >= 400:
            raise _commitment_error(response)
        return True

    def state_divergences(self, from_block: int = 0) -> list[StateDivergence]:
        response = self._request("GET", "/commitments/divergences", params={"fromBlock": str(from_block)},
                                 retry=False)
        if response.status_code >= 400:
            raise _commitment_error(response)
        return [_divergence(item) for item in response.json()["divergences"]]


def _commitment_error(response: Reply) -> PrivacyManagerError:
    text = f"{response.status_code} status: {_body_text(response)}"
    if response.status_code in (404, 405):
        return PrivacyManagerError(f"the private transaction manager does not detect divergences ({text})")
    return PrivacyManagerUnavailable(text) if response.status_code >= 500 else PrivacyManagerError(text)


def _divergence(item: dict[str, Any]) -> StateDivergence:
    return StateDivergence(
        block_number=int(item["blockNumber"]),
        block_hash=bytes.fromhex(str(item["blockHash"])[2:]),
        contract=Address(bytes.fromhex(str(item["contract"])[2:])),
        sides=tuple((bytes.fromhex(str(side["storageRoot"])[2:]), tuple(PtmPublicKey(k) for k in side["parties"]))
                    for side in item["sides"]),
        own_parties=tuple(PtmPublicKey(k) for k in item.get("ownParties", ())),
        detected_at=int(item.get("detectedAt", 0)),
    )


def _received(data: dict[str, Any]) -> ReceivedPayload:
    return ReceivedPayload(
        payload=unb64(data["payload"]),
        privacy_flag=PrivacyFlag.from_wire(int(data.get("privacyFlag", 0))),
        affected_contract_transactions=tuple(
            PayloadHash(unb64(h)) for h in _acoth_keys(data.get("affectedContractTransactions"))
        ),
        exec_hash=unb64(data["execHash"]) if data.get("execHash") else b"",
        mandatory_recipients=tuple(PtmPublicKey(k) for k in data.get("mandatoryRecipients") or ()),
    )


def _privacy_fields(private_for: tuple[PtmPublicKey, ...], privacy_flag: PrivacyFlag,
                    affected_contract_transactions: tuple[PayloadHash, ...], exec_hash: bytes,
                    mandatory_recipients: tuple[PtmPublicKey, ...], **first: str) -> dict[str, Any]:
    """The JSON body shared by /send and /sendsignedtx (Tessera's field names)."""
    body: dict[str, Any] = {**first, "to": list(private_for), "privacyFlag": int(privacy_flag)}
    if affected_contract_transactions:
        body["affectedContractTransactions"] = [b64(h) for h in affected_contract_transactions]
    if exec_hash:
        body["execHash"] = b64(exec_hash)
    if mandatory_recipients:
        body["mandatoryRecipients"] = list(mandatory_recipients)
    return body


def _acoth_keys(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, dict):
        return list(value.keys())
    return [str(v) for v in value]


def _body_text(response: Reply) -> str:
    try:
        data = response.json()
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])
    except ValueError:
        pass
    return response.text[:500]


ClientFactory = Callable[[], PrivacyManagerClientAPI]
