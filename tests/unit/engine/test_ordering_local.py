"""LocalOrdering: compare-and-swap appends, flock leader election, pending submissions kept until a block."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_utils import keccak

from engine.config import NodeSettings, OrderingSettings
from engine.ordering import open_ordering
from engine.ordering.local import LocalOrdering


@pytest.fixture
def open_local(tmp_path: Path) -> Iterator[Callable[[], LocalOrdering]]:
    """Open LocalOrderings on one shared file (as separate nodes do); all closed at the end."""
    opened: list[LocalOrdering] = []

    def factory() -> LocalOrdering:
        ordering = LocalOrdering(tmp_path / "shared" / "ordering.sqlite", poll_interval_s=0.001)
        opened.append(ordering)
        return ordering

    yield factory
    for ordering in opened:
        ordering.close()


def test_append_is_a_compare_and_swap_per_height(open_local):
    first, second = open_local(), open_local()
    assert first.head_number() == 0
    assert first.append_block(1, b"block one") is True
    assert second.append_block(1, b"a competing block one") is False
    assert first.append_block(1, b"block one again") is False
    assert second.get_block_rlp(1) == b"block one"
    assert second.append_block(2, b"block two") is True
    assert first.get_block_rlp(2) == b"block two"
    assert first.get_block_rlp(3) is None
    assert first.head_number() == second.head_number() == 2


def test_second_ordering_on_the_same_file_is_not_producer_until_the_first_closes(open_local):
    first, second = open_local(), open_local()
    assert first.is_producer() is True
    assert first.is_producer() is True  # holding the lock is stable
    assert second.is_producer() is False
    assert second.is_producer() is False
    first.close()
    assert second.is_producer() is True
    third = open_local()
    assert third.is_producer() is False


def test_pending_submissions_survive_until_a_block_append(open_local):
    follower, producer = open_local(), open_local()
    assert producer.is_producer()
    follower.submit([b"tx1", b"tx2"])
    follower.submit([])
    follower.submit([b"tx3"])
    assert producer.take_pending(2) == [b"tx1", b"tx2"]
    assert producer.take_pending(10) == [b"tx3"]
    assert producer.take_pending(10) == []  # taken once per producer

    producer.close()  # the producer dies before appending a block: nothing is lost
    successor = open_local()
    assert successor.is_producer() is True
    assert follower.is_producer() is False
    assert successor.take_pending(2) == [b"tx1", b"tx2"]
    assert successor.append_block(1, b"block with tx1 and tx2") is True
    successor.acknowledge([keccak(b"tx1"), keccak(b"tx2")])

    successor.close()  # acknowledged rows are gone; taken but unacknowledged ones are kept
    follower.submit([b"tx4"])
    assert follower.is_producer() is True
    assert follower.take_pending(10) == [b"tx3", b"tx4"]


def test_taken_rows_survive_an_append_until_acknowledged(open_local):
    follower, producer = open_local(), open_local()
    assert producer.is_producer()
    follower.submit([b"tx1", b"tx2", b"tx3"])
    assert producer.take_pending(10) == [b"tx1", b"tx2", b"tx3"]
    assert producer.append_block(1, b"block with tx1") is True
    producer.acknowledge([keccak(b"tx1")])
    producer.close()
    successor = open_local()
    assert successor.is_producer() is True
    assert successor.take_pending(10) == [b"tx2", b"tx3"]


def test_failed_append_keeps_the_pending_rows(open_local):
    producer, stale = open_local(), open_local()
    assert producer.is_producer()
    stale.submit([b"tx1"])
    assert producer.take_pending(10) == [b"tx1"]
    assert stale.append_block(1, b"from elsewhere") is True
    assert producer.append_block(1, b"lost the race") is False
    producer.close()
    successor = open_local()
    assert successor.is_producer()
    assert successor.take_pending(10) == [b"tx1"]


def test_open_ordering_uses_the_configured_shared_path(tmp_path: Path):
    shared = tmp_path / "net" / "ordering.sqlite"
    one = open_ordering(NodeSettings(data_dir=tmp_path / "a", ordering=OrderingSettings(path=shared)))
    two = open_ordering(NodeSettings(data_dir=tmp_path / "b", ordering=OrderingSettings(path=shared)))
    default = open_ordering(NodeSettings(data_dir=tmp_path / "c"))
    try:
        assert one.append_block(1, b"x")
        assert two.get_block_rlp(1) == b"x"
        assert default.get_block_rlp(1) is None
        assert (tmp_path / "c" / "ordering.sqlite").exists()
    finally:
        for ordering in (one, two, default):
            ordering.close()


def test_current_producer_names_the_holder_and_no_one_after_it_resigns(tmp_path: Path):
    path = tmp_path / "shared" / "ordering.sqlite"
    node1, node2 = LocalOrdering(path, name="node1"), LocalOrdering(path, name="node2")
    try:
        assert node2.current_producer() is None
        assert node1.is_producer() and not node2.is_producer()
        assert node2.current_producer() == "node1" and node1.current_producer() == "node1"
        node1.resign()
        assert node2.current_producer() is None
        assert node2.is_producer() and node1.current_producer() == "node2"
    finally:
        node1.close()
        node2.close()


def test_a_locked_file_is_unavailable_and_nothing_is_written(tmp_path: Path):
    import sqlite3

    from engine.errors import OrderingUnavailable

    path = tmp_path / "shared" / "ordering.sqlite"
    ordering = LocalOrdering(path)
    blocker = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    try:
        ordering._conn.execute("PRAGMA busy_timeout = 50")  # do not wait 30 s for the writer below
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the file
        with pytest.raises(OrderingUnavailable, match="ordering service unavailable: cannot submit"):
            ordering.submit([b"\x01raw"])
        blocker.execute("ROLLBACK")
        assert ordering.take_pending(10) == []
        ordering.submit([b"\x01raw"])
        assert ordering.take_pending(10) == [b"\x01raw"]
    finally:
        blocker.close()
        ordering.close()


# -- dev snapshots: appends only at head + 1, and truncate (what a revert does to the shared log) --
def test_an_append_must_be_exactly_the_next_height(open_local):
    producer = open_local()
    assert producer.append_block(2, b"a gap above an empty log") is False
    assert producer.append_block(0, b"below the first block") is False
    assert producer.append_block(1, b"block one") is True
    assert producer.append_block(3, b"a gap") is False
    assert producer.append_block(1, b"a taken height") is False
    assert producer.append_block(2, b"block two") is True
    assert [producer.get_block_rlp(n) for n in (1, 2, 3)] == [b"block one", b"block two", None]
    assert producer.head_number() == 2


def test_a_producer_not_yet_reverted_cannot_leave_a_block_above_the_truncated_log(open_local):
    stale_producer, reverting = open_local(), open_local()
    for number in range(1, 6):
        assert stale_producer.append_block(number, f"block {number}".encode()) is True
    reverting.submit([b"a pending submission"])
    reverting.truncate(2)  # the first node to revert to a snapshot taken at block #2
    assert reverting.head_number() == stale_producer.head_number() == 2
    assert [stale_producer.get_block_rlp(n) for n in (2, 3, 4, 5)] == [b"block 2", None, None, None]
    assert stale_producer.take_pending(10) == []  # pending submissions are gone too
    # The producer still at its old head #5 builds #6: refused, as is anything but #3.
    assert stale_producer.append_block(6, b"a stray block six") is False
    assert stale_producer.append_block(4, b"a stray block four") is False
    assert stale_producer.head_number() == 2
    reverting.truncate(2)  # every node reverting does it: idempotent
    assert reverting.head_number() == 2
    assert stale_producer.append_block(3, b"the new block three") is True
    assert reverting.get_block_rlp(3) == b"the new block three"


def test_truncate_lets_a_producer_read_every_new_submission_again(open_local):
    producer, follower = open_local(), open_local()
    assert producer.is_producer()
    follower.submit([b"tx before"])
    assert producer.take_pending(10) == [b"tx before"]
    producer.truncate(0)
    follower.submit([b"tx after"])
    assert producer.take_pending(10) == [b"tx after"]


def open_together(path: Path, count: int) -> tuple[list[LocalOrdering], list[BaseException]]:
    """`count` instances opening `path` at the same moment, from threads."""
    start = threading.Barrier(count)
    opened: list[LocalOrdering] = []
    errors: list[BaseException] = []

    def open_one(name: str) -> None:
        start.wait()
        try:
            opened.append(LocalOrdering(path, name=name))
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(f"node{n}",)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return opened, errors


def test_the_machine_s_nodes_opening_a_new_file_together_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL needs an exclusive lock, and SQLite refuses at once (no busy
    wait) while another connection holds the file: the old code failed about one round in 20."""
    for round_ in range(30):
        opened, errors = open_together(tmp_path / f"round{round_}" / "ordering.sqlite", 6)
        for ordering in opened:
            ordering.close()
        assert errors == [] and len(opened) == 6, f"round {round_}: {errors}"
