"""The pending-transaction filter's bound, and geth's transaction JSON from canonical bytes."""

from __future__ import annotations

import rlp
from eth_account import Account
from eth_utils import keccak

from engine.chain.unsigned import encode_unsigned_marker
from engine.chain.vm import PrivnetTransactionBuilder
from engine.rpc.filters import FilterRegistry
from engine.rpc.txjson import transaction_json
from engine.types import Hash32
from tests.unit.engine.rpc.fakes import FakeNode

KEY = b"\x01" * 32


def test_pending_filter_keeps_the_newest_hashes_between_polls() -> None:
    node = FakeNode()
    registry = FilterRegistry(node, max_pending_hashes=3)
    filter_id = registry.new_pending_transaction_filter()
    block_filter = registry.new_block_filter()
    hashes = [Hash32(bytes([i]) * 32) for i in range(5)]
    for tx_hash in hashes:
        for callback in node.pending_subscribers:
            callback(tx_hash)
    assert registry.changes(filter_id) == hashes[2:]
    assert registry.changes(filter_id) == []
    assert registry.changes(block_filter) == []  # block filters see no pool traffic
    assert registry.uninstall(filter_id) and not registry.uninstall(filter_id)


def test_transaction_json_of_a_protected_legacy_transaction() -> None:
    signed = Account.sign_transaction({"nonce": 3, "gasPrice": 0, "gas": 21_000, "to": "0x" + "22" * 20,
                                       "value": 9, "data": b"", "chainId": 1337}, KEY)
    raw = bytes(signed.raw_transaction)
    tx = transaction_json(raw)
    assert tx["type"] == "0x0" and tx["chainId"] == "0x539" and tx["nonce"] == "0x3" and tx["value"] == "0x9"
    assert tx["maxFeePerGas"] is None and "accessList" not in tx and "yParity" not in tx
    assert tx["hash"] == "0x" + keccak(raw).hex() and "from" not in tx


def test_transaction_json_of_an_unsigned_private_marker_has_no_chain_id() -> None:
    raw = encode_unsigned_marker(PrivnetTransactionBuilder, 1, 30_000, None, b"\x07" * 64)
    assert rlp.decode(raw)[6:] == [b"\x25", b"", b""]
    tx = transaction_json(raw)
    assert "chainId" not in tx and tx["to"] is None and tx["v"] == "0x25" and tx["r"] == "0x0"
    assert tx["input"] == "0x" + "07" * 64
