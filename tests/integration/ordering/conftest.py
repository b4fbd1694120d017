"""Ordering services under test: `local` (one SQLite file) and `etcd` (a real 3-member cluster).

`etcd_cluster` is one cluster for the session; each test gets its own chain id, hence its own
key prefix `/privnet/<chain_id>/`, so tests never see each other's keys. Tests that stop
members take a cluster of their own from `fresh_etcd_cluster`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devnet.etcd import EtcdCluster
from engine.abc import OrderingServiceAPI
from engine.ordering.etcd import EtcdOrdering
from engine.ordering.local import LocalOrdering
from tests.helpers.network import require_etcd as require_etcd_for

TIMEOUT_S = 30
_chain_ids = itertools.count(5000)

OpenOrdering = Callable[..., OrderingServiceAPI]


def require_etcd() -> None:
    require_etcd_for("etcd")  # skips without etcd, fails instead under PRIVNET_REQUIRE_ETCD=1


@pytest.fixture(scope="session")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    require_etcd()
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd-session"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def fresh_etcd_cluster(tmp_path: Path) -> Iterator[Callable[[], EtcdCluster]]:
    """A cluster of this test's own (for tests that stop members); stopped at the end."""
    require_etcd()
    started: list[EtcdCluster] = []

    def start() -> EtcdCluster:
        cluster = EtcdCluster(tmp_path / f"etcd-{len(started)}")
        started.append(cluster)
        cluster.start()
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def chain_id() -> int:
    return next(_chain_ids)


@pytest.fixture
def open_etcd(chain_id: int) -> Iterator[Callable[..., EtcdOrdering]]:
    """`open_etcd(urls, name)`: EtcdOrderings on this test's chain id; all closed at the end."""
    opened: list[EtcdOrdering] = []

    def open_(urls: list[str], name: str = "node", **options: float) -> EtcdOrdering:
        ordering = EtcdOrdering(urls, chain_id, name=name, **options)  # type: ignore[arg-type]
        opened.append(ordering)
        return ordering

    yield open_
    for ordering in opened:
        ordering.close()


@pytest.fixture(params=["local", "etcd"])
def open_ordering(request: pytest.FixtureRequest, tmp_path: Path,
                  open_etcd: Callable[..., EtcdOrdering]) -> Iterator[OpenOrdering]:
    """`open_ordering(name)`: instances of one ordering service, as separate nodes open it."""
    if request.param == "local":
        opened: list[LocalOrdering] = []

        def open_local(name: str = "node") -> OrderingServiceAPI:
            ordering = LocalOrdering(tmp_path / "shared" / "ordering.sqlite", poll_interval_s=0.001, name=name)
            opened.append(ordering)
            return ordering

        yield open_local
        for ordering in opened:
            ordering.close()
        return
    cluster: EtcdCluster = request.getfixturevalue("etcd_cluster")

    def open_on_cluster(name: str = "node") -> OrderingServiceAPI:
        return open_etcd(cluster.client_urls, name)

    yield open_on_cluster


def eventually(condition: Callable[[], object], what: str, wait: Callable[[float], None] | None = None) -> None:
    """Until `condition()` holds (waking on `wait`, e.g. an ordering's wait_for_activity); fails after 30 s."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        (wait or time.sleep)(0.05)


def wait_for_producer(candidates: list[OrderingServiceAPI]) -> OrderingServiceAPI:
    """The one candidate that takes the producer role; the others must not hold it then."""
    holder: list[OrderingServiceAPI] = []

    def someone_took_it() -> bool:
        holder.extend(c for c in candidates if c.is_producer())
        return bool(holder)

    eventually(someone_took_it, "one instance takes the producer role", candidates[0].wait_for_activity)
    assert len(holder) == 1, "two instances hold the producer role at once"
    assert not any(c.is_producer() for c in candidates if c is not holder[0])
    return holder[0]
