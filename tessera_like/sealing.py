"""Sealing private payloads: the payload-level half of envelope encryption (PROTOCOL.md §7).

`crypto.envelope` encrypts and wraps bytes; this module decides what is bound to them and
assembles the encoded payload:
- the transaction key is SHA3-512 of the payload's ciphertext (`payload.payload_hash`);
- every box of a payload is wrapped with the payload's fresh recipient nonce and associated
  data ``b"tessera_like/v1/box"`` ‖ transaction key ‖ SHA-256(privacy metadata encoding).
  The sender wraps for itself too;
- raw payloads (`/storeraw`) carry one box, sender to sender, with associated data
  ``b"tessera_like/v1/raw-box"`` ‖ transaction key.

Binding the transaction key and the metadata into every box means that a changed bit in
the ciphertext, the nonces, a box, a key or any metadata field makes opening fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from tessera_like.abc import EncryptorAPI, KeyStoreAPI, SealedPayload
from tessera_like.errors import DecryptionFailed, InvalidPayload
from tessera_like.payload import EncodedPayload, RawPayload, metadata_bytes
from tessera_like.types import KeyPair, PayloadHash, PrivacyMode, PublicKey

BOX_AAD = b"tessera_like/v1/box"
RAW_BOX_AAD = b"tessera_like/v1/raw-box"
SECURITY_HASH_LABEL = b"tessera_like/v1/acoth"


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
