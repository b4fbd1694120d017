"""Producer pacing between real in-process nodes on one `local` ordering file: a producer does
not run ahead of a node that keeps up (its transactions batch into a bigger block meanwhile),
and a node that stops importing does not stop the chain."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.chain.node import Node
from engine.config import NodeSettings, OrderingSettings
from tests.integration.node.test_shared_ordering import eventually, receipt_on, transfer

pytestmark = pytest.mark.integration


@pytest.fixture
def open_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    opened: list[Node] = []

    def open_(name: str, **settings: object) -> Node:
        node = Node.open(NodeSettings(name=name, data_dir=tmp_path / name, chain_id=1337,
                                      ordering=OrderingSettings(path=tmp_path / "ordering.sqlite", poll_interval_ms=2),
                                      **settings))
        opened.append(node)
        return node

    yield open_
    for node in opened:
        node.stop()


def start_pair(open_node: Callable[..., Node], wait_ms: int) -> tuple[Node, Node]:
    producer = open_node("producer", producer_max_lead_blocks=1, producer_pacing_wait_ms=wait_ms)
    assert producer.ordering.is_producer()
    producer.start()
    follower = open_node("follower")
    follower.start()
    sender, key = producer.dev_accounts[3]
    receipt_on(follower, producer.send_raw_transaction(transfer(key, 0, value=1)))  # the follower reported
    eventually(lambda: producer.ordering.reported_heads().get("follower") == producer.block_number(),
               "the follower reported its head")
    return producer, follower


def test_a_slow_follower_sets_the_pace_and_the_waiting_transactions_share_one_block(open_node):
    producer, follower = start_pair(open_node, wait_ms=60_000)
    _, key = producer.dev_accounts[3]
    follower.pause()  # alive but not importing: as a node short of CPU
    start = producer.block_number()
    first = [producer.send_raw_transaction(transfer(key, n, value=1)) for n in (1,)]
    receipt_on(producer, first[0])  # one block ahead of the follower: within the lead
    second = producer.send_raw_transaction(transfer(key, 2, value=1))
    receipt_on(producer, second)  # two ahead
    assert producer.block_number() == start + 2
    waiting = [producer.send_raw_transaction(transfer(key, n, value=1)) for n in range(3, 11)]
    eventually(lambda: producer.pacing.waits >= 1, "the producer waits for the follower")
    assert producer.block_number() == start + 2  # nothing built while the follower is behind
    follower.resume()
    receipts = [receipt_on(producer, h) for h in waiting]
    assert {r.block_number for r in receipts} == {start + 3}  # all eight in one block
    eventually(lambda: follower.block_number() == producer.block_number(), "the follower catches up")
    assert [follower.get_receipt(h) for h in waiting] == receipts


def test_a_follower_that_stops_importing_does_not_stop_the_chain(open_node):
    producer, follower = start_pair(open_node, wait_ms=200)
    _, key = producer.dev_accounts[3]
    follower.stop()  # as if killed: its last report stays behind
    hashes = []
    for nonce in range(1, 8):
        hashes.append(producer.send_raw_transaction(transfer(key, nonce, value=1)))
        receipt_on(producer, hashes[-1])  # each waits its turn: the chain moves on without the follower
    assert producer.pacing.waits == 1  # waited out once, then given up on at that height
    assert producer.ordering.reported_heads()["follower"] < producer.block_number() - 1


def test_a_follower_reports_every_block_it_imports_not_only_at_the_end_of_a_backlog(open_node, monkeypatch):
    producer = open_node("producer", producer_max_lead_blocks=0)  # no pacing: a backlog builds up
    assert producer.ordering.is_producer()
    producer.start()
    follower = open_node("follower")
    follower.start()
    _, key = producer.dev_accounts[3]
    receipt_on(follower, producer.send_raw_transaction(transfer(key, 0, value=1)))
    follower.pause()
    start = follower.block_number()
    for nonce in range(1, 6):
        receipt_on(producer, producer.send_raw_transaction(transfer(key, nonce, value=1)))
    assert producer.block_number() == start + 5
    reported: list[int] = []
    report = follower.ordering.report_head
    monkeypatch.setattr(follower.ordering, "report_head", lambda n: (reported.append(n), report(n)))
    follower.resume()  # imports the five blocks in one catch-up
    # each report follows its block's commit: wait for the last report, not for the head
    eventually(lambda: len(reported) >= 5, "the follower reports the backlog's blocks")
    assert reported == list(range(start + 1, start + 6))
    eventually(lambda: producer.ordering.reported_heads().get("follower") == start + 5,
               "the producer reads the last report")
