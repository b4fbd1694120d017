"""Acknowledged means durable: SIGKILL the block producer right after it acknowledged a batch,
on each ordering service (`local`, `etcd`).

Tried as an operator would: 30 transactions (public and private) sent to the producer, the
producer SIGKILLed as soon as the last hash came back, then started again. Every hash it gave
out must be mined, once, on every node; every height holds one block on every node; the
parties of each private transaction hold the same private state and a non-party holds none.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from devnet.solc import Artifact
from tests.helpers.network import (
    POLL_S,
    WAIT_S,
    E2ENetwork,
    NodeHandle,
    init_code,
    running_network,
    selector,
    send_private,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUNDS = 5
BATCH = 30
GET = selector("get()")


def producer_name(net: E2ENetwork) -> str:
    deadline = time.monotonic() + WAIT_S
    while (name := net.producer()) is None:  # a role between holders is taken within seconds
        assert time.monotonic() < deadline, "no node holds the producer role"
        time.sleep(POLL_S)
    return name


@pytest.fixture(scope="module", params=["local", "etcd"])
def net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    directory = tmp_path_factory.mktemp(f"e2e-durability-{request.param}")
    with running_network(directory, request.param, nodes=3) as network:
        yield network


def send_batch(producer: NodeHandle, party: NodeHandle, bytecode: str, round_no: int) -> tuple[list[str], list[str]]:
    """BATCH transactions from the producer's account, half public transfers, half private
    deployments privateFor `party`; the hashes it acknowledged (public, private)."""
    public, private = [], []
    for i in range(BATCH):
        if i % 2:
            payload = init_code(bytecode, ["uint256"], [round_no * 1000 + i])
            private.append(send_private(producer, payload, [party.key], gas=1_000_000))
        else:
            recipient = "0x" + os.urandom(20).hex()
            public.append(producer.rpc("eth_sendTransaction", {"from": producer.address, "to": recipient,
                                                               "value": hex(1), "gas": hex(21_000)}))
    return public, private


def test_sigkill_the_producer_right_after_it_acknowledged_loses_nothing(
        net: E2ENetwork, contract: Callable[[str], Artifact]):
    bytecode = contract("SimpleStorage").bytecode
    for round_no in range(ROUNDS):
        name = producer_name(net)
        producer = net.node(name)
        party, outsider = [n for n in net.nodes if n is not producer]
        public, private = send_batch(producer, party, bytecode, round_no)
        net.local.stop_process(name, signal.SIGKILL)  # right after the last acknowledgement
        net.local.start_process(name)

        for tx_hash in public + private:
            receipts = net.wait_receipts(tx_hash)
            assert len({r["blockHash"] for r in receipts.values()}) == 1, (tx_hash, receipts)
        head = net.wait_in_sync()
        for number in range(head + 1):
            hashes = {n.name: n.rpc("eth_getBlockByNumber", hex(number), False)["hash"] for n in net.nodes}
            assert len(set(hashes.values())) == 1, f"round {round_no}: block #{number} differs: {hashes}"
        for i, tx_hash in enumerate(private):
            expected = (round_no * 1000 + 2 * i + 1).to_bytes(32, "big").hex()
            sender_view = producer.receipt(tx_hash)
            party_view = party.receipt(tx_hash)
            assert sender_view["status"] == party_view["status"] == "0x1", (sender_view, party_view)
            address = party_view["contractAddress"]
            assert address == sender_view["contractAddress"] and address is not None
            for holder in (producer, party):
                assert holder.rpc("eth_call", {"to": address, "data": "0x" + GET.hex()}, "latest") == "0x" + expected
            assert outsider.rpc("eth_getCode", address, "latest") == "0x"  # a non-party holds nothing
            assert outsider.rpc("eth_call", {"to": address, "data": "0x" + GET.hex()}, "latest") == "0x"
