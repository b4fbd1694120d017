"""Divergence detection end to end (PROTOCOL.md §12) on one 4-node network: A = node1, B = node2,
C = node3 hold a private SimpleStorage; D = node4 is no party.

Parties agreeing report nothing. Then B's private storage of the contract is corrupted on disk
(node2 stopped, one slot changed in its private state trie with the engine's own store classes,
node2 started again), and the next block touching the contract is reported by A, B and C
(JSON-RPC `privnet_privateStateDivergences`, the nodes' logs, `privnet status`) naming the
contract, the block and the parties on each side; D reports nothing and never holds a commitment.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth.db.account import AccountDB
from eth.db.chain import ChainDB
from eth_utils import to_canonical_address

from devnet.solc import Artifact
from engine.db import schema
from engine.db.store import NodeDatabase
from tests.helpers.network import (
    POLL_S,
    WAIT_S,
    E2ENetwork,
    NodeHandle,
    calldata,
    privnet,
    running_network,
    send_private,
)
from tests.helpers.privacy import deploy_storage

pytestmark = pytest.mark.e2e

OWNER_SLOT = 1  # SimpleStorage's `owner`: `set` never writes it, so a corrupted value stays


@pytest.fixture(scope="module")
def divnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("divergence"), "local") as network:
        yield network


@pytest.fixture(scope="module")
def storage(divnet: E2ENetwork, compiled_contracts: dict[str, Artifact]) -> str:
    """SimpleStorage deployed by A for B and C; its address."""
    a, b, c, _ = divnet.nodes
    return deploy_storage(divnet, compiled_contracts["SimpleStorage"].bytecode, a, [b, c]).contract


def divergences(node: NodeHandle, from_block: int = 0) -> list[dict[str, Any]]:
    return list(node.rpc("privnet_privateStateDivergences", hex(from_block)))


def manager_rows(node: NodeHandle, table: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{node.manager_db}?mode=ro", uri=True, timeout=30)
    try:
        return list(conn.execute(f"SELECT * FROM {table}"))
    finally:
        conn.close()


def commitment_parties(node: NodeHandle, block_number: int, contract: str) -> set[bytes]:
    """The party keys whose commitment for (block, contract) this node's manager holds."""
    conn = sqlite3.connect(f"file:{node.manager_db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT party FROM state_commitment WHERE block_number = ? AND contract = ?",
                            (block_number, to_canonical_address(contract)))
        return {bytes(r[0]) for r in rows}
    finally:
        conn.close()


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(POLL_S)


def set_value(net: E2ENetwork, contract: str, value: int) -> int:
    """A sends set(value) privately to B and C; the block it landed in (once every node has it)."""
    a, b, c, _ = net.nodes
    tx_hash = send_private(a, calldata("set(uint256)", value), [b.key, c.key], to=contract, gas=200_000)
    receipts = net.wait_receipts(tx_hash)
    assert all(receipts[n.name]["status"] == "0x1" for n in (a, b, c))
    return int(receipts["node1"]["blockNumber"], 16)


def corrupt_private_storage(chain_db: Path, contract: str, slot: int, value: int) -> None:
    """Change one slot of `contract` in a stopped node's private state at its head, on disk: the
    node's own database class, py-evm's account trie, the node's own key for the private root."""
    database = NodeDatabase(chain_db)
    try:
        head = ChainDB(database.atomic).get_canonical_head()
        key = schema.make_private_state_root_key(head.hash)
        accounts = AccountDB(database.atomic, bytes(database.atomic[key]))
        accounts.set_storage(to_canonical_address(contract), slot, value)
        accounts.persist()
        database.atomic[key] = accounts.state_root
        database.commit()
    finally:
        database.close()


def test_agreeing_parties_exchange_commitments_and_report_no_divergence(divnet: E2ENetwork, storage: str) -> None:
    a, b, c, d = divnet.nodes
    block = set_value(divnet, storage, 6)
    expected = {base64.b64decode(n.key) for n in (a, b, c)}
    for node in (a, b, c):  # every party ends up with every party's commitment for that block
        wait_for(f"{node.name} holds A's, B's and C's commitments for block #{block}",
                 lambda node=node: commitment_parties(node, block, storage) == expected)
    for node in divnet.nodes:
        assert divergences(node) == []
    bad = a.rpc.raw("privnet_privateStateDivergences", "yesterday")["error"]
    assert bad["code"] == -32602 and "unknown block tag" in bad["message"]
    assert manager_rows(d, "state_commitment") == [] and manager_rows(d, "state_commitment_outbox") == []
    status = privnet(divnet.directory, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "divergences" in status.stdout and "private state divergence" not in status.stdout


def test_corrupted_private_storage_is_reported_at_the_next_block_touching_it(divnet: E2ENetwork, storage: str) -> None:
    a, b, c, d = divnet.nodes
    divnet.local.stop_process("node2")
    corrupt_private_storage(b.chain_db, storage, OWNER_SLOT, 0xBAD)
    divnet.local.start_process("node2")
    divnet.wait_in_sync()
    assert b.rpc("eth_getStorageAt", storage, hex(OWNER_SLOT), "latest") == "0x" + (0xBAD).to_bytes(32, "big").hex()
    assert b.rpc("eth_storageRoot", storage) != a.rpc("eth_storageRoot", storage)

    block = set_value(divnet, storage, 7)
    root_ac, root_b = a.rpc("eth_storageRoot", storage), b.rpc("eth_storageRoot", storage)
    assert root_ac == c.rpc("eth_storageRoot", storage) != root_b
    expected_sides = sorted([{"storageRoot": root_ac, "parties": sorted([a.key, c.key])},
                             {"storageRoot": root_b, "parties": [b.key]}], key=lambda s: s["parties"])

    def reported(node: NodeHandle) -> list[dict[str, Any]]:
        return [f for f in divergences(node, block)
                if sorted(({"storageRoot": s["storageRoot"], "parties": sorted(s["parties"])} for s in f["sides"]),
                          key=lambda s: s["parties"]) == expected_sides]

    for node in (a, b, c):
        (found,) = wait_for(f"{node.name} reports the divergence at block #{block}", lambda node=node: reported(node))
        assert int(found["blockNumber"], 16) == block
        assert found["blockHash"] == node.rpc("eth_getBlockByNumber", hex(block), False)["hash"]
        assert found["contract"].lower() == storage.lower()
        assert found["localParties"] == [node.key]
    assert divergences(d) == [] and divergences(d, block) == []
    assert manager_rows(d, "state_commitment") == [] and manager_rows(d, "state_divergence") == []

    # the nodes' logs name it too (the reporter asks its manager after each delivery)
    for node in (a, b, c):
        wait_for(f"{node.name}'s log names the divergence",
                 lambda node=node: any("private state divergence" in line and f"#{block}" in line
                                       and storage.lower()[2:] in line.lower() and b.key in line
                                       for line in node.log.read_text().splitlines()))
    assert "private state divergence" not in d.log.read_text()

    status = privnet(divnet.directory, "status")
    lines = [line for line in status.stdout.splitlines() if "private state divergence" in line]
    assert {line.split(":")[0] for line in lines} == {"node1", "node2", "node3"}, status.stdout
    assert all(f"#{block}" in line and b.key in line and a.key in line for line in lines)
