"""The etcd ordering service losing members under load: one of three down changes nothing; two
down pause the chain without a fork and lose no acknowledged transaction; restored, it resumes."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from devnet.network import network_status
from tests.helpers.network import E2ENetwork, NodeHandle, RpcError, running_network

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("e2e-etcd-quorum"), "etcd", nodes=3) as network:
        yield network


def transfer(node: NodeHandle) -> str:
    return str(node.rpc("eth_sendTransaction", {"from": node.address, "to": "0x" + os.urandom(20).hex(),
                                                "value": "0x1", "gas": hex(21_000)}))


def assert_one_chain(net: E2ENetwork) -> None:
    head = net.wait_in_sync()
    for number in range(head + 1):
        hashes = {n.rpc("eth_getBlockByNumber", hex(number), False)["hash"] for n in net.nodes}
        assert len(hashes) == 1, f"block #{number} differs between nodes: {hashes}"
    assert len(net.ordered_blocks()) == head, "the ordering service holds one block per height"


def test_one_member_down_changes_nothing_and_it_rejoins(net: E2ENetwork):
    sender = net.nodes[0]
    net.local.stop_process("etcd2", signal.SIGKILL)
    under_load = [transfer(sender) for _ in range(20)]
    for tx_hash in under_load:
        net.wait_receipts(tx_hash)
    net.local.start_process("etcd2")  # returns once the member answers /health
    members = {m["name"]: m["health"] for m in network_status(net.directory)["etcd"]}
    assert members == {"etcd1": "up", "etcd2": "up", "etcd3": "up"}, members
    net.wait_receipts(transfer(sender))
    assert_one_chain(net)


def test_two_members_down_pause_the_chain_without_losing_what_was_acknowledged(net: E2ENetwork):
    sender = net.nodes[1]
    acknowledged = [transfer(sender) for _ in range(20)]
    net.local.stop_process("etcd2", signal.SIGKILL)
    net.local.stop_process("etcd3", signal.SIGKILL)

    with pytest.raises(RpcError, match="ordering service"):
        transfer(sender)  # no quorum: nothing is acknowledged
    heads = [n.block_number() for n in net.nodes]
    with pytest.raises(RpcError, match="ordering service"):
        transfer(net.nodes[2])
    assert [n.block_number() for n in net.nodes] == heads, "a block was appended without a quorum"

    net.local.start_process("etcd2")
    net.local.start_process("etcd3")
    for tx_hash in acknowledged:
        receipts = net.wait_receipts(tx_hash)
        assert len({r["blockHash"] for r in receipts.values()}) == 1
    net.wait_receipts(transfer(sender))  # and new ones are taken again
    assert_one_chain(net)
