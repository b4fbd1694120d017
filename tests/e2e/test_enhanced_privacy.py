"""GoQuorum's enhanced privacy end to end: party protection (1), mandatory recipients (2) and
private state validation (3), on one 4-node network per ordering (A = node1 … D = node4).

Each flag: the allowed case works on every party; each forbidden case is refused when sent,
with GoQuorum's or Tessera's message; a forger that bypasses its own node's checks (payload from
its manager, marker signed by hand) gets a private receipt with status 0 at every party, and
no party's state changes. The scenarios follow GoQuorum's acceptance specs for these flags.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from devnet.solc import Artifact
from tests.helpers.network import (
    E2ENetwork,
    NodeHandle,
    calldata,
    hx,
    init_code,
    selector,
    send_private,
    sign_raw_private,
    word,
)

pytestmark = pytest.mark.e2e

PP, MR, PSV = 1, 2, 3
GET = selector("get()")


def deploy(net: E2ENetwork, artifact: Artifact, sender: NodeHandle, recipients: list[NodeHandle], flag: int,
           arg_type: str, arg: Any, mandatory: list[NodeHandle] | None = None) -> str:
    extra: dict[str, Any] = {"privacyFlag": flag}
    if mandatory is not None:
        extra["mandatoryFor"] = [m.key for m in mandatory]
    tx_hash = send_private(sender, init_code(artifact.bytecode, [arg_type], [arg]), [r.key for r in recipients],
                           **extra)
    receipt = net.wait_receipts(tx_hash)[sender.name]
    address = receipt["contractAddress"]
    assert address is not None and receipt["status"] == "0x1", receipt
    return str(address)


def transact(net: E2ENetwork, sender: NodeHandle, to: str, data: bytes, recipients: list[NodeHandle],
             flag: int, **extra: Any) -> dict[str, dict[str, Any]]:
    tx_hash = send_private(sender, data, [r.key for r in recipients], to=to, privacyFlag=flag, **extra)
    return net.wait_receipts(tx_hash)


def refusal(sender: NodeHandle, to: str, data: bytes, recipients: list[NodeHandle], flag: int,
            **extra: Any) -> str:
    tx: dict[str, Any] = {"from": sender.address, "to": to, "data": hx(data), "gas": hex(3_000_000),
                          "privateFor": [r.key for r in recipients], "privacyFlag": flag, **extra}
    answer = sender.rpc.raw("eth_sendTransaction", tx)
    assert "error" in answer, f"sent: {answer}"
    return str(answer["error"]["message"])


def value(node: NodeHandle, contract: str, signature: str = "get()") -> int:
    answer = node.rpc("eth_call", {"to": contract, "data": hx(selector(signature))}, "latest")
    return int(answer, 16) if answer != "0x" else -1


def roots(nodes: list[NodeHandle], contract: str) -> set[str]:
    return {n.rpc("eth_storageRoot", contract, "latest") for n in nodes}


def forge(net: E2ENetwork, forger: NodeHandle, to: str, data: bytes, recipients: list[NodeHandle], flag: int,
          **metadata: Any) -> dict[str, dict[str, Any]]:
    """A node that skips its own checks: the payload goes straight to its manager (any flag, any
    ACOTHs, any execution hash) and the marker is signed by hand and sent as a raw transaction."""
    body = {"payload": base64.b64encode(data).decode(), "from": forger.key, "to": [r.key for r in recipients],
            "privacyFlag": flag, **metadata}
    sent = forger.manager_post("/send", body)
    assert sent.status_code == 201, sent.text
    key = base64.b64decode(sent.json()["key"])
    raw = sign_raw_private(forger.private_key, forger.pending_nonce(), 3_000_000, to, key)
    return net.wait_receipts(str(forger.rpc("eth_sendRawTransaction", hx(raw))))


def private_status(node: NodeHandle, receipts: dict[str, dict[str, Any]]) -> str:
    return str(receipts[node.name]["status"])


@pytest.fixture(scope="module")
def artifacts(contract: Callable[[str], Artifact]) -> dict[str, Artifact]:
    return {name: contract(name) for name in ("C1", "C2", "C1Factory")}


def test_party_protection_lets_parties_transact_and_nobody_else(net: E2ENetwork,
                                                                  artifacts: dict[str, Artifact]) -> None:
    a, b, c, d = net.nodes
    c1 = deploy(net, artifacts["C1"], a, [b], PP, "uint256", 42)
    for node in (a, b):
        metadata = node.rpc("eth_getContractPrivacyMetadata", c1)
        assert metadata["privacyFlag"] == PP
    receipts = transact(net, b, c1, calldata("set(uint256)", 7), [a], PP)
    assert private_status(a, receipts) == private_status(b, receipts) == "0x1"
    assert value(a, c1) == value(b, c1) == 7

    # A non-party's node has no such contract: refused before anything is sent.
    assert refusal(c, c1, calldata("set(uint256)", 99), [a, b], PP) == "contract not found. cannot transact"
    # A party may not send a standard private transaction to a protected contract.
    message = refusal(a, c1, calldata("set(uint256)", 99), [b], 0)
    assert message == "sent privacy flag doesn't match all affected contract flags"

    before = roots([a, b], c1)
    # A forger who is not a party writes the payload itself: with the flag but no ACOTH it
    # cannot prove it knows the contract, without the flag it breaks the flag rule.
    for flag in (PP, 0):
        receipts = forge(net, c, c1, calldata("set(uint256)", 99), [a, b], flag)
        assert private_status(a, receipts) == private_status(b, receipts) == "0x0"
    assert value(a, c1) == value(b, c1) == 7
    assert roots([a, b], c1) == before and len(before) == 1
    for node in (c, d):
        assert node.rpc("eth_getCode", c1, "latest") == "0x"


def test_private_state_validation_needs_every_party_and_the_same_result(net: E2ENetwork,
                                                                         artifacts: dict[str, Artifact]) -> None:
    a, b, c, d = net.nodes
    c1 = deploy(net, artifacts["C1"], a, [b, c], PSV, "uint256", 40)
    before = roots([a, b, c], c1)
    assert len(before) == 1

    # A → B alone on an A, B, C contract: Tessera's recipients rule, nothing sent, nothing changed.
    message = refusal(a, c1, calldata("set(uint256)", 5), [b], PSV)
    assert "Recipients mismatched for Affected Txn" in message
    assert value(a, c1) == value(b, c1) == value(c, c1) == 40

    receipts = transact(net, a, c1, calldata("set(uint256)", 5), [b, c], PSV)
    assert {private_status(n, receipts) for n in (a, b, c)} == {"0x1"}
    assert value(a, c1) == value(b, c1) == value(c, c1) == 5
    after = roots([a, b, c], c1)
    assert len(after) == 1 and after != before

    # A party (C) that claims an execution hash nobody reaches: failed at every party.
    creation = base64.b64encode(bytes.fromhex(a.rpc("eth_getContractPrivacyMetadata", c1)["creationTxHash"][2:]))
    receipts = forge(net, c, c1, calldata("set(uint256)", 66), [a, b], PSV,
                     affectedContractTransactions=[creation.decode()],
                     execHash=base64.b64encode(secrets.token_bytes(32)).decode())
    assert {private_status(n, receipts) for n in (a, b, c)} == {"0x0"}
    # A non-party (D) without the creation transaction: refused by its own manager.
    sent = d.manager_post("/send", {"payload": base64.b64encode(calldata("set(uint256)", 1)).decode(),
                                    "to": [a.key, b.key, c.key], "privacyFlag": PSV,
                                    "affectedContractTransactions": [creation.decode()]})
    assert sent.status_code == 403 and "Unable to find affectedContractTransaction" in sent.text
    assert value(a, c1) == value(b, c1) == value(c, c1) == 5
    assert roots([a, b, c], c1) == after
    assert d.rpc("eth_getCode", c1, "latest") == "0x"


def test_nested_contracts_follow_the_flag_and_parties_of_their_parents(net: E2ENetwork,
                                                                        artifacts: dict[str, Artifact]) -> None:
    a, b, c, _ = net.nodes
    # C2 → C1, both PSV between A and B: a call through C2 updates both.
    c1 = deploy(net, artifacts["C1"], a, [b], PSV, "uint256", 42)
    c2 = deploy(net, artifacts["C2"], a, [b], PSV, "address", c1)
    receipts = transact(net, a, c2, calldata("set(uint256)", 9), [b], PSV)
    assert private_status(a, receipts) == private_status(b, receipts) == "0x1"
    assert value(a, c1) == value(b, c1) == 9
    # The same call sent to another party set: refused (Tessera checks every affected contract).
    assert "Recipients mismatched for Affected Txn" in refusal(a, c2, calldata("set(uint256)", 1), [c], PSV)

    # A standard private C2 over a PSV C1: GoQuorum's two refusals.
    standard_c2 = deploy(net, artifacts["C2"], a, [b], 0, "address", c1)
    assert refusal(a, standard_c2, calldata("set(uint256)", 3), [b], 0) == \
        "sent privacy flag doesn't match all affected contract flags"
    assert refusal(a, standard_c2, calldata("set(uint256)", 3), [b], PSV).startswith("PrivacyMetadata not found")
    assert refusal(a, standard_c2, calldata("restoreFromC1()"), [b], 0) == \
        "sent privacy flag doesn't match all affected contract flags"
    # Reading through it is allowed.
    assert a.rpc("eth_call", {"to": standard_c2, "data": hx(GET)}, "latest") == word(9)

    # A PSV factory's child is bound to the factory's flag and parties.
    tx_hash = send_private(a, init_code(artifacts["C1Factory"].bytecode, [], []), [b.key], privacyFlag=PSV)
    factory_address = net.wait_receipts(tx_hash)[a.name]["contractAddress"]
    make = send_private(a, calldata("make(uint256)", 3), [b.key], to=factory_address, privacyFlag=PSV)
    receipts = net.wait_receipts(make)
    assert private_status(a, receipts) == private_status(b, receipts) == "0x1"
    child = "0x" + a.rpc("eth_call", {"to": factory_address, "data": hx(selector("last()"))}, "latest")[-40:]
    make_payload = a.rpc("eth_getTransactionByHash", make)["input"]
    for node in (a, b):
        metadata = node.rpc("eth_getContractPrivacyMetadata", child)
        assert metadata["privacyFlag"] == PSV and metadata["creationTxHash"] == make_payload
        assert value(node, child) == 3
    assert c.rpc("eth_getCode", child, "latest") == "0x"
    assert "Recipients mismatched for Affected Txn" in refusal(a, child, calldata("set(uint256)", 4), [b, c], PSV)
    assert refusal(a, child, calldata("set(uint256)", 4), [b], 0) == \
        "sent privacy flag doesn't match all affected contract flags"
    receipts = transact(net, b, child, calldata("set(uint256)", 4), [a], PSV)
    assert private_status(a, receipts) == private_status(b, receipts) == "0x1"
    assert value(a, child) == value(b, child) == 4


def test_mandatory_recipients_must_be_in_every_later_transaction(net: E2ENetwork,
                                                                  artifacts: dict[str, Artifact]) -> None:
    a, b, c, d = net.nodes
    c1 = deploy(net, artifacts["C1"], a, [b, c], MR, "uint256", 1, mandatory=[b])
    assert a.rpc("eth_getContractPrivacyMetadata", c1)["mandatoryFor"] == [b.key]

    # Without B among the recipients; then with B but without naming it mandatory again.
    message = refusal(a, c1, calldata("set(uint256)", 2), [c], MR, mandatoryFor=[c.key])
    assert "Privacy metadata mismatched with Affected Txn" in message
    message = refusal(a, c1, calldata("set(uint256)", 2), [c], MR, mandatoryFor=[b.key])
    assert "One or more mandatory recipients not included in the participant list" in message
    assert value(a, c1) == value(b, c1) == value(c, c1) == 1

    receipts = transact(net, a, c1, calldata("set(uint256)", 2), [b, c], MR, mandatoryFor=[b.key])
    assert {private_status(n, receipts) for n in (a, b, c)} == {"0x1"}
    assert value(a, c1) == value(b, c1) == value(c, c1) == 2
    assert d.rpc("eth_getCode", c1, "latest") == "0x"
    creation = bytes.fromhex(a.rpc("eth_getContractPrivacyMetadata", c1)["creationTxHash"][2:])
    assert a.manager_transaction(creation).status_code == 200
    assert d.manager_transaction(creation).status_code == 404
