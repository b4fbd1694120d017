"""Envelope encryption of private payloads (PROTOCOL.md §7), on `cryptography` only.

Algorithms:
- payload: AES-256-GCM under a fresh random 32-byte content key, fresh random 96-bit
  nonce, associated data ``b"tessera_like/v1/payload"``. The transaction key is
  SHA3-512 of the resulting ciphertext.
- key wrap: X25519 ECDH between the sender's private key and the recipient's public key,
  then HKDF-SHA256 (no salt, 32 bytes, info = ``b"tessera_like/v1/wrap-key"`` ‖ sender
  public key ‖ recipient public key) gives the pair's wrap key. The content key is sealed
  with AES-256-GCM under it, with the payload's fresh recipient nonce and associated data
  ``b"tessera_like/v1/box"`` ‖ transaction key ‖ SHA-256(privacy metadata encoding).
  The sender wraps for itself too, and can open any recipient's box because ECDH is
  symmetric.
- raw payloads (`/storeraw`) carry one box, sender to sender, with associated data
  ``b"tessera_like/v1/raw-box"`` ‖ transaction key.

Binding the transaction key and the metadata into every box means that a changed bit in
the ciphertext, the nonces, a box, a key or any metadata field makes opening fail.

Note: Tessera's default is NaCl (XSalsa20-Poly1305 secretbox + Curve25519 box) with one
nonce shared by the boxes of a payload; ours has the same structure with the algorithms
above. Wrap keys depend only on the key pair, so they are cached (no KDF per request); each
box under a cached wrap key still gets the payload's fresh random nonce.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera_like.abc import EncryptorAPI, KeyStoreAPI, SealedPayload
from tessera_like.crypto.keys import KeyPair, encode_key
from tessera_like.errors import DecryptionFailed, InvalidPayload
from tessera_like.payload import NONCE_SIZE, EncodedPayload, RawPayload, metadata_bytes
from tessera_like.types import PayloadHash, PrivacyMode, PublicKey

PAYLOAD_AAD = b"tessera_like/v1/payload"
WRAP_KEY_INFO = b"tessera_like/v1/wrap-key"
BOX_AAD = b"tessera_like/v1/box"
RAW_BOX_AAD = b"tessera_like/v1/raw-box"
SECURITY_HASH_LABEL = b"tessera_like/v1/acoth"
CONTENT_KEY_SIZE = 32


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


# -- payload-level operations -----------------------------------------------------------


def box_aad(tx_hash: PayloadHash, payload: EncodedPayload) -> bytes:
    """Associated data of every box of `payload`: the hash and the metadata digest."""
    return BOX_AAD + tx_hash + hashlib.sha256(metadata_bytes(payload)).digest()


def security_hash(affected_hash: PayloadHash, affected_content_key: bytes, new_hash: PayloadHash) -> bytes:
    """Proof that the sender of `new_hash` is a party to the affected transaction.

    Only a party can open the affected transaction's content key, so only a party can
    compute this value; each recipient recomputes it from its own copy. Same role as
    Tessera's affected-contract-transaction security hash, our own construction.
    """
    return hashlib.sha3_512(SECURITY_HASH_LABEL + affected_hash + affected_content_key + new_hash).digest()


def build_payload(
    encryptor: EncryptorAPI,
    sealed: SealedPayload,
    sender: KeyPair,
    recipients: Sequence[PublicKey],
    privacy_mode: PrivacyMode = PrivacyMode.STANDARD_PRIVATE,
    affected_contract_transactions: tuple[tuple[PayloadHash, bytes], ...] = (),
    exec_hash: bytes = b"",
    mandatory_recipients: tuple[PublicKey, ...] = (),
    privacy_group_id: bytes | None = None,
) -> EncodedPayload:
    """An encoded payload with a box for every recipient (the sender included by caller)."""
    nonce = encryptor.new_nonce()
    skeleton = EncodedPayload(
        sender_key=sender.public,
        cipher_text=sealed.cipher_text,
        cipher_text_nonce=sealed.nonce,
        recipient_boxes=(),
        recipient_nonce=nonce,
        recipient_keys=tuple(recipients),
        privacy_mode=privacy_mode,
        affected_contract_transactions=affected_contract_transactions,
        exec_hash=exec_hash,
        mandatory_recipients=mandatory_recipients,
        privacy_group_id=privacy_group_id,
    )
    aad = box_aad(skeleton.hash, skeleton)
    boxes = tuple(encryptor.wrap(sealed.content_key, sender, sender.public, r, nonce, aad) for r in recipients)
    return replace(skeleton, recipient_boxes=boxes)


def encrypt(encryptor: EncryptorAPI, plaintext: bytes, sender: KeyPair, recipients: Sequence[PublicKey],
            **metadata: object) -> EncodedPayload:
    """Seal and box in one step (the sender is added to the recipients if missing)."""
    keys = list(dict.fromkeys([sender.public, *recipients]))
    return build_payload(encryptor, encryptor.seal(plaintext), sender, keys, **metadata)  # type: ignore[arg-type]


def open_content_key(encryptor: EncryptorAPI, payload: EncodedPayload, local: KeyPair) -> bytes | None:
    """The content key as seen by `local`, or None when `local` is not a party.

    A recipient opens its own box; the sender opens its own box if it kept one, else any
    recipient's box (ECDH is symmetric). Raises DecryptionFailed on tampering.
    """
    aad = box_aad(payload.hash, payload)
    box = payload.box_for(local.public)
    if box is not None:
        return encryptor.unwrap(box, local, payload.sender_key, local.public, payload.recipient_nonce, aad)
    if local.public == payload.sender_key:
        key, box = payload.recipient_keys[0], payload.recipient_boxes[0]
        return encryptor.unwrap(box, local, payload.sender_key, key, payload.recipient_nonce, aad)
    return None


def decrypt(encryptor: EncryptorAPI, payload: EncodedPayload, local: KeyPair) -> bytes | None:
    """The plaintext as seen by `local`, or None when `local` is not a party."""
    content_key = open_content_key(encryptor, payload, local)
    if content_key is None:
        return None
    return encryptor.open(content_key, payload.cipher_text_nonce, payload.cipher_text)


def verify_openable(encryptor: EncryptorAPI, payload: EncodedPayload, keys: KeyStoreAPI) -> bytes:
    """Check every box this manager can open; return the content key.

    Used before a pushed payload is stored: a box for one of our keys, or (when we are the
    sender) every box, must unwrap to the same content key, and that key must open the
    ciphertext. Raises InvalidPayload when nothing here can open it or anything fails.
    """
    aad = box_aad(payload.hash, payload)
    sender_pair = keys.get(payload.sender_key)
    content_keys: set[bytes] = set()
    try:
        for key, box in zip(payload.recipient_keys, payload.recipient_boxes, strict=False):
            local = keys.get(key) or sender_pair
            if local is None:
                continue
            content_keys.add(encryptor.unwrap(box, local, payload.sender_key, key, payload.recipient_nonce, aad))
        if not content_keys:
            raise InvalidPayload("payload holds no box that a key of this manager can open")
        if len(content_keys) != 1:
            raise InvalidPayload("payload boxes disagree on the content key")
        content_key = content_keys.pop()
        encryptor.open(content_key, payload.cipher_text_nonce, payload.cipher_text)
    except DecryptionFailed as exc:
        raise InvalidPayload(f"corrupted payload: {exc.message}") from None
    return content_key


def seal_raw(encryptor: EncryptorAPI, plaintext: bytes, sender: KeyPair) -> tuple[RawPayload, bytes]:
    """Encrypt for `/storeraw`: one box, sender to sender. Returns the payload and its key."""
    sealed = encryptor.seal(plaintext)
    nonce = encryptor.new_nonce()
    raw = RawPayload(sender.public, sealed.cipher_text, sealed.nonce, b"", nonce)
    box = encryptor.wrap(sealed.content_key, sender, sender.public, sender.public, nonce, RAW_BOX_AAD + raw.hash)
    return replace(raw, sender_box=box), sealed.content_key


def open_raw(encryptor: EncryptorAPI, raw: RawPayload, sender: KeyPair) -> bytes:
    """The content key of a raw payload; raises DecryptionFailed."""
    return encryptor.unwrap(raw.sender_box, sender, sender.public, sender.public, raw.sender_box_nonce,
                            RAW_BOX_AAD + raw.hash)


__all__ = [
    "X25519Encryptor",
    "box_aad",
    "build_payload",
    "decrypt",
    "encrypt",
    "open_content_key",
    "open_raw",
    "seal_raw",
    "security_hash",
    "verify_openable",
]
