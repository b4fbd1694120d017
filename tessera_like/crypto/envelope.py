"""Envelope encryption primitives (PROTOCOL.md §7), on `cryptography` only.

Algorithms:
- payload: AES-256-GCM under a fresh random 32-byte content key, fresh random 96-bit
  nonce, associated data ``b"tessera_like/v1/payload"``.
- key wrap: X25519 ECDH between the sender's private key and the recipient's public key,
  then HKDF-SHA256 (no salt, 32 bytes, info = ``b"tessera_like/v1/wrap-key"`` ‖ sender
  public key ‖ recipient public key) gives the pair's wrap key. The content key is sealed
  with AES-256-GCM under it, with a caller-given nonce and associated data. ECDH is
  symmetric, so the sender can open any box it made.

This module knows keys, nonces and bytes only; what goes into the associated data of a
payload's boxes, and how boxes are assembled into a payload, is `tessera_like.sealing`.

Note: Tessera's default is NaCl (XSalsa20-Poly1305 secretbox + Curve25519 box) with one
nonce shared by the boxes of a payload; ours has the same structure with the algorithms
above. Wrap keys depend only on the key pair, so they are cached (no KDF per request); each
box under a cached wrap key still gets the payload's fresh random nonce.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera_like.abc import EncryptorAPI, SealedPayload
from tessera_like.crypto.keys import encode_key
from tessera_like.errors import DecryptionFailed
from tessera_like.types import KeyPair, PublicKey

PAYLOAD_AAD = b"tessera_like/v1/payload"
WRAP_KEY_INFO = b"tessera_like/v1/wrap-key"
CONTENT_KEY_SIZE = 32
NONCE_SIZE = 12
"""AES-GCM's 96-bit nonce: the size of every nonce in an encoded payload."""


class X25519Encryptor(EncryptorAPI):
    """X25519 + HKDF-SHA256 key wrap, AES-256-GCM everywhere; wrap keys cached (LRU)."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._cache: OrderedDict[tuple[bytes, bytes], AESGCM] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def seal(self, plaintext: bytes) -> SealedPayload:
        content_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_SIZE)
        return SealedPayload(content_key, nonce, AESGCM(content_key).encrypt(nonce, plaintext, PAYLOAD_AAD))

    def open(self, content_key: bytes, nonce: bytes, cipher_text: bytes) -> bytes:
        try:
            return AESGCM(content_key).decrypt(nonce, cipher_text, PAYLOAD_AAD)
        except (InvalidTag, ValueError):
            raise DecryptionFailed("payload ciphertext failed authentication (tampered or corrupted)") from None

    def new_nonce(self) -> bytes:
        return os.urandom(NONCE_SIZE)

    def wrap(self, content_key: bytes, local: KeyPair, sender: PublicKey, recipient: PublicKey,
             nonce: bytes, aad: bytes) -> bytes:
        return self._wrap_cipher(local, sender, recipient).encrypt(nonce, content_key, aad)

    def unwrap(self, box: bytes, local: KeyPair, sender: PublicKey, recipient: PublicKey,
               nonce: bytes, aad: bytes) -> bytes:
        try:
            content_key = self._wrap_cipher(local, sender, recipient).decrypt(nonce, box, aad)
        except (InvalidTag, ValueError):
            raise DecryptionFailed(
                f"recipient box for {encode_key(recipient)} failed authentication (tampered or corrupted)"
            ) from None
        if len(content_key) != CONTENT_KEY_SIZE:
            raise DecryptionFailed("recipient box holds a malformed content key")
        return content_key

    def _wrap_cipher(self, local: KeyPair, sender: PublicKey, recipient: PublicKey) -> AESGCM:
        # The derived key is the same from either side, so one cache entry serves both.
        cache_key = (bytes(sender), bytes(recipient))
        with self._lock:
            cipher = self._cache.get(cache_key)
            if cipher is not None:
                self._cache.move_to_end(cache_key)
                return cipher
        if local.public == sender:
            other = recipient
        elif local.public == recipient:
            other = sender
        else:
            raise ValueError("the local key pair must be the sender or the recipient")
        try:
            shared = local.private.exchange(X25519PublicKey.from_public_bytes(other))
        except ValueError:
            # Low-order or malformed points give an all-zero secret; cryptography refuses them.
            raise DecryptionFailed(f"key agreement with {encode_key(other)} failed: invalid public key") from None
        info = WRAP_KEY_INFO + bytes(sender) + bytes(recipient)
        wrap_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)
        cipher = AESGCM(wrap_key)
        with self._lock:
            self._cache[cache_key] = cipher
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return cipher


__all__ = ["CONTENT_KEY_SIZE", "NONCE_SIZE", "X25519Encryptor"]
