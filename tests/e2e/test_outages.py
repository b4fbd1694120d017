"""Managers and whole networks going down and coming back, on a network of this module's own
(these tests stop and restart processes). A = node1 sends; B and C are chosen among the nodes
that do not hold the ordering service's producer lock, so the outage is B's or C's alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devnet.solc import Artifact
from tests.helpers.network import (
    POLL_S,
    WAIT_S,
    E2ENetwork,
    NodeHandle,
    calldata,
    hx,
    init_code,
    running_network,
    selector,
    send_private,
    send_public,
    word,
)
from tests.helpers.privacy import (
    ExpectedLog,
    PrivateTx,
    assert_private_to,
    deploy_storage,
    random_value,
    secret_bytes,
)

pytestmark = pytest.mark.e2e

GET = selector("get()")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("e2e-outages")) as network:
        yield network


def roles(net: E2ENetwork) -> tuple[NodeHandle, NodeHandle, NodeHandle, NodeHandle]:
    """(A, B, C, D): A = node1; B and C are never the block producer (a producer whose manager goes
    down hands its role over: that case has its own test below)."""
    producer = net.producer()
    assert producer is not None, "no node holds the producer lock"
    a = net.nodes[0]
    others = sorted(net.nodes[1:], key=lambda n: n.name == producer)  # the producer, if among them, last
    return a, others[0], others[1], others[2]


def wait_for_log_line(node: NodeHandle, offset: int, needle: str) -> str:
    """The first line containing `needle` that `node`'s log gained after byte `offset`."""
    deadline = time.monotonic() + WAIT_S
    while True:
        with node.log.open("rb") as log:
            log.seek(offset)
            for line in log.read().decode(errors="replace").splitlines():
                if needle in line:
                    return line
        if time.monotonic() > deadline:
            raise AssertionError(f"{node}'s log has no line with {needle!r}")
        time.sleep(POLL_S)


def test_send_while_a_recipients_manager_is_down_fails_cleanly(net: E2ENetwork,
                                                               contract: Callable[[str], Artifact]) -> None:
    a, _, c, _ = roles(net)
    nonce, rows = a.pending_nonce(), a.manager_row_count()
    net.local.stop_process(f"{c.name}-manager")
    try:
        answer = a.rpc.raw("eth_sendTransaction", {
            "from": a.address, "gas": hex(3_000_000), "privateFor": [c.key],
            "data": hx(init_code(contract("SimpleStorage").bytecode, ["uint256"], [random_value()]))})
        assert "error" in answer, f"the send succeeded with C's manager down: {answer}"
        error = answer["error"]
        # GoQuorum's form for a manager's answer (PROTOCOL.md §9), naming the unreachable peer
        assert error["code"] == -32000
        assert error["message"].startswith("503 status:"), error
        assert c.p2p_url in error["message"] and "unavailable" in error["message"], error
        # nothing submitted, nothing stored by A's manager
        assert a.pending_nonce() == nonce
        assert a.manager_row_count() == rows
    finally:
        net.local.start_process(f"{c.name}-manager")
    # with C's manager back, the same kind of send goes through, privately
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [c])
    assert a.pending_nonce() == nonce + 1
    assert_private_to(net, deployed, [a, c])


def test_node_stops_importing_while_its_manager_is_down_and_catches_up(
        net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    """B's manager is down while a private transaction B is NOT a party to (A -> C) is imported:
    B must not take the outage for "not a party". It stops importing, says so in its log, and
    resumes when its manager is back; then A and B go on with identical private state."""
    a, b, c, _ = roles(net)
    bytecode = contract("SimpleStorage").bytecode
    first = random_value()
    shared = deploy_storage(net, bytecode, a, [b], first)

    log_offset = b.log.stat().st_size
    net.local.stop_process(f"{b.name}-manager")
    try:
        to_c = deploy_storage(net, bytecode, a, [c], wait_for=[a, c])  # B cannot import it
        block = int(a.rpc("eth_getTransactionReceipt", to_c.tx_hash)["blockNumber"], 16)
        line = wait_for_log_line(b, log_offset, "block import stopped")
        assert f"#{block}" in line and b.q2t_url in line and "unavailable" in line, line
        assert b.block_number() == block - 1, "B imported past its manager's outage"
        assert a.block_number() >= block
        assert b.receipt(to_c.tx_hash) is None, "B treated its manager's outage as 'not a party'"
    finally:
        net.local.start_process(f"{b.name}-manager")

    receipt = b.wait_receipt(to_c.tx_hash)
    assert (receipt["status"], receipt["logs"]) == ("0x1", [])
    net.wait_in_sync()
    assert_private_to(net, to_c, [a, c])  # B imported it as the non-party it is

    second = random_value()
    payload = calldata("set(uint256)", second)
    tx_hash = send_private(a, payload, [b.key], to=shared.contract, gas=200_000)
    net.wait_receipts(tx_hash)
    assert_private_to(net, PrivateTx(
        tx_hash, payload, shared.contract, storage={0: second, 1: int(a.address, 16)},
        call=(GET, second.to_bytes(32, "big")),
        logs=(ExpectedLog.value_changed(shared.contract, a.address, first, second),),
        secrets=(secret_bytes(second), secret_bytes(first))), [a, b])
    for slot in range(3):
        assert (a.rpc("eth_getStorageAt", shared.contract, hex(slot), "latest")
                == b.rpc("eth_getStorageAt", shared.contract, hex(slot), "latest"))
    assert a.rpc("eth_storageRoot", shared.contract) == b.rpc("eth_storageRoot", shared.contract)


def wait_for_new_producer(net: E2ENetwork, old: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while True:
        current = net.producer()
        if current is not None and current != old:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"no node took over from {old}")
        time.sleep(POLL_S)


def test_a_producer_whose_manager_is_down_hands_over_and_catches_up(
        net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    """GoQuorum's node exits when its manager is gone; ours resigns as producer, hands its pool
    over and stops importing, so the network goes on; with its manager back, it catches up."""
    old = net.producer()
    assert old is not None
    producer = net.node(old)
    sender = next(n for n in net.nodes if n.name != old)
    recipient = next(n for n in net.nodes if n.name not in (old, sender.name))
    bytecode = contract("SimpleStorage").bytecode
    log_offset = producer.log.stat().st_size
    net.local.stop_process(f"{old}-manager")
    try:
        # The producer must ask its own manager about this transaction before it can build a block.
        deployed = deploy_storage(net, bytecode, sender, [recipient], wait_for=[sender, recipient])
        wait_for_log_line(producer, log_offset, "resigned as block producer")
        assert wait_for_new_producer(net, old) != old
        stalled_at = producer.block_number()
        public_hash = send_public(sender, init_code(bytecode, ["uint256"], [random_value()]))
        net.wait_receipts(public_hash, [sender, recipient])  # the network goes on without it
        assert producer.block_number() == stalled_at
        assert producer.receipt(deployed.tx_hash) is None, "the outage was taken for 'not a party'"
    finally:
        net.local.start_process(f"{old}-manager")
    net.wait_receipts(public_hash)
    net.wait_in_sync()
    assert_private_to(net, deployed, [sender, recipient])


def snapshot(net: E2ENetwork, addresses: list[str]) -> dict[str, Any]:
    """What each node serves for `addresses`: code, storage, get(), storage root."""
    seen: dict[str, Any] = {}
    for node in net.nodes:
        for address in addresses:
            seen[f"{node}/{address}"] = (
                node.rpc("eth_getCode", address, "latest"),
                [node.rpc("eth_getStorageAt", address, hex(slot), "latest") for slot in range(3)],
                node.rpc("eth_call", {"to": address, "data": hx(GET)}, "latest"),
                node.rpc("eth_storageRoot", address),
            )
    return seen


def test_network_down_and_up_keeps_public_and_private_state(net: E2ENetwork,
                                                            contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    artifact = contract("SimpleStorage")
    public_value = random_value()
    public_hash = send_public(d, init_code(artifact.bytecode, ["uint256"], [public_value]))
    public = net.wait_receipts(public_hash)[d.name]["contractAddress"]
    first = random_value()
    private = deploy_storage(net, artifact.bytecode, a, [b], first)
    head = net.wait_in_sync()
    before = snapshot(net, [public, private.contract])
    head_hash = a.rpc("eth_getBlockByNumber", hex(head), False)["hash"]
    # the snapshot is the pair we expect: public everywhere, private on A and B only
    assert {before[f"{n}/{public}"][2] for n in net.nodes} == {word(public_value)}
    assert [before[f"{n}/{private.contract}"][2] for n in net.nodes] == [word(first), word(first), "0x", "0x"]

    net.restart()

    for node in net.nodes:
        node.wait_block(head)
        assert node.rpc("eth_getBlockByNumber", hex(head), False)["hash"] == head_hash, node
    assert snapshot(net, [public, private.contract]) == before
    assert_private_to(net, private, [a, b])
    # and the private state goes on from where it was: the event reports the value from before
    second = random_value()
    payload = calldata("set(uint256)", second)
    tx_hash = send_private(a, payload, [b.key], to=private.contract, gas=200_000)
    net.wait_receipts(tx_hash)
    assert_private_to(net, PrivateTx(
        tx_hash, payload, private.contract, storage={0: second}, call=(GET, second.to_bytes(32, "big")),
        logs=(ExpectedLog.value_changed(private.contract, a.address, first, second),),
        secrets=(secret_bytes(second), secret_bytes(first))), [a, b])
