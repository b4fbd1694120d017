"""The filter registry against a fake chain that grows, with a controllable clock."""

from __future__ import annotations

import pytest

from engine.errors import EngineError, InvalidParams, ResourceNotFound
from engine.rpc.filters import FilterRegistry
from engine.rpc.params import LogQuery

from .fakes import TOPIC_A, TOPIC_B, FakeNode, block_hash


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def node() -> FakeNode:
    return FakeNode(blocks=3)  # head = 2


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(node, clock) -> FilterRegistry:
    return FilterRegistry(node, idle_timeout=300, max_filters=3, max_block_range=4, clock=clock)


def test_block_filter_delivers_each_new_block_once(registry, node):
    fid = registry.new_block_filter()
    assert fid.startswith("0x") and len(fid) == 34
    assert registry.changes(fid) == []
    node.grow()
    node.grow()
    assert registry.changes(fid) == [block_hash(3), block_hash(4)]
    assert registry.changes(fid) == []
    node.grow()
    assert registry.changes(fid.upper().replace("0X", "0x")) == [block_hash(5)]


def test_block_filter_catches_up_in_chunks(registry, node):
    fid = registry.new_block_filter()
    for _ in range(6):
        node.grow()
    assert registry.changes(fid) == [block_hash(n) for n in range(3, 7)]  # max_block_range = 4
    assert registry.changes(fid) == [block_hash(n) for n in range(7, 9)]


def test_log_filter_delivers_only_new_matching_logs(registry, node):
    fid = registry.new_log_filter(LogQuery(from_block=1, to_block="latest", topics=((TOPIC_B,),)))
    assert registry.changes(fid) == []  # blocks 1..2 hold TOPIC_A logs and predate the filter
    node.grow(topics=(TOPIC_A,))
    node.grow(topics=(TOPIC_B,))
    changes = registry.changes(fid)
    assert [log.block_number for log in changes] == [4]
    assert registry.changes(fid) == []
    # getFilterLogs re-runs the whole query
    assert [log.block_number for log in registry.logs(fid)] == [4]


def test_log_filter_respects_its_block_range(registry, node):
    fid = registry.new_log_filter(LogQuery(from_block=4, to_block=5))
    node.grow()  # 3: before the range
    assert registry.changes(fid) == []
    node.grow()  # 4
    node.grow()  # 5
    node.grow()  # 6: after the range
    assert [log.block_number for log in registry.changes(fid)] == [4, 5]
    assert [log.block_number for log in registry.logs(fid)] == [4, 5]


def test_get_filter_logs_of_the_whole_chain(registry, node):
    fid = registry.new_log_filter(LogQuery(from_block="earliest", topics=((TOPIC_A,),)))
    assert [log.block_number for log in registry.logs(fid)] == [1, 2]


def test_get_filter_logs_obeys_the_range_limit(registry, node):
    fid = registry.new_log_filter(LogQuery(from_block=0))
    node.grow()
    node.grow()  # head 4: blocks 0..4 are 5 > 4
    with pytest.raises(InvalidParams, match="block range too large"):
        registry.logs(fid)


def test_get_filter_logs_on_a_block_filter_is_refused(registry):
    with pytest.raises(InvalidParams, match="not a log filter"):
        registry.logs(registry.new_block_filter())


def test_block_hash_filters_are_refused(registry):
    with pytest.raises(InvalidParams, match="blockHash"):
        registry.new_log_filter(LogQuery(block_hash=block_hash(1)))


def test_uninstall(registry):
    fid = registry.new_block_filter()
    assert registry.uninstall(fid) is True
    assert registry.uninstall(fid) is False
    with pytest.raises(ResourceNotFound, match="filter not found"):
        registry.changes(fid)


def test_idle_filters_expire_and_polling_keeps_them(registry, clock):
    polled = registry.new_block_filter()
    idle = registry.new_block_filter()
    clock.now += 200
    registry.changes(polled)
    clock.now += 200  # idle: 400 s since creation; polled: 200 s since its last poll
    assert len(registry) == 1
    registry.changes(polled)
    with pytest.raises(ResourceNotFound):
        registry.changes(idle)


def test_filter_count_limit_frees_up_after_expiry(registry, clock):
    for _ in range(3):
        registry.new_block_filter()
    with pytest.raises(EngineError, match="too many installed filters"):
        registry.new_block_filter()
    clock.now += 301
    registry.new_block_filter()
    assert len(registry) == 1


def test_unknown_filter(registry):
    with pytest.raises(ResourceNotFound):
        registry.changes("0x" + "ab" * 16)
