"""Domain values of the manager. Wire forms (base64 strings) live only in `wire.py`."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import IntEnum
from typing import NewType

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from tessera_like.errors import InvalidPrivacyFlag, InvalidRequest

PublicKey = NewType("PublicKey", bytes)
"""A raw 32-byte X25519 public key (Tessera shows it base64-encoded)."""

PayloadHash = NewType("PayloadHash", bytes)
"""SHA3-512 of a payload's ciphertext: 64 bytes, the transaction's key everywhere."""

PUBLIC_KEY_SIZE = 32
PAYLOAD_HASH_SIZE = 64


class PrivacyMode(IntEnum):
    """GoQuorum's privacy flag. Unknown values are rejected, never mapped to 0.

    Note: Tessera's `PrivacyMode.fromFlag` quietly falls back to standard private for an
    unknown flag and GoQuorum tests the sequential values bitwise; we do neither.
    """

    STANDARD_PRIVATE = 0
    PARTY_PROTECTION = 1
    MANDATORY_RECIPIENTS = 2
    PRIVATE_STATE_VALIDATION = 3

    @classmethod
    def from_flag(cls, flag: int) -> PrivacyMode:
        """The mode for `flag`; raises InvalidPrivacyFlag for anything but 0..3."""
        if isinstance(flag, bool) or not isinstance(flag, int):
            raise InvalidPrivacyFlag(f"invalid privacy flag {flag!r}: expected an integer 0..3")
        try:
            return cls(flag)
        except ValueError:
            raise InvalidPrivacyFlag(f"invalid privacy flag {flag}: expected 0, 1, 2 or 3") from None

    @property
    def is_enhanced(self) -> bool:
        """True for party protection, mandatory recipients and private state validation."""
        return self is not PrivacyMode.STANDARD_PRIVATE


def as_public_key(value: bytes, what: str = "public key") -> PublicKey:
    """Check the length of a raw key; raises InvalidRequest naming `what`."""
    if len(value) != PUBLIC_KEY_SIZE:
        raise InvalidRequest(f"{what} must be {PUBLIC_KEY_SIZE} bytes, got {len(value)}")
    return PublicKey(bytes(value))


def as_payload_hash(value: bytes, what: str = "transaction key") -> PayloadHash:
    """Check the length of a raw payload hash; raises InvalidRequest naming `what`."""
    if len(value) != PAYLOAD_HASH_SIZE:
        raise InvalidRequest(f"{what} must be {PAYLOAD_HASH_SIZE} bytes, got {len(value)}")
    return PayloadHash(bytes(value))


def normalize_url(url: str) -> str:
    """Peer URLs are compared (and bound into ownership proofs) without a trailing slash."""
    return url.strip().rstrip("/")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A manager identity: the raw public key and its private key object."""

    public: PublicKey
    private: X25519PrivateKey

    @classmethod
    def generate(cls) -> KeyPair:
        return cls._of(X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> KeyPair:
        if len(raw) != 32:
            raise ValueError(f"an X25519 private key is 32 bytes, got {len(raw)}")
        return cls._of(X25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def _of(cls, private: X25519PrivateKey) -> KeyPair:
        return cls(public=PublicKey(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)),
                   private=private)

    def private_bytes(self) -> bytes:
        return self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public_b64(self) -> str:
        """Standard base64, as Tessera shows public keys."""
        return base64.b64encode(self.public).decode("ascii")

    def __repr__(self) -> str:  # never show the private key
        return f"KeyPair(public={self.public_b64})"


@dataclass(frozen=True, slots=True)
class PrivacyMetadata:
    """What a sender states about a private transaction besides its recipients."""

    privacy_mode: PrivacyMode = PrivacyMode.STANDARD_PRIVATE
    affected_contract_transactions: tuple[PayloadHash, ...] = ()
    exec_hash: bytes = b""
    mandatory_recipients: tuple[PublicKey, ...] = ()
    privacy_group_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class ReceivedTransaction:
    """A decrypted payload and its metadata, as `GET /transaction/{key}` returns it.

    `affected_contract_transactions` holds only the entries whose security hash this
    manager verified (GoQuorum's node re-checks them at execution).
    """

    payload: bytes
    sender_key: PublicKey
    privacy_mode: PrivacyMode
    affected_contract_transactions: tuple[PayloadHash, ...]
    exec_hash: bytes
    mandatory_recipients: tuple[PublicKey, ...]
    privacy_group_id: bytes | None
    managed_parties: tuple[PublicKey, ...]


__all__ = [
    "PAYLOAD_HASH_SIZE",
    "PUBLIC_KEY_SIZE",
    "KeyPair",
    "PayloadHash",
    "PrivacyMetadata",
    "PrivacyMode",
    "PublicKey",
    "ReceivedTransaction",
    "as_payload_hash",
    "as_public_key",
    "normalize_url",
]
