"""Group commit of the etcd ordering's submissions: concurrent callers share writes, each returns
only once its own transactions were written, and a failed write fails every caller it carried."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.errors import OrderingUnavailable
from engine.ordering.etcd import _GroupCommit


def test_concurrent_submissions_share_writes_and_each_returns_after_its_own():
    written: list[list[bytes]] = []
    first_write_started, release = threading.Event(), threading.Event()

    def write(raws: list[bytes]) -> None:
        if not written:
            first_write_started.set()
            release.wait(10)  # hold the first write so that the others queue up behind it
        written.append(list(raws))

    group = _GroupCommit(write)
    with ThreadPoolExecutor(max_workers=20) as pool:
        first = pool.submit(group.submit, [b"tx-0"])
        assert first_write_started.wait(10)
        rest = [pool.submit(group.submit, [f"tx-{i}".encode()]) for i in range(1, 20)]
        release.set()
        for future in [first, *rest]:
            future.result(timeout=10)
    flat = [raw for batch in written for raw in batch]
    assert sorted(flat) == sorted(f"tx-{i}".encode() for i in range(20))  # each written exactly once
    assert len(written) < 20  # the queued ones went together


def test_a_failed_write_fails_every_caller_it_carried_and_the_next_write_goes_on():
    calls: list[list[bytes]] = []

    def write(raws: list[bytes]) -> None:
        calls.append(raws)
        if len(calls) == 1:
            raise OrderingUnavailable("etcd ordering service: no quorum")

    group = _GroupCommit(write)
    with pytest.raises(OrderingUnavailable, match="no quorum"):
        group.submit([b"a"])
    group.submit([b"b"])
    assert calls == [[b"a"], [b"b"]]
