"""Two in-process nodes on one `local` ordering file: the follower forwards, the producer mines,
both agree on every block, and the follower takes over when the producer stops."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from engine.chain.node import Node
from engine.config import NodeSettings, OrderingSettings
from engine.ordering.local import LocalOrdering
from engine.types import ReceiptView

pytestmark = pytest.mark.integration

TIMEOUT_S = 30
RECIPIENT = Web3.to_checksum_address("0x" + "cd" * 20)


@pytest.fixture
def open_node(tmp_path: Path) -> Iterator[Callable[[str], Node]]:
    opened: list[Node] = []
    shared = tmp_path / "ordering.sqlite"

    def open_(name: str) -> Node:
        node = Node.open(NodeSettings(name=name, data_dir=tmp_path / name, chain_id=1337,
                                      ordering=OrderingSettings(path=shared, poll_interval_ms=2)))
        opened.append(node)
        return node

    yield open_
    for node in opened:
        node.stop()  # a second stop is harmless


def eventually(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.005)


def receipt_on(node: Node, tx_hash: bytes) -> ReceiptView:
    eventually(lambda: node.get_receipt(tx_hash) is not None, f"receipt of 0x{tx_hash.hex()} on {node.settings.name}")
    receipt = node.get_receipt(tx_hash)
    assert receipt is not None and receipt.status == 1
    return receipt


def transfer(key: bytes, nonce: int, value: int) -> bytes:
    fields = {"nonce": nonce, "gasPrice": 0, "gas": 21_000, "chainId": 1337, "to": RECIPIENT, "value": value}
    return bytes(Account.sign_transaction(fields, key).raw_transaction)


def assert_same_chain(a: Node, b: Node) -> None:
    eventually(lambda: a.block_number() == b.block_number(), "both nodes at the same height")
    for number in range(b.block_number() + 1):
        block_a, block_b = a.get_block(number, False), b.get_block(number, False)
        assert block_a is not None and block_b is not None
        assert (block_a.hash, block_a.state_root) == (block_b.hash, block_b.state_root)


def test_follower_forwards_producer_mines_and_the_follower_takes_over(open_node):
    producer = open_node("producer")
    assert producer.ordering.is_producer()  # takes the flock before the follower exists
    producer.start()
    follower = open_node("follower")
    follower.start()
    assert not follower.ordering.is_producer()

    sender, key = follower.dev_accounts[4]
    hashes = [follower.send_raw_transaction(transfer(key, n, value=n + 1)) for n in range(10)]
    receipts = [receipt_on(follower, h) for h in hashes]
    assert [producer.get_receipt(h) for h in hashes] == receipts
    assert_same_chain(producer, follower)
    recipient = b"\xcd" * 20
    assert producer.get_balance(recipient, "latest") == follower.get_balance(recipient, "latest") == 55
    assert len(follower.pool) == 0 and len(producer.pool) == 0
    height = follower.block_number()

    producer.stop()  # releases the flock: the follower becomes the producer
    takeover = follower.send_raw_transaction(transfer(key, 10, value=100))
    receipt = receipt_on(follower, takeover)
    assert receipt.block_number == height + 1
    eventually(follower.ordering.is_producer, "the follower holds the producer lock")
    assert follower.get_balance(recipient, "latest") == 155
    assert follower.get_nonce(sender, "latest") == 11

    again = open_node("producer")  # the old producer comes back as a follower and catches up
    again.start()
    assert not again.ordering.is_producer()
    assert_same_chain(again, follower)
    assert again.get_balance(recipient, "latest") == 155
    forwarded = again.send_raw_transaction(transfer(key, 11, value=1000))
    assert receipt_on(follower, forwarded) == receipt_on(again, forwarded)
    assert_same_chain(again, follower)


def test_submissions_taken_but_not_yet_mined_survive_a_producer_crash(tmp_path: Path):
    shared = tmp_path / "ordering.sqlite"

    def settings(name: str) -> NodeSettings:
        return NodeSettings(name=name, data_dir=tmp_path / name, chain_id=1337, max_txs_per_block=2,
                            ordering=OrderingSettings(path=shared))

    producer, follower = Node.open(settings("producer")), Node.open(settings("follower"))
    successor = LocalOrdering(shared)
    try:
        assert producer.ordering.is_producer()
        _, key = follower.dev_accounts[0]
        for nonce in range(6):
            follower.send_raw_transaction(transfer(key, nonce, value=1))
        # One turn of the producer loop, driven by hand so that it stops after one block:
        producer.producer.pull_submissions()  # takes all six into its pool
        producer.producer.produce_block()  # mines two
        assert producer.block_number() == 1
        producer.stop()  # its pool dies with it: the other four exist only as pending submissions
        assert successor.is_producer()
        assert len(successor.take_pending(100)) == 4
    finally:
        producer.stop()
        follower.stop()
        successor.close()
