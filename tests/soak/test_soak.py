"""A soak in the style of LFDT Paladin's resilience test, on the etcd ordering service.

About 10 private transactions a second for PRIVNET_SOAK_MINUTES (10 by default) on a 4-node
network; every 30 s a random node or manager is SIGKILLed and brought back with
`privnet start`. Then: every acknowledged transaction mined within 5 minutes of its
acknowledgement, none lost, every node on the same chain, and each pair's private contract
holding the same value at both parties: its initial value plus the acknowledged add(1)s.

Run with `make soak` (CI runs it after `make test`); it is not part of `make test`.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from devnet.network import LocalNetwork
from devnet.solc import Artifact
from tests.helpers.network import E2ENetwork, NodeHandle, RpcError, calldata, privnet, require_etcd, selector
from tests.helpers.privacy import deploy_storage

pytestmark = [pytest.mark.soak, pytest.mark.e2e, pytest.mark.slow]

MINUTES = float(os.environ.get("PRIVNET_SOAK_MINUTES", "10"))
RATE_PER_S = 10.0
KILL_EVERY_S = 30.0
MINED_WITHIN_S = 300
INITIAL = 2**255 + 1000  # deploy_storage wants a value with its top bit set (a secret)
ADD_ONE = calldata("add(uint256)", 1)
GET = selector("get()")


@dataclass
class Acknowledged:
    tx_hash: str
    at: float  # wall-clock seconds (block timestamps are wall-clock seconds too)
    pair: tuple[str, str]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    require_etcd("etcd")
    local = LocalNetwork(tmp_path_factory.mktemp("soak"), nodes=4, ordering="etcd")
    local.start(detach=True)  # processes of their own session: `privnet start` brings them back
    network = E2ENetwork(local)
    try:
        yield network
    finally:
        privnet(network.directory, "down")
        network.close()


@dataclass
class Outcomes:
    acknowledged: list[Acknowledged]
    refused: list[str]  # a JSON-RPC error: nothing was submitted
    unknown: list[tuple[str, str]]  # the connection broke (process killed): submitted or not, the client can't tell
    lock: threading.Lock


def sender_loop(net: E2ENetwork, sender: NodeHandle, contracts: dict[tuple[str, str], str], stop: threading.Event,
                out: Outcomes) -> None:
    """One node's share of the load: add(1) to its contract with a random other node."""
    rng = random.Random(sender.name)
    others = [n for n in net.nodes if n is not sender]
    interval = len(net.nodes) / RATE_PER_S
    next_at = time.monotonic()
    while not stop.is_set():
        party = rng.choice(others)
        pair = (sender.name, party.name)
        request = {"from": sender.address, "to": contracts[pair], "data": "0x" + ADD_ONE.hex(),
                   "gas": hex(200_000), "privateFor": [party.key]}
        try:
            tx_hash = str(sender.rpc("eth_sendTransaction", request))
            with out.lock:
                out.acknowledged.append(Acknowledged(tx_hash, time.time(), pair))
        except RpcError as exc:  # e.g. its manager down: refused, not acknowledged
            with out.lock:
                out.refused.append(f"{sender.name}: {exc}")
        except httpx.ConnectError as exc:  # the node is down: nothing was sent
            with out.lock:
                out.refused.append(f"{sender.name}: {exc}")
        except (httpx.HTTPError, ValueError):
            with out.lock:
                out.unknown.append(pair)
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))


def test_soak_with_a_process_killed_every_30_seconds(net: E2ENetwork, contract: Callable[[str], Artifact]):
    bytecode = contract("SimpleStorage").bytecode
    contracts = {(s.name, r.name): deploy_storage(net, bytecode, s, [r], initial=INITIAL).contract
                 for s in net.nodes for r in net.nodes if s is not r}
    out = Outcomes([], [], [], threading.Lock())
    acknowledged = out.acknowledged
    stop = threading.Event()
    senders = [threading.Thread(target=sender_loop, args=(net, n, contracts, stop, out), daemon=True)
               for n in net.nodes]
    for thread in senders:
        thread.start()
    rng = random.Random(20261203)
    killed: list[str] = []
    end = time.monotonic() + MINUTES * 60
    try:
        while time.monotonic() < end:
            stop.wait(min(KILL_EVERY_S, max(0.0, end - time.monotonic())))
            if time.monotonic() >= end:
                break
            victim = rng.choice([n.name for n in net.nodes] + [f"{n.name}-manager" for n in net.nodes])
            killed.append(victim)
            assert privnet(net.directory, "stop", victim, "--kill").returncode == 0
            started = privnet(net.directory, "start", victim)
            assert started.returncode == 0, started.stdout + started.stderr
    finally:
        stop.set()
        for thread in senders:
            thread.join(timeout=120)

    print(f"\nsoak: {MINUTES:g} min, {len(acknowledged)} acknowledged, {len(out.refused)} refused and "
          f"{len(out.unknown)} cut off while a process was down; killed {killed}")
    assert acknowledged, "nothing was acknowledged"
    block_times: dict[str, int] = {}
    for ack in acknowledged:
        receipts = net.wait_receipts(ack.tx_hash)  # on every node: none lost
        block_hashes = {r["blockHash"] for r in receipts.values()}
        assert len(block_hashes) == 1, (ack.tx_hash, receipts)
        block_hash = block_hashes.pop()
        if block_hash not in block_times:
            block_times[block_hash] = int(net.nodes[0].rpc("eth_getBlockByHash", block_hash, False)["timestamp"], 16)
        assert block_times[block_hash] - int(ack.at) <= MINED_WITHIN_S, f"{ack.tx_hash} mined too late"
        sender = net.node(ack.pair[0])
        assert sender.receipt(ack.tx_hash)["status"] == "0x1", sender.receipt(ack.tx_hash)

    head = net.wait_in_sync()
    for number in range(head + 1):
        hashes = {n.rpc("eth_getBlockByNumber", hex(number), False)["hash"] for n in net.nodes}
        assert len(hashes) == 1, f"block #{number} differs between nodes: {hashes}"
    for (s, r), address in contracts.items():
        least = INITIAL + sum(1 for a in acknowledged if a.pair == (s, r))
        most = least + out.unknown.count((s, r))  # a cut-off request may have been submitted
        values = {name: int(net.node(name).rpc("eth_call", {"to": address, "data": "0x" + GET.hex()}, "latest"), 16)
                  for name in (s, r)}
        assert len(set(values.values())) == 1, f"the parties of {s}->{r} diverged: {values}"
        assert least <= values[s] <= most, f"contract of {s}->{r}: {values[s]}, expected {least}..{most}"
