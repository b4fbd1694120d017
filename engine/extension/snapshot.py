"""One contract's state as the extension shares it: take it, encode it, install it.

What travels (encrypted, through the managers) is the account as it is at one block: nonce,
balance, code, storage root and every non-zero storage slot. Slots are keyed by the storage
trie's own keys (keccak of the slot): a node never learns a slot's number from its trie, and the
receiver rebuilds the very same trie, so its storage root (`eth_storageRoot`) equals the sender's.

Encoding (ours, versioned): RLP of `[1, address, nonce, balance, code, storage_root,
[[trie_key, value], ...]]` with keys strictly ascending and values as minimal big-endian
integers (never zero). Decoding checks every field, so a malformed share is refused, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth.abc import AtomicDatabaseAPI, DatabaseAPI
from eth.constants import BLANK_ROOT_HASH
from eth.rlp.accounts import Account
from eth_utils import keccak
from rlp.sedes import big_endian_int
from trie import HexaryTrie
from trie.iter import NodeIterator

VERSION = 1
MAX_SLOTS = 1_000_000
MAX_CODE_BYTES = 0x6000 * 2  # EIP-170's limit, with room for a later fork's larger one


class SnapshotInvalid(ValueError):
    """A shared state that does not decode, or does not rebuild to the storage root it names."""


@dataclass(frozen=True)
class ContractSnapshot:
    address: bytes
    nonce: int
    balance: int
    code: bytes
    storage_root: bytes
    storage: tuple[tuple[bytes, int], ...]  # (trie key = keccak(slot), value), keys ascending

    def encode(self) -> bytes:
        return rlp.encode([VERSION, self.address, self.nonce, self.balance, self.code, self.storage_root,
                           [[key, _int_bytes(value)] for key, value in self.storage]])


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _uint(item: object, what: str, max_bits: int = 256) -> int:
    if not isinstance(item, bytes) or (item[:1] == b"\x00"):
        raise SnapshotInvalid(f"{what}: not a minimal integer")
    value = int.from_bytes(item, "big")
    if value.bit_length() > max_bits:
        raise SnapshotInvalid(f"{what}: out of range")
    return value


def _fixed(item: object, length: int, what: str) -> bytes:
    if not isinstance(item, bytes) or len(item) != length:
        raise SnapshotInvalid(f"{what}: expected {length} bytes")
    return item


def decode_snapshot(data: bytes) -> ContractSnapshot:
    try:
        items = rlp.decode(data, strict=True)
    except rlp.exceptions.DecodingError:
        raise SnapshotInvalid("not RLP") from None
    if not isinstance(items, list) or len(items) != 7:
        raise SnapshotInvalid("expected 7 fields")
    version, address, nonce, balance, code, storage_root, storage = items
    if _uint(version, "version", 8) != VERSION:
        raise SnapshotInvalid("unknown version")
    if not isinstance(code, bytes) or len(code) > MAX_CODE_BYTES:
        raise SnapshotInvalid("code: too long")
    if not isinstance(storage, list) or len(storage) > MAX_SLOTS:
        raise SnapshotInvalid("storage: not a list or too long")
    slots = []
    previous = b""
    for i, entry in enumerate(storage):
        if not isinstance(entry, list) or len(entry) != 2:
            raise SnapshotInvalid(f"storage[{i}]: expected [key, value]")
        key = _fixed(entry[0], 32, f"storage[{i}].key")
        if key <= previous:
            raise SnapshotInvalid("storage: keys not strictly ascending")
        value = _uint(entry[1], f"storage[{i}].value")
        if value == 0:
            raise SnapshotInvalid(f"storage[{i}].value: zero slots are not stored")
        slots.append((key, value))
        previous = key
    return ContractSnapshot(_fixed(address, 20, "address"), _uint(nonce, "nonce", 64), _uint(balance, "balance"),
                            code, _fixed(storage_root, 32, "storage root"), tuple(slots))


def take_snapshot(db: DatabaseAPI, state_root: bytes, address: bytes) -> ContractSnapshot | None:
    """The account at `address` in the state with root `state_root` (read-only), or None if absent."""
    if state_root == BLANK_ROOT_HASH:
        return None
    encoded = HexaryTrie(db, state_root).get(keccak(address))
    if not encoded:
        return None
    account = rlp.decode(encoded, sedes=Account)
    code = bytes(db[account.code_hash]) if account.code_hash != keccak(b"") else b""
    storage: list[tuple[bytes, int]] = []
    if account.storage_root != BLANK_ROOT_HASH:
        for key, value in NodeIterator(HexaryTrie(db, account.storage_root)).items():
            storage.append((bytes(key), rlp.decode(value, sedes=big_endian_int)))
    return ContractSnapshot(address, account.nonce, account.balance, code, account.storage_root, tuple(storage))


def build_storage(db: AtomicDatabaseAPI, snapshot: ContractSnapshot) -> bytes:
    """Write the snapshot's storage trie into `db` (content-addressed nodes) and return its root.
    Raises SnapshotInvalid when the slots do not make the root the snapshot names."""
    trie = HexaryTrie(db)
    with trie.squash_changes() as batch:
        for key, value in snapshot.storage:
            batch[key] = rlp.encode(value)
    if trie.root_hash != snapshot.storage_root:
        raise SnapshotInvalid("storage does not match its root")
    return bytes(trie.root_hash)
