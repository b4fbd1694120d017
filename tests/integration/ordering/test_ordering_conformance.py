"""The OrderingServiceAPI contract, on every implementation: `local` (one SQLite file, flock)
and `etcd` (a real 3-member cluster). Each test opens several instances, as separate nodes do."""

from __future__ import annotations

import threading

import pytest
from eth_utils import keccak

from tests.integration.ordering.conftest import OpenOrdering, eventually, wait_for_producer

pytestmark = pytest.mark.integration


def test_one_producer_at_a_time_and_current_producer_names_it(open_ordering: OpenOrdering):
    first, second, third = open_ordering("first"), open_ordering("second"), open_ordering("third")
    assert first.current_producer() is None
    assert first.is_producer() is True
    assert first.is_producer() is True  # holding the role is stable
    assert second.is_producer() is False
    assert third.is_producer() is False
    assert [o.current_producer() for o in (first, second, third)] == ["first"] * 3

    first.resign()
    first.close()
    successor = wait_for_producer([second, third])
    assert second.current_producer() == third.current_producer() == successor.current_producer()
    assert successor.current_producer() in ("second", "third")


def test_append_is_a_compare_and_swap_per_height(open_ordering: OpenOrdering):
    producer, other = open_ordering("producer"), open_ordering("other")
    assert producer.is_producer()
    assert producer.head_number() == 0
    assert producer.append_block(1, b"block one") is True
    assert other.append_block(1, b"a competing block one") is False
    assert producer.append_block(1, b"block one again") is False
    assert producer.append_block(2, b"block two") is True
    eventually(lambda: other.get_block_rlp(2) is not None, "block 2 reaches the other instance",
               other.wait_for_activity)
    assert other.get_block_rlp(1) == b"block one"
    assert other.get_block_rlp(2) == b"block two"
    assert other.get_block_rlp(3) is None
    assert producer.head_number() == other.head_number() == 2


def test_two_instances_racing_for_one_height_have_exactly_one_winner(open_ordering: OpenOrdering):
    instances = [open_ordering(f"racer{i}") for i in range(2)]
    wait_for_producer(instances)
    for height in range(1, 6):
        start = threading.Barrier(len(instances))
        won: dict[int, bool] = {}

        def race(index: int, height: int = height, start: threading.Barrier = start,
                 won: dict[int, bool] = won) -> None:
            instances[index].is_producer()
            start.wait()
            won[index] = instances[index].append_block(height, f"block {height} by racer{index}".encode())

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(instances))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [i for i, ok in won.items() if ok]
        assert len(winners) == 1, f"height {height}: {won}"
        for reader in instances:
            eventually(lambda r=reader, h=height: r.get_block_rlp(h) is not None, f"block {height} readable",
                       reader.wait_for_activity)
            assert reader.get_block_rlp(height) == f"block {height} by racer{winners[0]}".encode()


def test_a_resigned_producer_cannot_append_where_its_successor_did(open_ordering: OpenOrdering):
    stale, successor = open_ordering("stale"), open_ordering("successor")
    assert stale.is_producer()
    assert stale.append_block(1, b"block one") is True
    stale.resign()
    assert wait_for_producer([successor]) is successor
    assert successor.append_block(2, b"the successor's block two") is True
    assert stale.append_block(2, b"the stale producer's block two") is False
    eventually(lambda: stale.get_block_rlp(2) is not None, "block 2 readable", stale.wait_for_activity)
    assert stale.get_block_rlp(2) == b"the successor's block two"


def test_submissions_survive_the_producers_death(open_ordering: OpenOrdering):
    follower, producer = open_ordering("follower"), open_ordering("producer")
    assert producer.is_producer()
    follower.submit([b"tx1"])
    follower.submit([b"tx2"])
    follower.submit([])
    follower.submit([b"tx3"])
    pending: list[bytes] = []
    eventually(lambda: pending.extend(producer.take_pending(2)) or len(pending) >= 2, "two submissions taken",
               producer.wait_for_activity)
    assert pending == [b"tx1", b"tx2"]  # oldest first
    assert producer.take_pending(10) == [b"tx3"]
    assert producer.take_pending(10) == []  # handed out once per producer

    producer.close()  # dies before appending a block: nothing is lost
    successor = open_ordering("successor")
    new_producer = wait_for_producer([successor, follower])
    assert new_producer.take_pending(10) == [b"tx1", b"tx2", b"tx3"]
    assert new_producer.take_pending(10) == []


def test_a_batch_is_durable_as_one_and_taken_in_pieces(open_ordering: OpenOrdering):
    follower, producer = open_ordering("follower"), open_ordering("producer")
    assert producer.is_producer()
    batch = [f"tx{i}".encode() for i in range(10)]
    follower.submit(batch)
    taken = producer.take_pending(4) + producer.take_pending(4) + producer.take_pending(4)
    assert sorted(taken) == sorted(batch)  # every one once, none twice, whatever the order in a batch
    assert producer.take_pending(10) == []


def test_acknowledge_deletes_only_what_it_names(open_ordering: OpenOrdering):
    follower, producer = open_ordering("follower"), open_ordering("producer")
    assert producer.is_producer()
    for raw in (b"tx1", b"tx2", b"tx3"):
        follower.submit([raw])
    assert producer.take_pending(10) == [b"tx1", b"tx2", b"tx3"]
    assert producer.append_block(1, b"block with tx1") is True
    producer.acknowledge([keccak(b"tx1"), keccak(b"never submitted")])
    producer.acknowledge([])
    producer.close()  # taken but unacknowledged submissions stay for the next producer
    assert wait_for_producer([follower]) is follower
    follower.submit([b"tx4"])
    assert follower.take_pending(10) == [b"tx2", b"tx3", b"tx4"]
    follower.acknowledge([keccak(b"tx2"), keccak(b"tx3"), keccak(b"tx4")])
    follower.resign()
    again = open_ordering("again")
    assert wait_for_producer([again, follower]).take_pending(10) == []


def test_blocks_read_back_in_order_on_every_instance(open_ordering: OpenOrdering):
    producer = open_ordering("producer")
    assert producer.is_producer()
    blocks = {n: f"block {n}".encode() * n for n in range(1, 41)}
    for number, block in blocks.items():
        assert producer.append_block(number, block) is True
    late = open_ordering("late")  # opened after the blocks: reads them from the service
    for reader in (producer, late):
        assert reader.head_number() == 40
        assert [reader.get_block_rlp(n) for n in blocks] == list(blocks.values())
        assert reader.get_block_rlp(41) is None


def test_wait_for_activity_wakes_on_a_block_from_another_instance(open_ordering: OpenOrdering):
    producer, follower = open_ordering("producer"), open_ordering("follower")
    assert producer.is_producer()
    assert producer.append_block(1, b"block one") is True
    eventually(lambda: follower.get_block_rlp(1) is not None, "block 1 readable", follower.wait_for_activity)
    appended = threading.Event()
    slept_through = threading.Event()

    def append_later() -> None:
        threading.Event().wait(0.2)
        assert producer.append_block(2, b"block two")
        appended.set()

    writer = threading.Thread(target=append_later)
    watchdog = threading.Timer(15, slept_through.set)  # half the wait's timeout: a wake-up would be long past
    writer.start()
    watchdog.start()
    try:
        while follower.get_block_rlp(2) is None:
            follower.wait_for_activity(30)  # an earlier change may wake it first: wait again then
            assert not slept_through.is_set(), "wait_for_activity did not wake on the new block"
    finally:
        watchdog.cancel()
        writer.join()
    assert appended.is_set()
    assert follower.get_block_rlp(2) == b"block two"


def test_reported_heads_reach_the_other_instances_latest_first(open_ordering: OpenOrdering):
    producer, follower, late = open_ordering("producer"), open_ordering("follower"), open_ordering("late")
    for height in range(1, 6):
        follower.report_head(height)  # coalesced where a put is in flight: the latest one wins
    late.report_head(2)
    eventually(lambda: producer.reported_heads() == {"follower": 5, "late": 2},
               "the producer sees each node's latest head")
    # Reports are advisory: they wake nobody and appear as no submission or block.
    assert producer.take_pending(10) == []
    assert producer.head_number() == 0


def test_wake_ends_a_wait_in_progress(open_ordering: OpenOrdering):
    """A stopping node wakes its loop instead of sitting out the rest of a quiet wait."""
    ordering = open_ordering("sleeper")
    ordering.is_producer()
    ordering.wait_for_activity(0)  # consume whatever opening it left to report
    waiting = threading.Thread(target=ordering.wait_for_activity, args=(120,))
    waiting.start()
    ordering.wake()
    waiting.join(timeout=20)  # without wake the wait lasts its whole 120 s
    assert not waiting.is_alive()
