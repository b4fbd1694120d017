"""Wire DTOs (camelCase, base64 strings) and their conversion to domain values.

Only this module and the routers see base64; the manager works on bytes. Every decoding
failure is an InvalidRequest naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from tessera_like.errors import InvalidRequest
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


class PartyInfoDocument(_Wire):
    url: str
    keys: list[PartyKey] = Field(default_factory=list)
    peers: list[PeerEntry] = Field(default_factory=list)
    challenge: str | None = Field(default=None, description="random bytes, base64 (requests only)")
    challenge_key: str | None = Field(default=None, alias="challengeKey",
                                      description="requester's public key for ownership proofs")


class ErrorResponse(_Wire):
    error: str


# -- decoding helpers -------------------------------------------------------------------


def parse_body(raw: bytes, model: type[M]) -> M:
    """Parse a JSON object into `model`; InvalidRequest naming the problem otherwise."""
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
    "ResendRequest",
    "SendRequest",
    "SendSignedRequest",
    "StoreRawRequest",
    "decode_b64",
    "decode_hash",
    "decode_key_header",
    "decode_key_list",
    "decode_public_key",
    "encode_b64",
    "inline_schema",
    "parse_body",
    "privacy_metadata",
    "query_key",
]
