"""Producer pacing (engine/chain/pacing.py) over real `local` ordering instances, one per node:
the producer waits for a node that keeps up, never for one that is catching up, dead or itself,
and never longer than its limit."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.chain.pacing import IN_SYNC_WINDOW, FollowerPacing
from engine.ordering.local import LocalOrdering

OpenOrdering = Callable[[str], LocalOrdering]


@pytest.fixture
def open_ordering(tmp_path: Path) -> Iterator[OpenOrdering]:
    opened: list[LocalOrdering] = []

    def open_(name: str) -> LocalOrdering:
        ordering = LocalOrdering(tmp_path / "ordering.sqlite", name=name)
        opened.append(ordering)
        return ordering

    yield open_
    for ordering in opened:
        ordering.close()


def pacing_of(ordering: LocalOrdering, lead: int = 2, wait_s: float = 0.2) -> FollowerPacing:
    return FollowerPacing(ordering.name, ordering, max_lead_blocks=lead, max_wait_s=wait_s)


def test_reports_reach_every_instance_and_stay_owner_only(open_ordering, tmp_path: Path):
    producer, follower, other = open_ordering("node1"), open_ordering("node/2"), open_ordering("node3")
    follower.report_head(7)
    other.report_head(5)
    follower.report_head(9)
    assert producer.reported_heads() == {"node/2": 9, "node3": 5}
    heads_dir = tmp_path / "ordering.sqlite.heads"
    assert stat.S_IMODE(heads_dir.stat().st_mode) == 0o700
    for entry in os.scandir(heads_dir):
        assert stat.S_IMODE(entry.stat().st_mode) & 0o077 == 0, entry.name


def test_no_wait_without_reports_within_the_lead_or_when_disabled(open_ordering):
    producer, follower = open_ordering("node1"), open_ordering("node2")
    stop = threading.Event()
    assert pacing_of(producer).wait_for_followers(100, stop) is False  # nobody reported
    follower.report_head(98)
    assert pacing_of(producer).wait_for_followers(100, stop) is False  # 2 behind: within the lead
    follower.report_head(90)
    assert pacing_of(producer, lead=0).wait_for_followers(100, stop) is False
    assert pacing_of(producer, lead=0).lagging(100) == {}


def test_waits_for_a_node_that_keeps_up_until_it_reports(open_ordering):
    producer, follower = open_ordering("node1"), open_ordering("node2")
    follower.report_head(95)
    pacing = pacing_of(producer, wait_s=30.0)
    assert pacing.lagging(100) == {"node2": 95}
    caught_up = threading.Event()

    def import_then_report() -> None:
        threading.Event().wait(0.05)
        caught_up.set()
        follower.report_head(99)

    threading.Thread(target=import_then_report).start()
    assert pacing.wait_for_followers(100, threading.Event()) is True
    assert caught_up.is_set()  # it returned because the follower reported, not on its own
    assert pacing.waits == 1
    assert pacing.lagging(100) == {}


def test_a_node_that_does_not_move_is_given_up_until_it_moves(open_ordering):
    producer, stuck = open_ordering("node1"), open_ordering("node2")
    stuck.report_head(90)
    pacing = pacing_of(producer, wait_s=0.05)
    assert pacing.wait_for_followers(100, threading.Event()) is True  # ran out
    assert pacing.lagging(101) == {}  # not waited for again at the same height
    assert pacing.wait_for_followers(101, threading.Event()) is False
    stuck.report_head(91)  # it moves: it keeps up again, so it sets the pace again
    assert pacing.lagging(101) == {"node2": 91}


def test_a_node_catching_up_from_far_behind_and_the_producer_itself_are_not_waited_for(open_ordering):
    producer, restarted = open_ordering("node1"), open_ordering("node2")
    head = 1000
    restarted.report_head(head - IN_SYNC_WINDOW - 1)
    producer.report_head(head - 10)  # its own report from when it was a follower
    pacing = pacing_of(producer)
    assert pacing.lagging(head) == {}
    restarted.report_head(head - IN_SYNC_WINDOW)  # back within the window: it sets the pace again
    assert pacing.lagging(head) == {"node2": head - IN_SYNC_WINDOW}


def test_stop_ends_a_wait(open_ordering):
    producer, follower = open_ordering("node1"), open_ordering("node2")
    follower.report_head(1)
    stop = threading.Event()
    stop.set()
    assert pacing_of(producer, wait_s=30.0).wait_for_followers(100 - IN_SYNC_WINDOW + 1, stop) is True


def test_an_unreadable_report_is_ignored_not_waited_for(open_ordering, tmp_path: Path):
    producer, follower = open_ordering("node1"), open_ordering("node2")
    follower.report_head(90)
    (tmp_path / "ordering.sqlite.heads" / "node2").write_bytes(b"not a height")
    (tmp_path / "ordering.sqlite.heads" / "node5").write_bytes(b"\xff" * 40)
    assert producer.reported_heads() == {}
    assert pacing_of(producer).wait_for_followers(100, threading.Event()) is False
