"""The etcd ordering service when things fail: a producer killed or cut off, one member down,
a quorum lost and regained. Real etcd members and real processes; durations are printed, never
asserted."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from eth_utils import keccak

from devnet.etcd import EtcdCluster
from engine.errors import OrderingUnavailable
from engine.ordering.etcd import EtcdOrdering
from tests.integration.ordering.conftest import eventually, wait_for_producer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
OpenEtcd = Callable[..., EtcdOrdering]

PRODUCER_SCRIPT = textwrap.dedent("""
    import sys, time
    from engine.ordering.etcd import EtcdOrdering
    ordering = EtcdOrdering(sys.argv[1].split(","), int(sys.argv[2]), name="doomed")
    while not ordering.is_producer():
        ordering.wait_for_activity(0.1)
    print("producer", flush=True)
    time.sleep(3600)
""")


def producer_lease(urls: list[str], chain_id: int) -> int:
    """The lease the producer key is attached to, read straight from etcd."""
    key = base64.b64encode(f"/privnet/{chain_id}/producer".encode()).decode()
    kvs = httpx.post(urls[0] + "/v3/kv/range", json={"key": key}, timeout=5).json().get("kvs", [])
    assert kvs, "nobody holds the producer key"
    return int(kvs[0]["lease"])


def block_one_from_a_forwarded_transaction(cluster: EtcdCluster, open_etcd: OpenEtcd) -> tuple[EtcdOrdering,
                                                                                              EtcdOrdering]:
    """(producer, follower): the follower submitted tx1, the producer took it into block 1."""
    producer, follower = open_etcd(cluster.client_urls, "producer"), open_etcd(cluster.client_urls, "follower")
    assert producer.is_producer()
    follower.submit([b"tx1"])
    assert producer.take_pending(10) == [b"tx1"]
    assert producer.append_block(1, b"block one") is True
    return producer, follower


def test_a_killed_producers_lease_expires_and_another_node_takes_over(etcd_cluster: EtcdCluster,
                                                                     open_etcd: OpenEtcd, chain_id: int):
    urls = etcd_cluster.client_urls
    doomed = subprocess.Popen([sys.executable, "-c", PRODUCER_SCRIPT, ",".join(urls), str(chain_id)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline() == b"producer\n", doomed.stderr.read() if doomed.stderr else b""
        survivor = open_etcd(urls, "survivor")
        assert survivor.current_producer() == "doomed"
        assert survivor.is_producer() is False
        doomed.kill()  # SIGKILL: no resign; only the lease's expiry frees the role
        doomed.wait()
        killed_at = time.monotonic()
        assert wait_for_producer([survivor]) is survivor
        print(f"\nfailover: the survivor became producer {time.monotonic() - killed_at:.2f} s after SIGKILL "
              f"(lease TTL {survivor.lease_ttl_s} s)")
        assert survivor.current_producer() == "survivor"
        assert survivor.append_block(1, b"block one") is True
    finally:
        if doomed.poll() is None:
            doomed.kill()
        doomed.wait()


def test_a_producer_whose_lease_is_gone_cannot_append_even_at_a_free_height(etcd_cluster: EtcdCluster,
                                                                            open_etcd: OpenEtcd, chain_id: int):
    urls = etcd_cluster.client_urls
    stale, successor = open_etcd(urls, "stale"), open_etcd(urls, "successor")
    assert stale.is_producer()
    assert stale.append_block(1, b"block one") is True
    # The lease ends behind the producer's back, as when its keep-alives stop reaching the quorum.
    httpx.post(urls[0] + "/v3/lease/revoke", json={"ID": str(producer_lease(urls, chain_id))}, timeout=5)
    assert stale.append_block(2, b"the stale producer's block two") is False  # free height, no role
    assert wait_for_producer([successor, stale]) is successor
    assert successor.append_block(2, b"the successor's block two") is True
    assert stale.append_block(3, b"the stale producer's block three") is False
    assert stale.is_producer() is False
    assert stale.head_number() == 2
    eventually(lambda: stale.get_block_rlp(2) is not None, "block 2 readable", stale.wait_for_activity)
    assert stale.get_block_rlp(2) == b"the successor's block two"


def test_one_member_of_three_down_changes_nothing(fresh_etcd_cluster: Callable[[], EtcdCluster],
                                                  open_etcd: OpenEtcd):
    cluster = fresh_etcd_cluster()
    producer, follower = block_one_from_a_forwarded_transaction(cluster, open_etcd)
    producer.acknowledge([keccak(b"tx1")])

    cluster.stop_member(0, signal.SIGKILL)  # the member both instances talk to first (maybe the leader)
    killed_at = time.monotonic()
    follower.submit([b"tx2"])
    # While the survivors elect a leader, keep-alives go unanswered and the producer steps back;
    # etcd extends leases across a leader change, so the same producer goes on.
    eventually(producer.is_producer, "the producer confirms its role", producer.wait_for_activity)
    print(f"\nafter SIGKILL of a member: producing again {time.monotonic() - killed_at:.2f} s later")
    assert follower.is_producer() is False
    assert producer.take_pending(10) == [b"tx2"]
    assert producer.append_block(2, b"block two") is True
    eventually(lambda: follower.get_block_rlp(2) is not None, "block 2 reaches the follower",
               follower.wait_for_activity)
    assert [follower.get_block_rlp(n) for n in (1, 2)] == [b"block one", b"block two"]

    cluster.start_member(0)
    cluster.wait_healthy()
    assert producer.append_block(3, b"block three") is True


@pytest.mark.slow
def test_without_a_quorum_the_chain_pauses_and_resumes_when_it_returns(
        fresh_etcd_cluster: Callable[[], EtcdCluster], open_etcd: OpenEtcd):
    cluster = fresh_etcd_cluster()
    producer, follower = block_one_from_a_forwarded_transaction(cluster, open_etcd)

    cluster.stop_member(1, signal.SIGKILL)
    cluster.stop_member(2, signal.SIGKILL)
    with pytest.raises(OrderingUnavailable, match="no quorum"):
        follower.submit([b"tx2"])
    with pytest.raises(OrderingUnavailable, match="no quorum"):
        producer.append_block(2, b"block two without a quorum")
    assert follower.is_producer() is False  # nobody can take the role without a quorum
    with pytest.raises(OrderingUnavailable):
        follower.head_number()

    cluster.start_member(1)
    cluster.start_member(2)
    back_at = time.monotonic()
    cluster.wait_healthy()
    new_producer = wait_for_producer([producer, follower])
    print(f"\nquorum back: {new_producer.current_producer()} produces again "
          f"{time.monotonic() - back_at:.2f} s after the members restarted")
    # A write cut off by the outage may still have been committed (etcd applies what its log
    # held): block 2 is then the one the producer tried; either way every height has one block.
    head = new_producer.head_number()
    assert head in (1, 2)
    if head == 2:
        assert new_producer.get_block_rlp(2) == b"block two without a quorum"
    assert new_producer.append_block(head + 1, b"block after the outage") is True
    for reader in (producer, follower):
        eventually(lambda r=reader: r.get_block_rlp(head + 1) is not None, "the new block readable",
                   reader.wait_for_activity)
        assert reader.get_block_rlp(1) == b"block one"
        assert reader.get_block_rlp(head + 1) == b"block after the outage"
    assert b"tx1" in new_producer.take_pending(10)  # submitted before the outage, never acknowledged


def test_a_watch_that_resumes_past_compaction_reads_again(etcd_cluster: EtcdCluster, open_etcd: OpenEtcd):
    urls = etcd_cluster.client_urls
    producer, follower = open_etcd(urls, "producer"), open_etcd(urls, "follower")
    assert producer.is_producer()
    for number in range(1, 6):
        assert producer.append_block(number, f"block {number}".encode()) is True
    eventually(lambda: follower.get_block_rlp(5) is not None, "block 5 readable", follower.wait_for_activity)
    revision = int(httpx.post(urls[0] + "/v3/kv/range", json={"key": "AA=="}, timeout=5).json()["header"]["revision"])
    httpx.post(urls[0] + "/v3/kv/compaction", json={"revision": str(revision)}, timeout=5).raise_for_status()
    reads = follower.resyncs
    follower._restart_watch(1)  # as after a long disconnection: revision 2 onwards is compacted away
    eventually(lambda: follower.resyncs > reads, "the follower re-reads after the compacted revision",
               follower.wait_for_activity)
    assert producer.append_block(6, b"block 6") is True
    eventually(lambda: follower.get_block_rlp(6) is not None, "block 6 through the new watch",
               follower.wait_for_activity)
    assert [follower.get_block_rlp(n) for n in range(1, 7)] == [f"block {n}".encode() for n in range(1, 7)]


def test_a_submission_wakes_the_producer_and_not_the_followers(etcd_cluster: EtcdCluster, open_etcd: OpenEtcd):
    """Followers have nothing to do with a new submission: waking them for each one cost every
    node a loop round per submission batch. Blocks still wake everyone."""
    producer, follower, sender = (open_etcd(etcd_cluster.client_urls, name)
                                  for name in ("producer", "follower", "sender"))
    assert producer.is_producer() and not follower.is_producer()
    for instance in (producer, follower, sender):
        eventually(lambda i=instance: i._synced, "every watch is connected")  # type: ignore[misc]
        instance._activity.clear()
    sender.submit([b"tx-from-elsewhere"])
    revision = int(sender._gateway.call("/v3/kv/range", {"key": base64.b64encode(b"x").decode()})["header"]["revision"])
    eventually(lambda: (follower._watch_rev or 0) >= revision and (producer._watch_rev or 0) >= revision,
               "both watches delivered the submission")
    assert producer._activity.is_set()
    assert not follower._activity.is_set()
    assert producer.take_pending(10) == [b"tx-from-elsewhere"] and producer.append_block(1, b"block one")
    eventually(follower._activity.is_set, "a block wakes the follower")
