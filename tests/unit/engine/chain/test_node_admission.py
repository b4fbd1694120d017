"""What the node refuses at submission, before a transaction reaches the pool (node not started)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.chain.marker import sign_private_marker
from engine.chain.node import Node
from engine.config import NodeSettings
from engine.errors import InvalidParams, TransactionRejected

from .kit import sign_raw


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = Node.open(NodeSettings(data_dir=tmp_path, chain_id=1337, max_tx_bytes=1024))
    try:
        yield node
    finally:
        node.stop()


def test_eip155_transaction_for_another_chain_is_rejected(node: Node):
    _, key = node.dev_accounts[0]
    with pytest.raises(TransactionRejected, match="invalid chain id: 1338, this chain is 1337"):
        node.send_raw_transaction(sign_raw(key, 0, chain_id=1338))
    assert len(node.pool) == 0
    accepted = node.send_raw_transaction(sign_raw(key, 0, chain_id=1337))
    assert node.pool.get(accepted) is not None


def test_pre_eip155_transaction_is_accepted(node: Node):
    _, key = node.dev_accounts[0]
    tx_hash = node.send_raw_transaction(sign_raw(key, 0, chain_id=None))
    pooled = node.pool.get(tx_hash)
    assert pooled is not None and pooled.tx.chain_id is None and not pooled.tx.is_private


def test_private_marker_needs_a_privacy_manager(node: Node):
    address, key = node.dev_accounts[0]
    raw = sign_private_marker(key, 0, 100_000, b"\x22" * 20, bytes(64))
    with pytest.raises(TransactionRejected, match="private transactions need a privacy manager"):
        node.send_raw_transaction(raw)
    assert node.get_nonce(address, "pending") == 0


def test_malformed_and_oversized_raw_transactions(node: Node):
    _, key = node.dev_accounts[0]
    with pytest.raises(InvalidParams, match="invalid raw transaction"):
        node.send_raw_transaction(b"\x01\x02\x03")
    with pytest.raises(TransactionRejected, match="oversized data: 1[0-9]{3} bytes, limit 1024"):
        node.send_raw_transaction(sign_raw(key, 0, gas=100_000, data=b"\x01" * 1100))


def test_pending_nonce_counts_pooled_transactions(node: Node):
    address, key = node.dev_accounts[0]
    for nonce in (0, 1, 3):
        node.send_raw_transaction(sign_raw(key, nonce))
    assert node.get_nonce(address, "latest") == 0
    assert node.get_nonce(address, "pending") == 2


def test_malleated_high_s_signature_is_refused(node: Node):
    """(r, n - s) with the other parity recovers the same sender; EIP-2 forbids it at intake."""
    import rlp
    from eth.constants import SECPK1_N

    _, key = node.dev_accounts[0]
    fields = rlp.decode(sign_raw(key, 0, chain_id=None))
    v, s = int.from_bytes(fields[6], "big"), int.from_bytes(fields[8], "big")
    fields[6] = (55 - v).to_bytes(1, "big")  # 27 <-> 28
    fields[8] = (SECPK1_N - s).to_bytes(32, "big")
    with pytest.raises(InvalidParams, match="EIP-2 requires low s"):
        node.send_raw_transaction(rlp.encode(fields))
    assert len(node.pool) == 0


def test_a_signature_that_recovers_no_key_is_refused(node: Node):
    import rlp

    _, key = node.dev_accounts[0]
    fields = rlp.decode(sign_raw(key, 0, chain_id=None))
    fields[7] = (0).to_bytes(1, "big")  # r = 0
    with pytest.raises((InvalidParams, TransactionRejected)):
        node.send_raw_transaction(rlp.encode(fields))
    assert len(node.pool) == 0


def test_an_acknowledged_transaction_is_already_in_the_ordering_service(node: Node):
    """Acknowledged means durable: the hash comes back only once the raw transaction is a
    submission in the ordering service (producer or not), where the next producer finds it."""
    from engine.ordering.local import LocalOrdering

    _, key = node.dev_accounts[0]
    assert node.ordering.is_producer()
    raw = sign_raw(key, 0)
    node.send_raw_transaction(raw)
    successor = LocalOrdering(node.settings.ordering_path(), name="successor")
    try:
        assert successor.take_pending(10) == [raw]
    finally:
        successor.close()


def test_an_unavailable_ordering_service_acknowledges_nothing(node: Node):
    import sqlite3

    from engine.errors import OrderingUnavailable

    _, key = node.dev_accounts[0]
    node.ordering._conn.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(str(node.settings.ordering_path()), timeout=0, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(OrderingUnavailable):
            node.send_raw_transaction(sign_raw(key, 0))
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert len(node.pool) == 0


def test_a_restarted_node_counts_what_it_acknowledged_before_in_its_pending_nonce(tmp_path: Path):
    """Killed before its transactions were mined, a node comes back with them pending again (they
    wait in the ordering service), so its next send from that account takes the next nonce."""
    from engine.ordering.local import LocalOrdering

    settings = NodeSettings(data_dir=tmp_path, chain_id=1337)
    producer = LocalOrdering(settings.ordering_path(), name="another-node")
    assert producer.is_producer()  # nothing gets mined meanwhile
    try:
        first = Node.open(settings)
        address, key = first.dev_accounts[0]
        for nonce in (0, 1):
            first.send_raw_transaction(sign_raw(key, nonce))
        first.stop()
        again = Node.open(settings)
        try:
            assert again.get_nonce(address, "pending") == 0
            again.start()
            assert again.get_nonce(address, "pending") == 2
        finally:
            again.stop()
    finally:
        producer.close()


def test_a_send_mined_before_it_reaches_this_pool_is_acknowledged_not_refused(node: Node,
                                                                              monkeypatch: pytest.MonkeyPatch):
    """The race behind a soak failure: the durable submit wakes the producer, which pulls the
    submission, mines it and drops it from the pool before the sending thread admits it there; the
    nonce then reads as used. The sender must get the hash (the transaction *is* mined), not a
    'nonce too low' refusal for a transaction that went through."""
    address, key = node.dev_accounts[0]
    assert node.ordering.is_producer()
    submit = node.ordering.submit

    def submit_then_mine(raws: list[bytes]) -> None:
        submit(raws)
        node.producer.pull_submissions()
        node.producer.produce_block()

    monkeypatch.setattr(node.ordering, "submit", submit_then_mine)
    tx_hash = node.send_raw_transaction(sign_raw(key, 0))
    assert node.chain.locate(bytes(tx_hash)) is not None and node.get_nonce(address, "latest") == 1
    monkeypatch.undo()
    with pytest.raises(TransactionRejected, match="nonce too low"):  # a real stale nonce is still refused
        node.send_raw_transaction(sign_raw(key, 0, gas=22_000))
