"""The in-memory key store of a manager and the text form of its public keys.

`KeyPair` itself is a domain value (`tessera_like.types`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from tessera_like.abc import KeyStoreAPI
from tessera_like.errors import InvalidRequest, KeyNotFound
from tessera_like.types import PUBLIC_KEY_SIZE, KeyPair, PublicKey, as_public_key


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


__all__ = ["InMemoryKeyStore", "decode_key", "encode_key"]
