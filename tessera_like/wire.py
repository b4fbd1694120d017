"""Wire DTOs (camelCase, base64 strings) and their conversion to domain values.

Both edges use it: the HTTP API (`api/`) and the peer client (`peer_client.py`), so it sits
beside them rather than inside either. Only this module and the routers see base64; the
manager works on bytes. Every decoding failure is an InvalidRequest naming the field,
except within a party-info document's lists, where a malformed entry is left out
(`decode_party_info`). The peer client parses the answers it gets with the same
converters: a peer's HTTP answer is a wire edge too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, ValidationError

from tessera_like.errors import InvalidRequest
from tessera_like.partyinfo import MAX_CHALLENGE_SIZE, MIN_CHALLENGE_SIZE, Challenge, KeyClaim, PartyView
from tessera_like.payload import EncodedPayload
from tessera_like.types import (
    PAYLOAD_HASH_SIZE,
    PUBLIC_KEY_SIZE,
    PayloadHash,
    PrivacyMetadata,
    PrivacyMode,
    PublicKey,
)

M = TypeVar("M", bound=BaseModel)


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class SendRequest(_Wire):
    payload: str = Field(description="the private payload, base64")
    from_: str | None = Field(default=None, alias="from", description="sender key (default: first key)")
    to: list[str] | None = Field(default=None, description="recipient keys; empty = sender alone")
    privacy_flag: StrictInt = Field(default=0, alias="privacyFlag", description="0, 1, 2 or 3")
    affected_contract_transactions: list[str] | None = Field(default=None, alias="affectedContractTransactions")
    exec_hash: str | None = Field(default=None, alias="execHash", description="base64")
    mandatory_recipients: list[str] | None = Field(default=None, alias="mandatoryRecipients")
    privacy_group_id: str | None = Field(default=None, alias="privacyGroupId", description="base64")


class SendSignedRequest(_Wire):
    hash: str = Field(description="key returned by /storeraw, base64")
    to: list[str] | None = None
    privacy_flag: StrictInt = Field(default=0, alias="privacyFlag")
    affected_contract_transactions: list[str] | None = Field(default=None, alias="affectedContractTransactions")
    exec_hash: str | None = Field(default=None, alias="execHash")
    mandatory_recipients: list[str] | None = Field(default=None, alias="mandatoryRecipients")
    privacy_group_id: str | None = Field(default=None, alias="privacyGroupId")


class StoreRawRequest(_Wire):
    payload: str
    from_: str | None = Field(default=None, alias="from")


class ReceiveRequest(_Wire):
    key: str
    to: str | None = None


MAX_BATCH_KEYS = 1000


class ReceiveBatchRequest(_Wire):
    keys: list[str] = Field(max_length=MAX_BATCH_KEYS)


class ResendRequest(_Wire):
    type: Literal["ALL", "INDIVIDUAL"]
    public_key: str = Field(alias="publicKey")
    key: str | None = None


class ResendPageRequest(_Wire):
    """Paged resend (P2P `POST /resend/page`): one page of `publicKey`'s payloads after `after`."""

    public_key: str = Field(alias="publicKey", description="the asking manager's key, base64")
    after: str | None = Field(default=None, description="cursor: the `next` of the previous page; absent: start")
    limit: StrictInt = Field(default=50, description="most payloads in the page (1-100)")


class ResendPageResponse(_Wire):
    payloads: list[str] = Field(description="encoded payloads, base64, each as the key's manager holds it")
    next: str | None = Field(default=None, description="cursor of the next page; null: no more pages")


class RecoverRequest(_Wire):
    """Q2T `POST /recover` (optional body): how many payloads to ask each peer for per page."""

    page_size: StrictInt = Field(default=50, alias="pageSize", description="1-100")


class KeyResponse(_Wire):
    key: str


class PayloadResponse(_Wire):
    payload: str


class ReceiveResponse(_Wire):
    payload: str
    privacy_flag: int = Field(alias="privacyFlag")
    affected_contract_transactions: list[str] = Field(alias="affectedContractTransactions")
    exec_hash: str = Field(alias="execHash")
    mandatory_recipients: list[str] = Field(alias="mandatoryRecipients")
    sender_key: str = Field(alias="senderKey")
    managed_parties: list[str] = Field(alias="managedParties")
    privacy_group_id: str | None = Field(default=None, alias="privacyGroupId")


class KeyEntry(_Wire):
    key: str


class KeysResponse(_Wire):
    keys: list[KeyEntry]


class PartyKey(_Wire):
    key: str
    url: str
    proof: str | None = Field(default=None, description="ownership proof, when a challenge was sent")


class PeerEntry(_Wire):
    url: str


def _valid_entries(entry: type[M]) -> BeforeValidator:
    """Leave out list entries that are not `entry`s: what a manager says about others is a
    hint, and one malformed hint must not void the rest of its document."""

    def keep(value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            return value  # the list itself is malformed: a validation error
        kept = []
        for item in value:
            try:
                kept.append(entry.model_validate(item))
            except ValidationError:
                continue
        return kept

    return BeforeValidator(keep)


class PartyInfoDocument(_Wire):
    url: str
    keys: Annotated[list[PartyKey], _valid_entries(PartyKey)] = Field(default_factory=list)
    peers: Annotated[list[PeerEntry], _valid_entries(PeerEntry)] = Field(default_factory=list)
    challenge: str | None = Field(default=None, description="random bytes, base64 (requests only)")
    challenge_key: str | None = Field(default=None, alias="challengeKey",
                                      description="requester's public key for ownership proofs")


class ErrorResponse(_Wire):
    error: str


class EncodedPayloadDocument(_Wire):
    """An encoded payload as JSON: what `/encodedpayload/create` answers and
    `/encodedpayload/decrypt` takes (Tessera's PayloadEncryptResponse / PayloadDecryptRequest,
    plus our `mandatoryRecipients` and `privacyGroupId`). Every byte string is base64."""

    sender_key: str = Field(alias="senderKey")
    cipher_text: str = Field(alias="cipherText")
    cipher_text_nonce: str = Field(alias="cipherTextNonce")
    recipient_boxes: list[str] = Field(default_factory=list, alias="recipientBoxes")
    recipient_nonce: str = Field(alias="recipientNonce")
    recipient_keys: list[str] = Field(default_factory=list, alias="recipientKeys")
    privacy_mode: StrictInt = Field(default=0, alias="privacyMode", description="0, 1, 2 or 3")
    affected_contract_transactions: dict[str, str] = Field(
        default_factory=dict, alias="affectedContractTransactions",
        description="affected transaction key -> security hash, both base64")
    exec_hash: str = Field(default="", alias="execHash")
    mandatory_recipients: list[str] = Field(default_factory=list, alias="mandatoryRecipients")
    privacy_group_id: str | None = Field(default=None, alias="privacyGroupId")


# -- decoding helpers -------------------------------------------------------------------


MAX_JSON_DEPTH = 128
# A whole string (escapes included) is one token, so brackets inside strings are skipped.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_depth_exceeds(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether `raw` nests arrays/objects deeper than `max_depth` (outside strings).

    Why before parsing: the stdlib decoder recurses in C, bounded only by the recursion limit;
    a deep body would fail as RecursionError (or, under a raised limit, overflow the stack).
    """
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(raw):
        char = raw[match.start()]
        if char in b"[{":
            depth += 1
            if depth > max_depth:
                return True
        elif char in b"]}":
            depth -= 1
    return False


def parse_body(raw: bytes, model: type[M]) -> M:
    """Parse a JSON object into `model`; InvalidRequest naming the problem otherwise."""
    if json_depth_exceeds(raw):
        raise InvalidRequest(f"malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("malformed JSON body") from None
    if not isinstance(document, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid request body: {describe_errors(exc)}") from None


def describe_errors(exc: ValidationError) -> str:
    parts = []
    for item in exc.errors():
        path = ".".join(str(p) for p in item["loc"] if p not in ("body", "query", "path", "header"))
        parts.append(f"{path or 'body'}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts[:5])


def decode_b64(value: str, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidRequest(f"{what} is not valid base64") from None


def decode_public_key(value: str, what: str = "public key") -> PublicKey:
    raw = decode_b64(value, what)
    if len(raw) != PUBLIC_KEY_SIZE:
        raise InvalidRequest(f"{what} must decode to {PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
    return PublicKey(raw)


def decode_hash(value: str, what: str = "transaction key") -> PayloadHash:
    raw = decode_b64(value, what)
    if len(raw) != PAYLOAD_HASH_SIZE:
        raise InvalidRequest(f"{what} must decode to {PAYLOAD_HASH_SIZE} bytes, got {len(raw)}")
    return PayloadHash(raw)


def decode_key_list(values: list[str] | None, what: str) -> tuple[PublicKey, ...]:
    return tuple(decode_public_key(v, f"{what}[{i}]") for i, v in enumerate(values or []))


def decode_key_header(value: str | None, what: str) -> tuple[PublicKey, ...]:
    """A comma-separated list of base64 keys (the `c11n-to` header); empty = none."""
    if not value or not value.strip():
        return ()
    return tuple(decode_public_key(v.strip(), f"{what}[{i}]") for i, v in enumerate(value.split(",")) if v.strip())


def query_key(value: str) -> str:
    """Undo the one common client slip: a `+` sent unencoded in a query reads as a space."""
    return value.replace(" ", "+")


def encode_b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def privacy_metadata(request: SendRequest | SendSignedRequest) -> PrivacyMetadata:
    """The domain metadata of a send request (checks every field's encoding)."""
    return PrivacyMetadata(
        privacy_mode=PrivacyMode.from_flag(request.privacy_flag),
        affected_contract_transactions=tuple(
            decode_hash(v, f"affectedContractTransactions[{i}]")
            for i, v in enumerate(request.affected_contract_transactions or [])),
        exec_hash=decode_b64(request.exec_hash, "execHash") if request.exec_hash else b"",
        mandatory_recipients=decode_key_list(request.mandatory_recipients, "mandatoryRecipients"),
        privacy_group_id=decode_b64(request.privacy_group_id, "privacyGroupId") if request.privacy_group_id else None,
    )


def encode_payload_document(payload: EncodedPayload) -> dict[str, Any]:
    """The JSON form of `payload` (`EncodedPayloadDocument`); `privacyGroupId` only when set."""
    document: dict[str, Any] = {
        "senderKey": encode_b64(payload.sender_key),
        "cipherText": encode_b64(payload.cipher_text),
        "cipherTextNonce": encode_b64(payload.cipher_text_nonce),
        "recipientBoxes": [encode_b64(b) for b in payload.recipient_boxes],
        "recipientNonce": encode_b64(payload.recipient_nonce),
        "recipientKeys": [encode_b64(k) for k in payload.recipient_keys],
        "privacyMode": int(payload.privacy_mode),
        "affectedContractTransactions": {encode_b64(h): encode_b64(s)
                                         for h, s in payload.affected_contract_transactions},
        "execHash": encode_b64(payload.exec_hash),
        "mandatoryRecipients": [encode_b64(k) for k in payload.mandatory_recipients],
    }
    if payload.privacy_group_id is not None:
        document["privacyGroupId"] = encode_b64(payload.privacy_group_id)
    return document


def decode_payload_document(document: EncodedPayloadDocument) -> EncodedPayload:
    """The domain value of an `EncodedPayloadDocument`: InvalidRequest naming the field for
    bad base64, a key not 32 bytes or a hash not 64 bytes. The payload codec's own checks
    (sizes, counts, duplicates) are the manager's (`decrypt_payload`)."""
    acoth = tuple(
        (decode_hash(h, f"affectedContractTransactions key {i}"),
         decode_b64(s, f"affectedContractTransactions value {i}"))
        for i, (h, s) in enumerate(document.affected_contract_transactions.items()))
    return EncodedPayload(
        sender_key=decode_public_key(document.sender_key, "senderKey"),
        cipher_text=decode_b64(document.cipher_text, "cipherText"),
        cipher_text_nonce=decode_b64(document.cipher_text_nonce, "cipherTextNonce"),
        recipient_boxes=tuple(decode_b64(b, f"recipientBoxes[{i}]") for i, b in enumerate(document.recipient_boxes)),
        recipient_nonce=decode_b64(document.recipient_nonce, "recipientNonce"),
        recipient_keys=decode_key_list(document.recipient_keys, "recipientKeys"),
        privacy_mode=PrivacyMode.from_flag(document.privacy_mode),
        affected_contract_transactions=acoth,
        exec_hash=decode_b64(document.exec_hash, "execHash") if document.exec_hash else b"",
        mandatory_recipients=decode_key_list(document.mandatory_recipients, "mandatoryRecipients"),
        privacy_group_id=decode_b64(document.privacy_group_id, "privacyGroupId") if document.privacy_group_id else None,
    )


def decode_party_info(document: PartyInfoDocument) -> PartyView:
    """The domain value of a `/partyinfo` document (a request, or a peer's answer).

    Entries of the wrong shape are already left out (`_valid_entries`); here a `keys` entry
    whose key is not base64 of a 32-byte key is left out too, and a proof that is not base64
    reads as none. The challenge is checked: InvalidRequest naming the field when one half is
    missing or has the wrong size.
    """
    claims = []
    for entry in document.keys:
        key = _b64_or_none(entry.key)
        if key is not None and len(key) == PUBLIC_KEY_SIZE:
            claims.append(KeyClaim(PublicKey(key), entry.url, _b64_or_none(entry.proof)))
    return PartyView(document.url, tuple(claims), tuple(p.url for p in document.peers), _challenge(document))


def _challenge(document: PartyInfoDocument) -> Challenge | None:
    # Like the entries, a value that is not base64 reads as absent; a challenge that is there
    # at all must have both halves, well sized.
    nonce, key = _b64_or_none(document.challenge), _b64_or_none(document.challenge_key)
    if nonce is None and key is None:
        return None
    if nonce is None or not MIN_CHALLENGE_SIZE <= len(nonce) <= MAX_CHALLENGE_SIZE:
        raise InvalidRequest(f"challenge must be base64 of {MIN_CHALLENGE_SIZE} to {MAX_CHALLENGE_SIZE} bytes")
    if key is None or len(key) != PUBLIC_KEY_SIZE:
        raise InvalidRequest(f"challengeKey must be base64 of a {PUBLIC_KEY_SIZE}-byte key")
    return Challenge(nonce, PublicKey(key))


def _b64_or_none(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return decode_b64(value, "value")
    except InvalidRequest:
        return None


def encode_party_info(view: PartyView) -> dict[str, Any]:
    """The wire form of `view`: `{url, keys: [{key, url, proof?}], peers: [{url}]}`, plus
    `challenge` and `challengeKey` in a request that carries one."""
    document: dict[str, Any] = {
        "url": view.url,
        "keys": [_key_entry(claim) for claim in view.keys],
        "peers": [{"url": url} for url in view.peers],
    }
    if view.challenge is not None:
        document["challenge"] = encode_b64(view.challenge.nonce)
        document["challengeKey"] = encode_b64(view.challenge.verifier)
    return document


def _key_entry(claim: KeyClaim) -> dict[str, str]:
    entry = {"key": encode_b64(claim.key), "url": claim.url}
    if claim.proof is not None:
        entry["proof"] = encode_b64(claim.proof)
    return entry


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with `$defs` inlined (for `openapi_extra` request bodies)."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


__all__ = [
    "EncodedPayloadDocument",
    "ErrorResponse",
    "KeyEntry",
    "KeyResponse",
    "KeysResponse",
    "PartyInfoDocument",
    "PartyKey",
    "PayloadResponse",
    "PeerEntry",
    "ReceiveRequest",
    "ReceiveResponse",
    "RecoverRequest",
    "ResendPageRequest",
    "ResendPageResponse",
    "ResendRequest",
    "SendRequest",
    "SendSignedRequest",
    "StoreRawRequest",
    "decode_b64",
    "decode_hash",
    "decode_key_header",
    "decode_key_list",
    "decode_party_info",
    "decode_payload_document",
    "decode_public_key",
    "encode_b64",
    "encode_party_info",
    "encode_payload_document",
    "inline_schema",
    "parse_body",
    "privacy_metadata",
    "query_key",
]
