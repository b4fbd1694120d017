"""X25519 key pairs and the in-memory key store of a manager."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from tessera_like.abc import KeyStoreAPI
from tessera_like.errors import InvalidRequest, KeyNotFound
from tessera_like.types import PUBLIC_KEY_SIZE, PublicKey, as_public_key


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A manager identity: the raw public key and its private key object."""

    public: PublicKey
    private: X25519PrivateKey

    @classmethod
    def generate(cls) -> KeyPair:
        private = X25519PrivateKey.generate()
        return cls(public=public_bytes(private.public_key()), private=private)

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> KeyPair:
        if len(raw) != 32:
            raise ValueError(f"an X25519 private key is 32 bytes, got {len(raw)}")
        private = X25519PrivateKey.from_private_bytes(raw)
        return cls(public=public_bytes(private.public_key()), private=private)

    def private_bytes(self) -> bytes:
        return self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public_b64(self) -> str:
        return encode_key(self.public)

    def __repr__(self) -> str:  # never show the private key
        return f"KeyPair(public={self.public_b64})"


def public_bytes(key: X25519PublicKey) -> PublicKey:
    return PublicKey(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def encode_key(key: bytes) -> str:
    """Standard base64, as Tessera shows public keys."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, what: str = "public key") -> PublicKey:
    """Parse a standard-base64 public key; raises InvalidRequest naming `what`."""
    try:
        raw = base64.b64decode(text.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidRequest(f"{what} is not valid base64") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise InvalidRequest(f"{what} must decode to {PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
    return as_public_key(raw, what)


class InMemoryKeyStore(KeyStoreAPI):
    """The key pairs a manager holds, loaded once at start (first = default sender)."""

    def __init__(self, pairs: Iterable[KeyPair]) -> None:
        self._pairs: dict[PublicKey, KeyPair] = {}
        for pair in pairs:
            self._pairs.setdefault(pair.public, pair)
        if not self._pairs:
            raise ValueError("a manager needs at least one key pair")
        self._order = tuple(self._pairs)

    def public_keys(self) -> tuple[PublicKey, ...]:
        return self._order

    def default_key(self) -> PublicKey:
        return self._order[0]

    def get(self, public: PublicKey) -> KeyPair | None:
        return self._pairs.get(public)

    def require(self, public: PublicKey, role: str = "key") -> KeyPair:
        pair = self._pairs.get(public)
        if pair is None:
            raise KeyNotFound(f"{role} {encode_key(public)} is not held by this manager")
        return pair

    def __contains__(self, public: object) -> bool:
        return public in self._pairs


__all__ = ["InMemoryKeyStore", "KeyPair", "decode_key", "encode_key", "public_bytes"]
