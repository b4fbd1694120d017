"""The encoded payload (PROTOCOL.md §6) and its versioned binary codec.

Wire form, version 1::

    u8   version (= 1)
    lp   senderKey                      32 bytes
    lp   cipherText                     AES-256-GCM output (payload + 16-byte tag)
    lp   cipherTextNonce                12 bytes
    n    recipientBoxes: count, then lp each (48 bytes: wrapped 32-byte key + tag)
    lp   recipientNonce                 12 bytes
    n    recipientKeys: count, then lp each (32 bytes)
    u64  privacyMode                    0..3
    n    affectedContractTransactions: count, then (lp hash 64 bytes, lp securityHash 64 bytes)
    lp   execHash                       0..1024 bytes
    n    mandatoryRecipients: count, then lp each (32 bytes)
    n    privacyGroupId: count 0 or 1, then lp (1..256 bytes)

`lp` is an 8-byte big-endian length followed by the bytes, `u64` an 8-byte big-endian
integer and `n` a u64 count. Box *i* belongs to recipient key *i*; there may be fewer boxes
than keys (a recipient of a private-state-validation payload keeps every recipient key but
only its own box). Decoding is strict: every length is checked against the data left and
the field's size, trailing bytes are refused, and any violation raises InvalidPayload.

Note: Tessera's own wire form has the same shape (length-prefixed byte strings, counted
lists); our version byte and the fixed field sizes are our additions.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field, replace

from tessera_like.crypto.envelope import NONCE_SIZE
from tessera_like.errors import InvalidPayload
from tessera_like.types import (
    PAYLOAD_HASH_SIZE,
    PUBLIC_KEY_SIZE,
    PayloadHash,
    PrivacyMode,
    PublicKey,
)

CODEC_VERSION = 1
RAW_CODEC_VERSION = 1
BOX_SIZE = 32 + 16
MAX_EXEC_HASH_SIZE = 1024
MAX_GROUP_ID_SIZE = 256
MAX_RECIPIENTS = 4096

_U64 = struct.Struct(">Q")


def payload_hash(cipher_text: bytes) -> PayloadHash:
    """The transaction key: SHA3-512 of the ciphertext (64 bytes)."""
    return PayloadHash(hashlib.sha3_512(cipher_text).digest())


@dataclass(frozen=True, slots=True)
class EncodedPayload:
    """One encrypted transaction as stored and pushed between managers."""

    sender_key: PublicKey
    cipher_text: bytes
    cipher_text_nonce: bytes
    recipient_boxes: tuple[bytes, ...]
    recipient_nonce: bytes
    recipient_keys: tuple[PublicKey, ...]
    privacy_mode: PrivacyMode = PrivacyMode.STANDARD_PRIVATE
    affected_contract_transactions: tuple[tuple[PayloadHash, bytes], ...] = ()
    exec_hash: bytes = b""
    mandatory_recipients: tuple[PublicKey, ...] = ()
    privacy_group_id: bytes | None = None
    _hash: PayloadHash | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def hash(self) -> PayloadHash:
        """SHA3-512 of the ciphertext; computed once per object."""
        cached = self._hash
        if cached is None:
            cached = payload_hash(self.cipher_text)
            object.__setattr__(self, "_hash", cached)
        return cached

    def box_for(self, key: PublicKey) -> bytes | None:
        """The box wrapped for `key`, or None when this copy holds none for it."""
        for index, box in enumerate(self.recipient_boxes):
            if self.recipient_keys[index] == key:
                return box
        return None

    def boxed_keys(self) -> tuple[PublicKey, ...]:
        """The recipient keys this copy holds a box for."""
        return self.recipient_keys[: len(self.recipient_boxes)]

    def for_recipients(self, keys: frozenset[PublicKey] | set[PublicKey]) -> EncodedPayload:
        """The copy a recipient's manager gets: only the boxes for `keys`.

        Recipient keys without a box are dropped too, except under private state
        validation, where every party must know the full recipient set (Tessera keeps all
        keys there and moves the recipient's own first).
        """
        own = [(k, b) for k, b in zip(self.recipient_keys, self.recipient_boxes, strict=False) if k in keys]
        others: tuple[PublicKey, ...] = ()
        if self.privacy_mode is PrivacyMode.PRIVATE_STATE_VALIDATION:
            others = tuple(k for k in self.recipient_keys if k not in keys)
        return replace(
            self,
            recipient_keys=tuple(k for k, _ in own) + others,
            recipient_boxes=tuple(b for _, b in own),
        )

    def merged_with(self, other: EncodedPayload) -> EncodedPayload:
        """This payload plus the boxes `other` holds for keys this copy has no box for.

        Used by sender recovery: each recipient resends its own box and the sender's
        manager gathers them back into one row. Both copies must be the same transaction.
        """
        boxes = dict(zip(self.recipient_keys, self.recipient_boxes, strict=False))
        for key, box in zip(other.recipient_keys, other.recipient_boxes, strict=False):
            boxes.setdefault(key, box)
        ordered = list(dict.fromkeys(self.recipient_keys + other.recipient_keys))
        with_box = [k for k in ordered if k in boxes]
        without_box = [k for k in ordered if k not in boxes]
        return replace(
            self,
            recipient_keys=tuple(with_box + without_box),
            recipient_boxes=tuple(boxes[k] for k in with_box),
        )

    def same_transaction(self, other: EncodedPayload) -> bool:
        """True when both are copies of one transaction (boxes and key order aside)."""
        return (
            self.sender_key == other.sender_key
            and self.cipher_text == other.cipher_text
            and self.cipher_text_nonce == other.cipher_text_nonce
            and self.recipient_nonce == other.recipient_nonce
            and metadata_bytes(self) == metadata_bytes(other)
        )


@dataclass(frozen=True, slots=True)
class RawPayload:
    """A payload stored by `/storeraw`: encrypted, with a box for its sender only."""

    sender_key: PublicKey
    cipher_text: bytes
    cipher_text_nonce: bytes
    sender_box: bytes
    sender_box_nonce: bytes

    @property
    def hash(self) -> PayloadHash:
        return payload_hash(self.cipher_text)


# -- encoding ---------------------------------------------------------------------------


def _lp(out: list[bytes], data: bytes) -> None:
    out.append(_U64.pack(len(data)))
    out.append(data)


def _lp_list(out: list[bytes], items: tuple[bytes, ...] | list[bytes]) -> None:
    out.append(_U64.pack(len(items)))
    for item in items:
        _lp(out, item)


def _metadata_parts(out: list[bytes], payload: EncodedPayload) -> None:
    out.append(_U64.pack(int(payload.privacy_mode)))
    out.append(_U64.pack(len(payload.affected_contract_transactions)))
    for tx_hash, security_hash in payload.affected_contract_transactions:
        _lp(out, tx_hash)
        _lp(out, security_hash)
    _lp(out, payload.exec_hash)
    _lp_list(out, payload.mandatory_recipients)
    _lp_list(out, [] if payload.privacy_group_id is None else [payload.privacy_group_id])


def metadata_bytes(payload: EncodedPayload) -> bytes:
    """The canonical encoding of the privacy metadata (bound into every box's AAD)."""
    out: list[bytes] = []
    _metadata_parts(out, payload)
    return b"".join(out)


def encode(payload: EncodedPayload) -> bytes:
    """The wire form of `payload` (see the module docstring)."""
    out: list[bytes] = [bytes([CODEC_VERSION])]
    _lp(out, payload.sender_key)
    _lp(out, payload.cipher_text)
    _lp(out, payload.cipher_text_nonce)
    _lp_list(out, payload.recipient_boxes)
    _lp(out, payload.recipient_nonce)
    _lp_list(out, payload.recipient_keys)
    _metadata_parts(out, payload)
    return b"".join(out)


def encode_raw(raw: RawPayload) -> bytes:
    """The stored form of a raw payload: version byte, then five lp fields."""
    out: list[bytes] = [bytes([RAW_CODEC_VERSION])]
    for part in (raw.sender_key, raw.cipher_text, raw.cipher_text_nonce, raw.sender_box, raw.sender_box_nonce):
        _lp(out, part)
    return b"".join(out)


# -- decoding ---------------------------------------------------------------------------


class _Reader:
    """Bounds-checked cursor; every failure is an InvalidPayload naming the field."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u64(self, what: str) -> int:
        end = self.pos + 8
        if end > len(self.data):
            raise InvalidPayload(f"encoded payload truncated in {what}")
        (value,) = _U64.unpack_from(self.data, self.pos)
        self.pos = end
        return int(value)

    def lp(self, what: str, size: int | None = None, max_size: int | None = None) -> bytes:
        length = self.u64(what)
        if length > len(self.data) - self.pos:
            raise InvalidPayload(f"encoded payload: length of {what} exceeds the data")
        if size is not None and length != size:
            raise InvalidPayload(f"encoded payload: {what} must be {size} bytes, got {length}")
        if max_size is not None and length > max_size:
            raise InvalidPayload(f"encoded payload: {what} longer than {max_size} bytes")
        start = self.pos
        self.pos += length
        return self.data[start : self.pos]

    def count(self, what: str, max_count: int) -> int:
        count = self.u64(f"count of {what}")
        # Every element costs at least its 8-byte length prefix.
        if count > max_count or count * 8 > len(self.data) - self.pos:
            raise InvalidPayload(f"encoded payload: implausible count of {what} ({count})")
        return count

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise InvalidPayload(f"encoded payload has {len(self.data) - self.pos} trailing bytes")


def decode(data: bytes) -> EncodedPayload:
    """Parse and validate the wire form; raises InvalidPayload on any defect."""
    data = bytes(data)
    if not data:
        raise InvalidPayload("encoded payload is empty")
    if data[0] != CODEC_VERSION:
        raise InvalidPayload(f"unsupported encoded payload version {data[0]} (expected {CODEC_VERSION})")
    r = _Reader(data)
    r.pos = 1
    sender = PublicKey(r.lp("senderKey", PUBLIC_KEY_SIZE))
    cipher_text = r.lp("cipherText")
    if len(cipher_text) < 16:
        raise InvalidPayload("encoded payload: cipherText shorter than its authentication tag")
    cipher_nonce = r.lp("cipherTextNonce", NONCE_SIZE)
    boxes = tuple(r.lp("recipientBox", BOX_SIZE) for _ in range(r.count("recipientBoxes", MAX_RECIPIENTS)))
    recipient_nonce = r.lp("recipientNonce", NONCE_SIZE)
    keys = tuple(
        PublicKey(r.lp("recipientKey", PUBLIC_KEY_SIZE)) for _ in range(r.count("recipientKeys", MAX_RECIPIENTS))
    )
    if not boxes:
        raise InvalidPayload("encoded payload holds no recipient box")
    if len(boxes) > len(keys):
        raise InvalidPayload("encoded payload has more recipient boxes than recipient keys")
    if len(set(keys)) != len(keys):
        raise InvalidPayload("encoded payload lists a recipient key twice")
    mode_value = r.u64("privacyMode")
    try:
        mode = PrivacyMode(mode_value)
    except ValueError:
        raise InvalidPayload(f"encoded payload: invalid privacy mode {mode_value}") from None
    acoth: list[tuple[PayloadHash, bytes]] = []
    for _ in range(r.count("affectedContractTransactions", MAX_RECIPIENTS)):
        tx_hash = PayloadHash(r.lp("affected transaction hash", PAYLOAD_HASH_SIZE))
        acoth.append((tx_hash, r.lp("security hash", PAYLOAD_HASH_SIZE)))
    if len({h for h, _ in acoth}) != len(acoth):
        raise InvalidPayload("encoded payload lists an affected contract transaction twice")
    exec_hash = r.lp("execHash", max_size=MAX_EXEC_HASH_SIZE)
    mandatory = tuple(
        PublicKey(r.lp("mandatoryRecipient", PUBLIC_KEY_SIZE))
        for _ in range(r.count("mandatoryRecipients", MAX_RECIPIENTS))
    )
    group_count = r.count("privacyGroupId", 1)
    group_id = r.lp("privacyGroupId", max_size=MAX_GROUP_ID_SIZE) if group_count else None
    if group_id is not None and not group_id:
        raise InvalidPayload("encoded payload: privacyGroupId is present but empty")
    r.finish()
    return EncodedPayload(
        sender_key=sender,
        cipher_text=cipher_text,
        cipher_text_nonce=cipher_nonce,
        recipient_boxes=boxes,
        recipient_nonce=recipient_nonce,
        recipient_keys=keys,
        privacy_mode=mode,
        affected_contract_transactions=tuple(acoth),
        exec_hash=exec_hash,
        mandatory_recipients=mandatory,
        privacy_group_id=group_id,
    )


def decode_raw(data: bytes) -> RawPayload:
    """Parse a stored raw payload; raises InvalidPayload on any defect."""
    data = bytes(data)
    if not data or data[0] != RAW_CODEC_VERSION:
        raise InvalidPayload("unsupported raw payload encoding")
    r = _Reader(data)
    r.pos = 1
    raw = RawPayload(
        sender_key=PublicKey(r.lp("senderKey", PUBLIC_KEY_SIZE)),
        cipher_text=r.lp("cipherText"),
        cipher_text_nonce=r.lp("cipherTextNonce", NONCE_SIZE),
        sender_box=r.lp("senderBox", BOX_SIZE),
        sender_box_nonce=r.lp("senderBoxNonce", NONCE_SIZE),
    )
    r.finish()
    return raw


__all__ = [
    "BOX_SIZE",
    "CODEC_VERSION",
    "EncodedPayload",
    "RawPayload",
    "decode",
    "decode_raw",
    "encode",
    "encode_raw",
    "metadata_bytes",
    "payload_hash",
]
