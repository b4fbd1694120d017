"""Contract extension end to end (GoQuorum's quorumExtension_*, PROTOCOL.md §11) on one 4-node
network: A = node1, B = node2, C = node3, D = node4.

C is added to an A–B contract: it receives the contract's current state (not its history), sees
what A sees, and later A→B,C transactions reach it; D still sees nothing. Around it, GoQuorum's
refusals: a non-party cannot extend, nobody but the named recipient can accept, the initiator
can cancel, and public or missing contracts cannot be extended.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devnet.solc import Artifact
from tests.helpers.network import (
    WAIT_S,
    E2ENetwork,
    NodeHandle,
    RpcError,
    calldata,
    hx,
    running_network,
    selector,
    send_private,
    send_public,
    word,
)
from tests.helpers.privacy import PrivateTx, assert_hidden_from, deploy_storage, random_value, secret_bytes

pytestmark = pytest.mark.e2e

GET = selector("get()")
ZERO_ADDRESS = "0x" + "00" * 20


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("e2e-extension")) as network:
        yield network


def error_of(node: NodeHandle, method: str, *params: Any) -> str:
    answer = node.rpc.raw(method, *params)
    assert "error" in answer, f"{node}: {method} succeeded: {answer}"
    assert answer["error"]["code"] == -32000, answer
    return str(answer["error"]["message"])


def second_account(net: E2ENetwork, node: NodeHandle) -> str:
    entry = next(e for e in net.spec["nodes"] if e["name"] == node.name)
    return str(entry["accounts"][1]["address"])


def extend(net: E2ENetwork, a: NodeHandle, c: NodeHandle, contract_address: str,
           also: tuple[NodeHandle, ...] = ()) -> str:
    """A extends `contract_address` to C; the management contract's address, once A, C and the
    `also` participants (the contract's other parties under flag 1) have imported it."""
    tx_hash = a.rpc("quorumExtension_extendContract", contract_address, c.key, c.address,
                    {"from": a.address, "privateFor": [c.key]})
    receipts = net.wait_receipts(tx_hash, [a, c, *also])
    assert receipts[a.name]["status"] == "0x1" and receipts[c.name]["status"] == "0x1", receipts
    return str(receipts[a.name]["contractAddress"])


def set_value(net: E2ENetwork, sender: NodeHandle, contract_address: str, value: int,
              recipients: list[NodeHandle]) -> str:
    tx_hash = send_private(sender, calldata("set(uint256)", value), [r.key for r in recipients], to=contract_address)
    for receipt in net.wait_receipts(tx_hash, [sender, *recipients]).values():
        assert receipt["status"] == "0x1", receipt
    net.wait_in_sync()
    return tx_hash


def wait_for_code(node: NodeHandle, address: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while (code := node.rpc("eth_getCode", address, "latest")) == "0x":
        assert time.monotonic() < deadline, f"{node}: no code at {address} (head #{node.block_number()})"
        time.sleep(0.1)
    return str(code)


def view(node: NodeHandle, address: str) -> tuple[str, str, str, str, str]:
    """What a node serves of SimpleStorage at `address`: code, get(), slots 0 and 1, storage root."""
    return (node.rpc("eth_getCode", address, "latest"),
            node.rpc("eth_call", {"to": address, "data": hx(GET)}, "latest"),
            node.rpc("eth_getStorageAt", address, "0x0", "latest"),
            node.rpc("eth_getStorageAt", address, "0x1", "latest"),
            node.rpc("eth_storageRoot", address))


def test_a_new_party_gets_the_current_state_and_later_transactions(
        net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    first, current, later = random_value(), random_value(), random_value()
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b], first)
    set_value(net, a, deployed.contract, current, [b])  # history C never receives

    management = extend(net, a, c, deployed.contract)
    for node in (a, c):
        assert node.rpc("quorumExtension_getExtensionStatus", management) == "ACTIVE"
        [entry] = node.rpc("quorumExtension_activeExtensionContracts")
        assert entry["managementContractAddress"].lower() == management.lower()
        assert entry["contractExtended"].lower() == deployed.contract.lower()
        assert entry["initiator"].lower() == a.address.lower() and entry["recipient"].lower() == c.address.lower()
        assert entry["recipientPtmKey"] == c.key
        assert len(base64.b64decode(entry["creationData"])) == 64
    for node in (b, d):  # standard private: B is no party of the management contract, D of nothing
        assert node.rpc("quorumExtension_activeExtensionContracts") == []
        assert error_of(node, "quorumExtension_getExtensionStatus", management) == "no contract code at given address"
    assert c.rpc("eth_getCode", deployed.contract, "latest") == "0x"  # nothing before C accepts

    # nobody but the named recipient can accept
    assert error_of(a, "quorumExtension_approveExtension", management, True,
                    {"from": a.address, "privateFor": [c.key]}) == "already voted"
    assert error_of(c, "quorumExtension_approveExtension", management, True,
                    {"from": second_account(net, c), "privateFor": [a.key]}) == (
        "account is not acceptor of this extension request")
    for outsider in (b, d):
        assert error_of(outsider, "quorumExtension_approveExtension", management, True,
                        {"from": outsider.address, "privateFor": [a.key]}) == "no contract code at given address"
    assert c.rpc("eth_getCode", deployed.contract, "latest") == "0x"

    approval = c.rpc("quorumExtension_approveExtension", management, True, {"from": c.address, "privateFor": [a.key]})
    assert net.wait_receipts(approval, [a, c])[c.name]["status"] == "0x1"
    assert wait_for_code(c, deployed.contract) == contract("SimpleStorage").deployed_bytecode
    net.wait_in_sync()

    # C sees exactly A's current state: code, call, storage, storage root
    assert view(c, deployed.contract) == view(a, deployed.contract) == view(b, deployed.contract)
    assert c.rpc("eth_call", {"to": deployed.contract, "data": hx(GET)}, "latest") == word(current)
    for node in (a, c):
        assert node.rpc("quorumExtension_getExtensionStatus", management) == "DONE"
        assert node.rpc("quorumExtension_activeExtensionContracts") == []
    assert c.rpc("eth_getContractPrivacyMetadata", deployed.contract)["privacyFlag"] == 0
    # the state, not the history: the creation and the first set() stay unknown to C's manager
    assert c.rpc("eth_getQuorumPayload", hx(bytes.fromhex(
        a.rpc("eth_getTransactionByHash", deployed.tx_hash)["input"][2:]))) == "0x"

    # the shared state travelled through the managers: C and A hold it, D does not
    shared_b64 = a.rpc("eth_call", {"to": management, "data": hx(selector("sharedDataHash()"))}, "latest")
    shared = base64.b64decode(bytes.fromhex(shared_b64[2:])[64:64 + 88])
    assert len(shared) == 64
    assert c.manager_transaction(shared).status_code == 200
    assert d.manager_transaction(shared).status_code == 404
    assert d.rpc("eth_getQuorumPayload", hx(shared)) == "0x"

    # a later A → B, C transaction reaches C
    set_value(net, a, deployed.contract, later, [b, c])
    assert {view(n, deployed.contract) for n in (a, b, c)} == {view(a, deployed.contract)}
    assert c.rpc("eth_call", {"to": deployed.contract, "data": hx(GET)}, "latest") == word(later)

    # D still sees nothing: no code, storage, call result, metadata, payloads, nor the values anywhere
    hidden = PrivateTx(deployed.tx_hash, deployed.payload, deployed.contract, creates=True,
                       storage={0: later, 1: int(a.address, 16)}, call=(GET, word(later)),
                       secrets=tuple(secret_bytes(v) for v in (first, current, later)))
    assert_hidden_from(net, hidden, [d])
    assert d.rpc("quorumExtension_activeExtensionContracts") == []


def test_the_initiator_cancels_and_nobody_else_can(net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b])
    management = extend(net, a, c, deployed.contract)

    # one extension at a time per contract
    assert error_of(a, "quorumExtension_extendContract", deployed.contract, d.key, d.address,
                    {"from": a.address, "privateFor": [d.key]}) == (
        "contract extension in progress for the given contract address")
    # only the creator of the extension cancels
    assert error_of(c, "quorumExtension_cancelExtension", management, {"from": c.address, "privateFor": [a.key]}) == (
        "account is not the creator of this extension request")
    assert error_of(d, "quorumExtension_cancelExtension", management, {"from": d.address, "privateFor": [a.key]}) == (
        "no contract code at given address")

    cancel = a.rpc("quorumExtension_cancelExtension", management, {"from": a.address, "privateFor": [c.key]})
    assert net.wait_receipts(cancel, [a, c])[a.name]["status"] == "0x1"
    for node in (a, c):
        assert node.rpc("quorumExtension_getExtensionStatus", management) == "DONE"
        assert all(e["managementContractAddress"].lower() != management.lower()
                   for e in node.rpc("quorumExtension_activeExtensionContracts"))
    assert error_of(c, "quorumExtension_approveExtension", management, True,
                    {"from": c.address, "privateFor": [a.key]}) == (
        "contract extension process complete. nothing to accept")
    assert error_of(a, "quorumExtension_cancelExtension", management, {"from": a.address, "privateFor": [c.key]}) == (
        "contract extension process complete. nothing to cancel")
    net.wait_in_sync()
    assert c.rpc("eth_getCode", deployed.contract, "latest") == "0x"  # cancelled: C never got the state
    assert_hidden_from(net, deployed, [c, d])


def test_what_cannot_be_extended(net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    a, b, c, d = net.nodes
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b])
    args = {"from": a.address, "privateFor": [c.key]}

    # a non-party has no such private contract
    assert error_of(d, "quorumExtension_extendContract", deployed.contract, c.key, c.address,
                    {"from": d.address, "privateFor": [c.key]}) == (
        "extending a non-existent private contract!!! not allowed")
    assert error_of(a, "quorumExtension_extendContract", "0x" + "42" * 20, c.key, c.address, args) == (
        "extending a non-existent private contract!!! not allowed")
    public_tx = send_public(a, bytes.fromhex(contract("SimpleStorage").bytecode[2:]) + (7).to_bytes(32, "big"))
    public = net.wait_receipts(public_tx, [a])[a.name]["contractAddress"]
    assert error_of(a, "quorumExtension_extendContract", public, c.key, c.address, args) == (
        "extending a public contract!!! not allowed")
    # GoQuorum's argument checks
    assert error_of(a, "quorumExtension_extendContract", deployed.contract, c.key, ZERO_ADDRESS, args) == (
        "invalid recipient address")
    assert error_of(a, "quorumExtension_extendContract", deployed.contract, c.key, a.address, args) == (
        "account accepting the extension cannot be the account initiating extension")
    assert error_of(a, "quorumExtension_extendContract", deployed.contract, "not a key!", c.address,
                    {"from": a.address}) == "invalid new recipient transaction manager key provided"
    assert error_of(a, "quorumExtension_extendContract", deployed.contract, c.key, c.address,
                    {"from": a.address, "privateFor": [d.key]}) == (
        "mismatch between recipient transaction manager key and privateFor argument")
    assert error_of(a, "quorumExtension_extendContract", deployed.contract, c.key, c.address,
                    {"from": a.address, "privateFor": [c.key, d.key]}) == (
        "invalid transaction manager keys given in privateFor argument")
    # a management contract address must hold the management contract
    assert error_of(a, "quorumExtension_getExtensionStatus", deployed.contract) == (
        "not a contract extension management contract")
    # nothing started: no extension anywhere
    for node in net.nodes:
        assert all(e["contractExtended"].lower() != deployed.contract.lower()
                   for e in node.rpc("quorumExtension_activeExtensionContracts"))
    with pytest.raises(RpcError):
        d.rpc("eth_getContractPrivacyMetadata", deployed.contract)


def test_party_protection_contract_records_the_new_participant(
        net: E2ENetwork, contract: Callable[[str], Artifact]) -> None:
    """Flag 1: the management transactions reach every participant; afterwards each party records
    the shared state as the contract's creation payload, so the new party passes the
    affected-contract checks of later flagged transactions, and an outsider still cannot."""
    a, b, c, d = net.nodes
    value, later = random_value(), random_value()
    payload = bytes.fromhex(contract("SimpleStorage").bytecode[2:]) + value.to_bytes(32, "big")
    created = send_private(a, payload, [b.key], privacyFlag=1)
    address = net.wait_receipts(created, [a, b])[a.name]["contractAddress"]

    management = extend(net, a, c, address, also=(b,))
    assert [e["contractExtended"].lower() for e in b.rpc("quorumExtension_activeExtensionContracts")] == [
        address.lower()]  # B is a participant of the management contract too
    approval = c.rpc("quorumExtension_approveExtension", management, True, {"from": c.address, "privateFor": [a.key]})
    net.wait_receipts(approval, [a, b, c])
    wait_for_code(c, address)
    net.wait_in_sync()
    assert {view(n, address) for n in (a, b, c)} == {view(a, address)}
    metadata = {n.name: n.rpc("eth_getContractPrivacyMetadata", address) for n in (a, b, c)}
    assert len({m["creationTxHash"] for m in metadata.values()}) == 1 and metadata[c.name]["privacyFlag"] == 1

    tx_hash = send_private(a, calldata("set(uint256)", later), [b.key, c.key], to=address, privacyFlag=1)
    receipts = net.wait_receipts(tx_hash, [a, b, c])
    assert {r["status"] for r in receipts.values()} == {"0x1"}, receipts
    net.wait_in_sync()
    assert {n.rpc("eth_call", {"to": address, "data": hx(GET)}, "latest") for n in (a, b, c)} == {word(later)}
    assert d.rpc("eth_getCode", address, "latest") == "0x"
    assert d.rpc("quorumExtension_activeExtensionContracts") == []
