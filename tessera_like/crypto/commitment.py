"""State commitments between parties: the canonical statement and its MAC (PROTOCOL.md §12).

A commitment says "party `author` holds storage root `storage_root` for private contract
`contract` after block `block_number` (`block_hash`), which payloads `payload_hashes` of that
block touched"; the payloads named are the ones both parties are parties of that prove the
pair may compare (normally one: the cost is per (block, contract, party), not per payload).
It is sent by the author's manager to the manager of one other party, `recipient`, and
authenticated for that pair only:

- key: X25519(author private, recipient public) → HKDF-SHA256 (no salt, 32 bytes,
  info = ``b"tessera_like/v1/state-commitment"`` ‖ author ‖ recipient). The recipient derives
  the same key from its private key and the author's public key; the info's order makes the
  A→B key differ from the B→A key, so a commitment cannot be reflected back to its author.
- MAC: HMAC-SHA256 under that key over the statement's canonical encoding (below).

Only the holders of the author's or the recipient's private key can make a valid MAC, so a
recipient that did not make it itself knows the author's manager did. (X25519 keys cannot
sign: the MAC proves authorship to the recipient only, not to third parties; the P2P
transport's peer binding is checked as well, `tessera_like/commitments.py`.)

Canonical encoding, version 1 (all fields fixed size, so the encoding is injective)::

    u8   version (= 1)
    32   author key          32   recipient key
    u64  block number (big-endian)
    32   block hash          20   contract address
    32   storage root
    u64  count of payload hashes (1..1000), then 64 bytes each
    u64  count of parties, then 32 bytes each (the author's view of the payloads' parties)
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera_like.errors import InvalidRequest
from tessera_like.types import PAYLOAD_HASH_SIZE, PUBLIC_KEY_SIZE, KeyPair, PayloadHash, PublicKey

COMMITMENT_INFO = b"tessera_like/v1/state-commitment"
STATEMENT_VERSION = 1
BLOCK_HASH_SIZE = 32
ADDRESS_SIZE = 20
ROOT_SIZE = 32
MAC_SIZE = 32
MAX_PARTIES = 4096
MAX_PAYLOADS = 1000
_U64 = struct.Struct(">Q")
_FIXED = 1 + 2 * PUBLIC_KEY_SIZE + 8 + BLOCK_HASH_SIZE + ADDRESS_SIZE + ROOT_SIZE + 8 + 8


@dataclass(frozen=True, slots=True)
class CommitmentStatement:
    """One party's claim about one contract after one block, addressed to one other party."""

    author: PublicKey
    recipient: PublicKey
    block_number: int
    block_hash: bytes
    contract: bytes
    storage_root: bytes
    payload_hashes: tuple[PayloadHash, ...]
    parties: tuple[PublicKey, ...] = ()

    def __post_init__(self) -> None:
        sizes = (("author", self.author, PUBLIC_KEY_SIZE), ("recipient", self.recipient, PUBLIC_KEY_SIZE),
                 ("blockHash", self.block_hash, BLOCK_HASH_SIZE), ("contract", self.contract, ADDRESS_SIZE),
                 ("storageRoot", self.storage_root, ROOT_SIZE))
        for name, value, size in sizes:
            if len(value) != size:
                raise InvalidRequest(f"{name} must be {size} bytes, got {len(value)}")
        if not 0 <= self.block_number < 2**64:
            raise InvalidRequest("blockNumber must be an unsigned 64-bit integer")
        if not 1 <= len(self.payload_hashes) <= MAX_PAYLOADS:
            raise InvalidRequest(f"payloadHashes: 1 to {MAX_PAYLOADS} payload hashes")
        for i, payload_hash in enumerate(self.payload_hashes):
            if len(payload_hash) != PAYLOAD_HASH_SIZE:
                raise InvalidRequest(f"payloadHashes[{i}] must be {PAYLOAD_HASH_SIZE} bytes, got {len(payload_hash)}")
        if len(self.parties) > MAX_PARTIES:
            raise InvalidRequest(f"parties: at most {MAX_PARTIES} keys")
        for i, party in enumerate(self.parties):
            if len(party) != PUBLIC_KEY_SIZE:
                raise InvalidRequest(f"parties[{i}] must be {PUBLIC_KEY_SIZE} bytes, got {len(party)}")


def encode_statement(statement: CommitmentStatement) -> bytes:
    """The canonical bytes the MAC covers (see the module docstring)."""
    s = statement
    return b"".join((bytes([STATEMENT_VERSION]), s.author, s.recipient, _U64.pack(s.block_number), s.block_hash,
                     s.contract, s.storage_root, _U64.pack(len(s.payload_hashes)), *s.payload_hashes,
                     _U64.pack(len(s.parties)), *s.parties))


def decode_statement(data: bytes) -> CommitmentStatement:
    """The inverse of `encode_statement`; InvalidRequest for anything else."""
    if len(data) < _FIXED or data[0] != STATEMENT_VERSION:
        raise InvalidRequest("not a version 1 commitment statement")
    pos = 1

    def take(size: int) -> bytes:
        nonlocal pos
        chunk = data[pos:pos + size]
        pos += size
        return chunk

    author, recipient = take(PUBLIC_KEY_SIZE), take(PUBLIC_KEY_SIZE)
    number = _U64.unpack(take(8))[0]
    block_hash, contract, root = take(BLOCK_HASH_SIZE), take(ADDRESS_SIZE), take(ROOT_SIZE)
    payloads = _U64.unpack(take(8))[0]
    if not 1 <= payloads <= MAX_PAYLOADS or len(data) < pos + payloads * PAYLOAD_HASH_SIZE + 8:
        raise InvalidRequest("commitment statement: payload count does not match its length")
    payload_hashes = tuple(PayloadHash(take(PAYLOAD_HASH_SIZE)) for _ in range(payloads))
    count = _U64.unpack(take(8))[0]
    if count > MAX_PARTIES or len(data) != pos + count * PUBLIC_KEY_SIZE:
        raise InvalidRequest("commitment statement: party count does not match its length")
    parties = tuple(PublicKey(take(PUBLIC_KEY_SIZE)) for _ in range(count))
    return CommitmentStatement(PublicKey(author), PublicKey(recipient), number, block_hash, contract, root,
                               payload_hashes, parties)


def _mac_key(local: KeyPair, other: PublicKey, author: PublicKey, recipient: PublicKey) -> bytes:
    try:
        shared = local.private.exchange(X25519PublicKey.from_public_bytes(other))
    except ValueError:  # a low-order point: no usable shared secret
        raise InvalidRequest("key agreement failed: not a usable X25519 public key") from None
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=COMMITMENT_INFO + author + recipient).derive(shared)


def commitment_mac(author: KeyPair, statement: CommitmentStatement) -> bytes:
    """The MAC the author's manager attaches (`author` must be the statement's author)."""
    if author.public != statement.author:
        raise ValueError("the key pair must be the statement's author")
    key = _mac_key(author, statement.recipient, statement.author, statement.recipient)
    return hmac.new(key, encode_statement(statement), hashlib.sha256).digest()


def verify_commitment_mac(recipient: KeyPair, statement: CommitmentStatement, mac: bytes) -> bool:
    """True when `mac` was made for this exact statement by the author's (or our own) key."""
    if recipient.public != statement.recipient:
        return False
    try:
        key = _mac_key(recipient, statement.author, statement.author, statement.recipient)
    except InvalidRequest:
        return False
    return hmac.compare_digest(hmac.new(key, encode_statement(statement), hashlib.sha256).digest(), mac)


__all__ = ["MAC_SIZE", "MAX_PAYLOADS", "CommitmentStatement", "commitment_mac", "decode_statement", "encode_statement",
           "verify_commitment_mac"]
