"""Two in-process nodes on a real 3-member etcd cluster: the follower forwards, the producer
mines, both agree on every block, and the follower takes over when the producer stops or is
killed (a node process, SIGKILL: only its lease's expiry frees the role)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devnet.etcd import EtcdCluster
from engine.chain.node import Node
from engine.config import NodeSettings, OrderingSettings
from engine.ordering.etcd import EtcdOrdering
from tests.helpers.network import require_etcd
from tests.helpers.servers import free_port
from tests.integration.node.test_shared_ordering import eventually, receipt_on, transfer
from tests.integration.node.test_shared_ordering import (
    test_follower_forwards_producer_mines_and_the_follower_takes_over as shared_ordering_scenario,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def etcd_urls(tmp_path: Path) -> Iterator[list[str]]:
    require_etcd("etcd")
    cluster = EtcdCluster(tmp_path / "etcd")
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def open_node(tmp_path: Path, etcd_urls: list[str]) -> Iterator[Callable[[str], Node]]:
    opened: list[Node] = []

    def open_(name: str) -> Node:
        node = Node.open(NodeSettings(name=name, data_dir=tmp_path / name, chain_id=1337,
                                      ordering=OrderingSettings(kind="etcd", etcd_endpoints=etcd_urls)))
        opened.append(node)
        return node

    yield open_
    for node in opened:
        node.stop()  # a second stop is harmless


def test_follower_forwards_producer_mines_and_the_follower_takes_over(open_node, etcd_urls: list[str]):
    """The scenario of test_shared_ordering (`local`), on etcd: the follower holds the role at the end."""
    shared_ordering_scenario(open_node)
    observer = EtcdOrdering(etcd_urls, 1337, name="observer")
    try:
        assert observer.current_producer() == "follower"
    finally:
        observer.close()


def test_a_killed_producer_node_hands_over_with_every_acknowledged_transaction(tmp_path: Path, etcd_urls: list[str],
                                                                               open_node):
    port = free_port()
    directory = tmp_path / "doomed"
    directory.mkdir()
    config = directory / "node.toml"
    config.write_text(f'name = "doomed"\ndata_dir = "data"\nchain_id = 1337\n'
                      f'[rpc]\nhost = "127.0.0.1"\nport = {port}\n'
                      f'[ordering]\nkind = "etcd"\netcd_endpoints = {json.dumps(etcd_urls)}\n')
    log = (directory / "node.log").open("wb")
    doomed = subprocess.Popen([sys.executable, "-m", "engine", "--config", str(config)], cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert doomed.poll() is None, (directory / "node.log").read_text()
            try:
                httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=2)
                return True
            except httpx.TransportError:
                return False

        eventually(answers, "the producer node answers")
        follower = open_node("follower")
        follower.start()
        eventually(lambda: follower.ordering.current_producer() == "doomed", "the node process produces")
        _, key = follower.dev_accounts[2]
        first = follower.send_raw_transaction(transfer(key, 0, value=1))
        receipt_on(follower, first)

        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        killed_at = time.monotonic()
        # Acknowledged by the follower while nobody produces: durable in etcd, mined by the next producer.
        pending = [follower.send_raw_transaction(transfer(key, n, value=1)) for n in range(1, 6)]
        for tx_hash in pending:
            receipt_on(follower, tx_hash)
        print(f"\nnode failover: mined by the follower {time.monotonic() - killed_at:.2f} s after SIGKILL")
        assert follower.ordering.current_producer() == "follower"
        assert follower.get_nonce(follower.dev_accounts[2][0], "latest") == 6
    finally:
        if doomed.poll() is None:
            doomed.kill()
        doomed.wait()
