"""Snapshot and revert of a whole running network (devnet/snapshots.py over every node's evm_snapshot /
evm_revert) on one 4-node `privnet up` network: A = node1 and B = node2 share a private SimpleStorage;
C = node3 and D = node4 are no party to it.

After a revert every node and every manager is exactly as at the snapshot: head and block hashes,
storage roots, balances, nonces, code, and the payloads each manager stores; the non-party still sees
nothing; and the chain goes on from the snapshot's height on every node.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from devnet.snapshots import NetworkSnapshot, SnapshotError, revert_network, snapshot_network
from devnet.solc import Artifact
from tests.helpers.network import E2ENetwork, NodeHandle, calldata, hx, running_network, selector, send_private
from tests.helpers.privacy import ExpectedLog, PrivateTx, assert_private_to, deploy_storage, random_value

pytestmark = pytest.mark.e2e

GET = hx(selector("get()"))


@pytest.fixture(scope="module")
def snapnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("snapshots"), "local") as network:
        yield network


def stored_payloads(node: NodeHandle) -> dict[str, set[bytes]]:
    """The payload hashes in the node's manager's store, per table (read beside the process)."""
    with closing(sqlite3.connect(f"file:{node.manager_db}?mode=ro", uri=True, timeout=30)) as conn:
        return {table: {bytes(r[0]) for r in conn.execute(f"SELECT hash FROM {table}")}
                for table in ("encrypted_transaction", "encrypted_raw_transaction")}


def world(net: E2ENetwork, contract: str) -> dict[str, dict[str, Any]]:
    """What every node shows: its chain, the contract as it sees it, every account, its manager's store."""
    accounts = [n.address for n in net.nodes]
    seen = {}
    for node in net.nodes:
        head = node.block_number()
        seen[node.name] = {
            "head": head,
            "hashes": [node.rpc("eth_getBlockByNumber", hex(n), False)["hash"] for n in range(head + 1)],
            "storage_root": node.rpc("eth_storageRoot", contract),
            "code": node.rpc("eth_getCode", contract, "latest"),
            "get": node.rpc("eth_call", {"to": contract, "data": GET}, "latest"),
            "balances": [node.rpc("eth_getBalance", a, "latest") for a in accounts],
            "nonces": [node.rpc("eth_getTransactionCount", a, "latest") for a in accounts],
            "payloads": stored_payloads(node),
        }
    return seen


def set_value(net: E2ENetwork, sender: NodeHandle, recipients: list[NodeHandle], contract: str,
              value: int) -> dict[str, dict[str, Any]]:
    tx_hash = send_private(sender, calldata("set(uint256)", value), [r.key for r in recipients], to=contract)
    return net.wait_receipts(tx_hash)


def test_a_network_revert_restores_every_node_and_every_manager_exactly(
        snapnet: E2ENetwork, compiled_contracts: dict[str, Artifact]) -> None:
    net = snapnet
    a, b, c, d = net.nodes
    bytecode = compiled_contracts["SimpleStorage"].bytecode
    deployed = deploy_storage(net, bytecode, a, [b])
    net.wait_in_sync()
    before = world(net, deployed.contract)
    assert before["node1"]["code"] != "0x" and before["node3"]["code"] == "0x"

    snapshot = snapshot_network(net.directory)
    assert snapshot.height == before["node1"]["head"] == before["node4"]["head"]
    assert set(snapshot.ids) == {"node1", "node2", "node3", "node4"}

    # After the snapshot: A and B's private state moves, value moves publicly, C and D store a new
    # private payload of their own, and B's manager stores a raw payload.
    set_value(net, a, [b], deployed.contract, random_value())
    transfer = a.rpc("eth_sendTransaction", {"from": a.address, "to": d.address, "value": hex(10**18),
                                             "gas": hex(21_000)})
    net.wait_receipts(transfer)
    other = deploy_storage(net, bytecode, c, [d])
    stored = b.manager_post("/storeraw", {"payload": "c25hcHNob3QgdGVzdA=="})
    assert stored.status_code == 200, stored.text
    moved_head = net.wait_in_sync()
    moved = world(net, deployed.contract)
    for name in ("node1", "node2"):
        assert moved[name]["storage_root"] != before[name]["storage_root"]
        assert moved[name]["get"] != before[name]["get"]
    for name in moved:
        assert moved[name]["head"] > before[name]["head"]
        assert moved[name]["balances"] != before[name]["balances"]
        assert moved[name]["nonces"] != before[name]["nonces"]
    for name in ("node2", "node3", "node4"):
        assert moved[name]["payloads"] != before[name]["payloads"]

    revert_network(net.directory, snapshot)

    assert world(net, deployed.contract) == before
    for node in net.nodes:  # what came after the snapshot is unknown everywhere, on every level
        assert node.rpc("eth_getTransactionReceipt", transfer) is None
        assert node.rpc("eth_getTransactionReceipt", other.tx_hash) is None
        assert node.rpc("eth_getCode", other.contract, "latest") == "0x"
        assert node.pending_nonce(a.address) == int(before[node.name]["nonces"][0], 16)
    assert len(net.ordered_blocks()) == snapshot.height
    # The parties see the contract as at the snapshot; C and D (node3 and node4) still see nothing
    # of it: not over JSON-RPC, not from their managers or stores, not in any bytes.
    assert_private_to(net, deployed, [a, b])

    # The chain goes on from the snapshot's height, the same on every node, nonces reused.
    value = random_value()
    receipts = set_value(net, a, [b], deployed.contract, value)
    numbers = {int(r["blockNumber"], 16) for r in receipts.values()}
    assert len(numbers) == 1 and snapshot.height < numbers.pop() < moved_head  # heights reused
    assert len({r["blockHash"] for r in receipts.values()}) == 1
    for node in (a, b):
        assert node.rpc("eth_call", {"to": deployed.contract, "data": GET}, "latest") == "0x" + value.to_bytes(
            32, "big").hex()
    for node in (c, d):
        assert node.rpc("eth_getCode", deployed.contract, "latest") == "0x"
        assert node.rpc("eth_call", {"to": deployed.contract, "data": GET}, "latest") == "0x"
    after_head = net.wait_in_sync()
    assert len({tuple(world_hashes(n, after_head)) for n in net.nodes}) == 1
    old = deployed.storage[0]  # the value at the snapshot: what the new transaction's event reports
    assert_private_to(net, PrivateTx(receipts["node1"]["transactionHash"], calldata("set(uint256)", value),
                                     deployed.contract, storage={0: value},
                                     logs=(ExpectedLog.value_changed(deployed.contract, a.address, old, value),)),
                      [a, b])

    # A snapshot is consumed by its revert: a second one answers false on every node.
    for node in net.nodes:
        assert node.rpc("evm_revert", snapshot.ids[node.name]) is False
    with pytest.raises(SnapshotError, match="node1: evm_revert\\(0x1\\) answered false"):
        revert_network(net.directory, snapshot)


def world_hashes(node: NodeHandle, head: int) -> list[str]:
    return [node.rpc("eth_getBlockByNumber", hex(n), False)["hash"] for n in range(head + 1)]


def test_a_revert_to_an_earlier_snapshot_after_a_later_one_and_unknown_ids(snapnet: E2ENetwork) -> None:
    net = snapnet
    a, _, _, d = net.nodes
    first = snapshot_network(net.directory)
    net.wait_receipts(a.rpc("eth_sendTransaction", {"from": a.address, "to": d.address, "value": "0x1",
                                                    "gas": hex(21_000)}))
    second = snapshot_network(net.directory)
    assert second.height > first.height
    revert_network(net.directory, first)  # consumes `second` too (anvil's rule)
    assert {n.block_number() for n in net.nodes} == {first.height}
    with pytest.raises(SnapshotError, match="answered false"):
        revert_network(net.directory, second)
    with pytest.raises(SnapshotError, match="no id for node4"):
        revert_network(net.directory, NetworkSnapshot(first.height, {n: i for n, i in first.ids.items()
                                                                     if n != "node4"}))
