"""`privnet recover NODE` on a network of this module's own (its tests stop, wipe and restart
processes): a node whose manager lost its database and whose private state was deleted gets
both back, and holds what the other parties hold. A = node1, B = node2, C = node3, D = node4.

"B's private state" is what the node keeps of it beside the public chain in its database: the
private state root of every block, the private receipts and the contracts' privacy metadata
(engine/db/schema.py `private_key_prefixes`); without them B serves no private state at all.
"""

from __future__ import annotations

import base64
import sqlite3
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from devnet.recover import check_roots
from devnet.solc import Artifact
from engine.db import schema
from tessera_like.config import load_settings
from tessera_like.payload import decode
from tests.helpers.network import E2ENetwork, NodeHandle, calldata, hx, privnet, running_network, send_private, word
from tests.helpers.privacy import (
    BLANK_ROOT,
    PrivateTx,
    assert_hidden_from,
    assert_private_to,
    deploy_storage,
    marker_key,
    random_value,
)

pytestmark = pytest.mark.e2e

GET = calldata("get()")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("e2e-recovery")) as network:
        yield network


@dataclass
class Contracts:
    ab: PrivateTx  # A–B, deployed by A
    ba: PrivateTx  # A–B, deployed by B (B's manager recovers it as its sender)
    abc: PrivateTx  # A–B–C
    ad: PrivateTx  # A–D
    calls: list[str]  # the later private transactions' hashes

    def of(self, node: NodeHandle, net: E2ENetwork) -> list[PrivateTx]:
        a, b, c, d = net.nodes
        return {a: [self.ab, self.ba, self.abc, self.ad], b: [self.ab, self.ba, self.abc], c: [self.abc],
                d: [self.ad]}[node]


@pytest.fixture(scope="module")
def contracts(net: E2ENetwork, contract: Callable[[str], Artifact]) -> Contracts:
    a, b, c, d = net.nodes
    bytecode = contract("SimpleStorage").bytecode
    ab = deploy_storage(net, bytecode, a, [b])
    ba = deploy_storage(net, bytecode, b, [a])
    abc = deploy_storage(net, bytecode, a, [b, c])
    ad = deploy_storage(net, bytecode, a, [d])
    calls = [send_private(a, calldata("set(uint256)", random_value()), [b.key], to=ab.contract),
             send_private(b, calldata("add(uint256)", 5), [a.key, c.key], to=abc.contract),
             send_private(b, calldata("set(uint256)", random_value()), [a.key], to=ba.contract),
             send_private(a, calldata("set(uint256)", random_value()), [d.key], to=ad.contract)]
    for tx_hash in calls:
        receipts = net.wait_receipts(tx_hash)
        assert all(r["status"] == "0x1" for r in receipts.values()), receipts
    return Contracts(ab, ba, abc, ad, calls)


def view(node: NodeHandle, deployed: Contracts, net: E2ENetwork) -> dict[str, Any]:
    """What `node` answers about its private contracts and transactions (at the latest block)."""
    seen: dict[str, Any] = {}
    for tx in deployed.of(node, net):
        seen[tx.contract] = (node.rpc("eth_call", {"to": tx.contract, "data": hx(GET)}, "latest"),
                             node.rpc("eth_getCode", tx.contract, "latest"),
                             node.rpc("eth_getContractPrivacyMetadata", tx.contract))
        seen[tx.tx_hash] = node.receipt(tx.tx_hash)
    for tx_hash in deployed.calls:
        seen[tx_hash] = node.receipt(tx_hash)
    return seen


def assert_same_roots(net: E2ENetwork, node: NodeHandle, deployed: Contracts) -> None:
    """`node`'s private storage root of each of its contracts equals every other party's, at one block."""
    head = net.wait_in_sync()
    for tx in deployed.of(node, net):
        parties = [n for n in net.nodes if tx in deployed.of(n, net)]
        roots = {n.name: n.rpc("eth_storageRoot", tx.contract, hex(head)) for n in parties}
        assert len(set(roots.values())) == 1, f"{tx.contract} at #{head}: {roots}"
        assert roots[node.name] != BLANK_ROOT, f"{node}: {tx.contract} has empty storage at #{head}"


def as_now(tx: PrivateTx) -> PrivateTx:
    """`tx` for the privacy pair checks once later calls changed its value: the owner slot only."""
    return replace(tx, storage={1: tx.storage[1]}, call=None)


def private_keys(chain_db: Path) -> int:
    with sqlite3.connect(f"file:{chain_db}?mode=ro", uri=True) as conn:
        return sum(conn.execute("SELECT COUNT(*) FROM kv WHERE k >= ? AND k < ?", bounds(p)).fetchone()[0]
                   for p in schema.private_key_prefixes())


def bounds(prefix: bytes) -> tuple[bytes, bytes]:
    return prefix, prefix[:-1] + bytes([prefix[-1] + 1])


def lose_everything_private(net: E2ENetwork, node: NodeHandle, whole_chain: bool = False) -> None:
    """Stop `node` and its manager (as an operator would, `privnet stop`), delete the manager's database
    and the node's private state (or, with `whole_chain`, the node's whole database)."""
    for name in (node.name, f"{node.name}-manager"):
        done = privnet(net.directory, "stop", name)
        assert done.returncode == 0, done.stderr
    assert private_keys(node.chain_db) > 0
    for path in [node.manager_db, *(node.manager_db.with_name(node.manager_db.name + s) for s in ("-wal", "-shm"))]:
        path.unlink(missing_ok=True)
    if whole_chain:
        for suffix in ("", "-wal", "-shm"):
            Path(str(node.chain_db) + suffix).unlink(missing_ok=True)
        return
    with sqlite3.connect(node.chain_db) as conn:
        for prefix in schema.private_key_prefixes():
            conn.execute("DELETE FROM kv WHERE k >= ? AND k < ?", bounds(prefix))
    assert private_keys(node.chain_db) == 0


def recover(net: E2ENetwork, node: NodeHandle) -> str:
    done = privnet(net.directory, "recover", node.name, timeout=600)
    assert done.returncode == 0, f"privnet recover {node.name} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


def test_a_node_that_lost_its_manager_database_and_private_state_recovers_both(
        net: E2ENetwork, contracts: Contracts) -> None:
    a, b, c, _ = net.nodes
    net.wait_in_sync()
    before = view(b, contracts, net)
    rows = b.manager_row_count()
    lose_everything_private(net, b)

    out = recover(net, b)
    assert f"{rows} payloads recovered" in out, out
    assert "recovered: node2's private state root of each of its 3 private contracts equals" in out, out

    assert b.manager_row_count() == rows
    assert_same_roots(net, b, contracts)
    assert view(b, contracts, net) == before  # calls, code, metadata, private receipts as before
    for tx in contracts.of(b, net):
        assert_private_to(net, as_now(tx), [n for n in net.nodes if tx in contracts.of(n, net)])
    # later transactions work, sent by B and to B
    later = [send_private(b, calldata("set(uint256)", value := random_value()), [a.key], to=contracts.ab.contract),
             send_private(a, calldata("add(uint256)", 7), [b.key, c.key], to=contracts.abc.contract)]
    for tx_hash in later:
        assert all(r["status"] == "0x1" for r in net.wait_receipts(tx_hash).values())
    for node in (a, b):
        assert node.rpc("eth_call", {"to": contracts.ab.contract, "data": hx(GET)}, "latest") == word(value)
    assert_same_roots(net, b, contracts)


def test_running_recovery_again_is_harmless(net: E2ENetwork, contracts: Contracts) -> None:
    b = net.nodes[1]
    net.wait_in_sync()
    before, rows = view(b, contracts, net), b.manager_row_count()
    out = recover(net, b)
    assert "0 payloads recovered, 0 completed with more boxes," in out and " 0 refused" in out, out
    assert b.manager_row_count() == rows
    assert view(b, contracts, net) == before
    assert_same_roots(net, b, contracts)


def test_with_a_peer_down_recovery_stops_before_the_replay_and_completes_later(
        net: E2ENetwork, contracts: Contracts) -> None:
    b, c = net.nodes[1], net.nodes[2]
    net.wait_in_sync()
    before = view(b, contracts, net)
    assert privnet(net.directory, "stop", f"{c.name}-manager").returncode == 0
    try:
        lose_everything_private(net, b)
        failed = privnet(net.directory, "recover", b.name, timeout=600)
        assert failed.returncode == 1, failed.stdout
        assert f"error: recovery from {c.p2p_url} failed; node2 is left stopped" in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stdout + failed.stderr
        assert "replayed" not in failed.stdout
        with pytest.raises(httpx.ConnectError):
            b.block_number()
    finally:
        assert privnet(net.directory, "start", f"{c.name}-manager").returncode == 0
    recover(net, b)
    assert view(b, contracts, net) == before
    assert_same_roots(net, b, contracts)


def test_the_check_names_a_contract_whose_root_differs_and_recovery_repairs_it(
        net: E2ENetwork, contracts: Contracts) -> None:
    """B's private state rolled back to before A's `set` on the A–B contract (the roots of the later
    blocks point at an older private state): the check names the contract and the party that
    differs; `privnet recover` makes B whole again."""
    a, b = net.nodes[0], net.nodes[1]
    net.wait_in_sync()
    before = view(b, contracts, net)
    changed = int(a.rpc("eth_getTransactionReceipt", contracts.calls[0])["blockNumber"], 16)
    assert privnet(net.directory, "stop", b.name).returncode == 0
    head = a.block_number() + 2
    hashes = {n: a.rpc("eth_getBlockByNumber", hex(n), False) for n in range(changed - 1, head + 1)}
    with sqlite3.connect(b.chain_db) as conn:
        older = conn.execute("SELECT v FROM kv WHERE k = ?",
                             (schema.make_private_state_root_key(bytes.fromhex(hashes[changed - 1]["hash"][2:])),
                              )).fetchone()[0]
        for block in hashes.values():
            if block is not None:
                key = schema.make_private_state_root_key(bytes.fromhex(block["hash"][2:]))
                conn.execute("UPDATE kv SET v = ? WHERE k = ?", (older, key))
    assert privnet(net.directory, "start", b.name).returncode == 0
    net.wait_in_sync()
    entry = next(e for e in net.spec["nodes"] if e["name"] == b.name)
    block, checks = check_roots(net.spec, entry, [tx.contract for tx in contracts.of(b, net)])
    differing = {c.address: c.mismatched for c in checks if c.mismatched}
    assert contracts.ab.contract in differing and set(differing[contracts.ab.contract]) == {a.name}, differing
    rolled_back = b.rpc("eth_call", {"to": contracts.ab.contract, "data": hx(GET)}, "latest")
    assert rolled_back != before[contracts.ab.contract][0]

    recover(net, b)
    assert view(b, contracts, net) == before
    assert_same_roots(net, b, contracts)


def test_a_non_party_recovers_none_of_the_others_payloads(net: E2ENetwork, contracts: Contracts) -> None:
    a, b, _, d = net.nodes
    net.wait_in_sync()
    rows = d.manager_row_count()  # A–D's creation and call
    lose_everything_private(net, d)
    out = recover(net, d)
    assert f"{rows} payloads recovered" in out and "each of its 1 private contracts" in out, out
    assert d.manager_row_count() == rows == 2
    for tx in (contracts.ab, contracts.ba, contracts.abc):  # A–B's and A–B–C's: none came to D
        key = marker_key(net, tx)
        assert d.manager_transaction(key).status_code == 404
        assert d.manager_rows(key)["encrypted_transaction"] == 0
        assert d.rpc("eth_getQuorumPayload", hx(key)) == "0x"
        assert d.rpc("eth_getCode", tx.contract, "latest") == "0x"
        assert d.rpc("eth_call", {"to": tx.contract, "data": hx(GET)}, "latest") == "0x"
        assert_hidden_from(net, as_now(tx), [d])
    assert d.manager_transaction(marker_key(net, contracts.ad)).status_code == 200  # its own came back
    assert_same_roots(net, d, contracts)
    assert_private_to(net, as_now(contracts.ad), [a, d])


def test_a_node_that_lost_its_whole_database_is_rebuilt_from_the_ordering_service(
        net: E2ENetwork, contracts: Contracts) -> None:
    c = net.nodes[2]
    net.wait_in_sync()
    before = view(c, contracts, net)
    lose_everything_private(net, c, whole_chain=True)
    out = recover(net, c)
    assert "each of its 1 private contracts equals" in out, out
    assert view(c, contracts, net) == before
    assert_same_roots(net, c, contracts)


def test_a_member_cannot_page_through_another_members_payloads(net: E2ENetwork, contracts: Contracts) -> None:
    a, b, c, _ = net.nodes
    settings = load_settings(Path(next(e for e in net.spec["nodes"] if e["name"] == c.name)["manager_config"]))
    tls = settings.tls
    assert tls.enabled and tls.cert_file and tls.key_file and tls.ca_file
    context = ssl.create_default_context(cafile=str(tls.ca_file))
    context.load_cert_chain(str(tls.cert_file), str(tls.key_file))  # node3's own manager certificate
    with httpx.Client(verify=context, timeout=30) as as_c:
        stolen = as_c.post(f"{a.p2p_url}/resend/page", json={"publicKey": b.key, "limit": 100})
        assert stolen.status_code == 403, stolen.text
        assert "is not the verified owner of key" in stolen.json()["error"]
        own = as_c.post(f"{a.p2p_url}/resend/page", json={"publicKey": c.key, "limit": 100})
    assert own.status_code == 200, own.text
    served = {decode(base64.b64decode(p)).hash for p in own.json()["payloads"]}
    assert marker_key(net, contracts.abc) in served  # C is served its own payloads
    assert not served & {marker_key(net, contracts.ab), marker_key(net, contracts.ba)}
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca_file)), timeout=30) as outsider:
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            outsider.post(f"{a.p2p_url}/resend/page", json={"publicKey": b.key})
