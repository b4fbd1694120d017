"""Every database key the node writes beside py-evm's own (one versioned prefix each)."""

from __future__ import annotations

_PREFIX = b"privnet:v1:"


def make_private_state_root_key(block_hash: bytes) -> bytes:
    """The private state root after the block (GoQuorum keys it by the public root)."""
    return _PREFIX + b"private-root:" + block_hash


def make_private_receipt_key(tx_hash: bytes) -> bytes:
    return _PREFIX + b"private-receipt:" + tx_hash


def make_private_block_logs_key(block_hash: bytes) -> bytes:
    """Tx hashes of the block that have a private receipt on this node (for eth_getLogs)."""
    return _PREFIX + b"private-txs:" + block_hash


def make_contract_privacy_key(address: bytes) -> bytes:
    return _PREFIX + b"contract-privacy:" + address


def private_key_prefixes() -> tuple[bytes, ...]:
    """The prefix of every key kind the private side writes beside its trie nodes.

    A replay of the private state (`engine/privacy/replay.py`) deletes these first, so a new
    kind of private key must be listed here. (Trie nodes are content-addressed and shared with
    the public state: they are never deleted, and unreachable ones are harmless.)
    """
    return (make_private_state_root_key(b""), make_private_receipt_key(b""), make_private_block_logs_key(b""),
            make_contract_privacy_key(b""), make_privacy_marker_key(b""), make_extension_registry_key(),
            make_flagged_contracts_key())


def make_flagged_contracts_key() -> bytes:
    """Present once this node holds a private contract with privacy flag 1-3: until then a
    standard private send cannot touch one, and the sender's simulation is skipped."""
    return _PREFIX + b"flagged-contracts"


def make_extension_registry_key() -> bytes:
    """Contract extension's open requests (engine/extension/registry.py), written by private execution."""
    return _PREFIX + b"extension:registry"


def make_genesis_marker_key() -> bytes:
    return _PREFIX + b"genesis-hash"


def make_chain_id_key() -> bytes:
    """The chain id the database was created with (not part of the genesis hash)."""
    return _PREFIX + b"chain-id"


def make_privacy_marker_key(pmt_hash: bytes) -> bytes:
    """A privacy marker transaction's inner private transaction (RLP), on its parties only."""
    return _PREFIX + b"privacy-marker:" + pmt_hash
