"""Test in pairs (STYLE.md practice 13): a party sees a private transaction, a non-party cannot.

`assert_visible_to` checks what the parties must see; `assert_hidden_from` checks, for the same
transaction, that the others see nothing: not over JSON-RPC, not from their manager's API or
store, not in their node's own database, and not in the public chain's bytes as any node serves
them or the ordering service holds them. `assert_private_to(net, tx, parties)` runs both.

"Not in the bytes" is a substring search for each secret: the whole private payload and the
distinctive values the test put in it (random 128-bit numbers with the top bit set, so they
cannot occur by chance and show up in any hex form, quantity or 32-byte word).
"""

from __future__ import annotations

import base64
import json
import secrets as _secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak

from tests.helpers.network import E2ENetwork, NodeHandle, RpcError, hx, init_code, selector, send_private, word

BLANK_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
PRIVATE_V = {"0x25", "0x26"}  # 37 / 38: 27 / 28 + 10
VALUE_CHANGED = hx(keccak(text="ValueChanged(address,uint256,uint256)"))
MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class ExpectedLog:
    address: str
    topics: tuple[str, ...]
    data: str

    @staticmethod
    def value_changed(contract: str, sender: str, old: int, new: int) -> ExpectedLog:
        """SimpleStorage's `ValueChanged(address indexed by, uint256 oldValue, uint256 newValue)`."""
        return ExpectedLog(contract, (VALUE_CHANGED, word(int(sender, 16))),
                           "0x" + old.to_bytes(32, "big").hex() + new.to_bytes(32, "big").hex())


@dataclass(frozen=True)
class PrivateTx:
    """What a private transaction did, as the parties must see it."""

    tx_hash: str  # the public marker's hash
    payload: bytes  # what the parties execute: init code + constructor args, or call data
    contract: str  # the private contract it creates or calls
    creates: bool = False
    status: int = 1  # the parties' private receipt status
    storage: Mapping[int, int] = field(default_factory=dict)  # slot -> value on the parties afterwards
    call: tuple[bytes, bytes] | None = None  # (call data, expected return data) on the parties
    logs: tuple[ExpectedLog, ...] = ()  # the private logs the parties' receipts carry
    secrets: tuple[bytes, ...] = ()  # besides the payload: byte strings only the parties may hold

    def all_secrets(self) -> tuple[bytes, ...]:
        return (self.payload, *self.secrets)


def random_value() -> int:
    """128 random bits with the top bit set: a value that cannot appear anywhere by chance."""
    return _secrets.randbits(128) | (1 << 127)


def secret_bytes(value: int) -> bytes:
    """The significant bytes of a test's random value: what must not appear outside the parties."""
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    assert len(raw) >= MIN_SECRET_BYTES, "use a random value of at least 128 bits with the top bit set"
    return raw


def _rpc_logs(logs: Sequence[Mapping[str, Any]]) -> list[tuple[str, tuple[str, ...], str]]:
    return [(log["address"].lower(), tuple(t.lower() for t in log["topics"]), log["data"].lower()) for log in logs]


def _expected_logs(logs: Sequence[ExpectedLog]) -> list[tuple[str, tuple[str, ...], str]]:
    return [(log.address.lower(), tuple(t.lower() for t in log.topics), log.data.lower()) for log in logs]


def marker_key(net: E2ENetwork, tx: PrivateTx) -> bytes:
    """The public form of the private transaction, identical on every node: data is the manager's
    64-byte key, v is 37/38, no value, gas price 0. Returns the key."""
    seen = [node.rpc("eth_getTransactionByHash", tx.tx_hash) for node in net.nodes]
    first = seen[0]
    assert first is not None, f"{net.nodes[0]}: no transaction {tx.tx_hash}"
    for node, other in zip(net.nodes, seen, strict=True):
        assert other == first, f"{node} serves another public form of {tx.tx_hash}: {other} != {first}"
    key = bytes.fromhex(first["input"][2:])
    assert len(key) == 64, f"public input of a private transaction must be the 64-byte key, got {len(key)} bytes"
    assert first["v"] in PRIVATE_V, f"v of a private transaction must be 37/38, got {first['v']}"
    assert int(first["value"], 16) == 0 and int(first["gasPrice"], 16) == 0
    assert first["type"] == "0x0"
    return key


def assert_visible_to(net: E2ENetwork, tx: PrivateTx, parties: Sequence[NodeHandle]) -> None:
    """Every party holds the payload (node and manager) and the private effects of `tx`."""
    key = marker_key(net, tx)
    codes, roots = set(), set()
    for node in parties:
        where = f"party {node}"
        # the payload, from the node and from its manager (API and store)
        assert node.rpc("eth_getQuorumPayload", hx(key)) == hx(tx.payload), f"{where}: eth_getQuorumPayload"
        answer = node.manager_transaction(key)
        assert answer.status_code == 200, f"{where}: manager GET /transaction: {answer.status_code} {answer.text}"
        assert base64.b64decode(answer.json()["payload"]) == tx.payload, f"{where}: manager payload"
        assert node.manager_rows(key)["encrypted_transaction"] == 1, f"{where}: no row in its manager's store"
        # the private receipt
        receipt = node.receipt(tx.tx_hash)
        assert receipt is not None, f"{where}: no receipt"
        assert int(receipt["status"], 16) == tx.status, f"{where}: private receipt status {receipt['status']}"
        assert _rpc_logs(receipt["logs"]) == _expected_logs(tx.logs), f"{where}: receipt logs {receipt['logs']}"
        if tx.creates and tx.status == 1:
            assert receipt["contractAddress"].lower() == tx.contract.lower(), f"{where}: contractAddress"
            metadata = node.rpc("eth_getContractPrivacyMetadata", tx.contract)
            assert metadata["creationTxHash"] == hx(key), f"{where}: privacy metadata {metadata}"
        # private logs are served by eth_getLogs too, not only in the receipt (PROTOCOL.md §10)
        block = receipt["blockNumber"]
        served = node.rpc("eth_getLogs", {"address": tx.contract, "fromBlock": block, "toBlock": block})
        assert _rpc_logs([g for g in served if g["transactionHash"] == tx.tx_hash]) == _expected_logs(tx.logs), (
            f"{where}: eth_getLogs {served}")
        # the private state
        code = node.rpc("eth_getCode", tx.contract, "latest")
        if tx.creates and tx.status != 1:
            assert code == "0x", f"{where}: a failed creation left code"
        else:
            assert code != "0x", f"{where}: no code at {tx.contract}"
        codes.add(code)
        for slot, value in tx.storage.items():
            got = node.rpc("eth_getStorageAt", tx.contract, hex(slot), "latest")
            assert got == word(value), f"{where}: slot {slot} = {got}, expected {word(value)}"
        if tx.call is not None:
            data, result = tx.call
            got = node.rpc("eth_call", {"to": tx.contract, "data": hx(data)}, "latest")
            assert got == hx(result), f"{where}: eth_call returned {got}, expected {hx(result)}"
        roots.add(node.rpc("eth_storageRoot", tx.contract))
    assert len(codes) == 1, f"parties hold different code: {codes}"
    assert len(roots) == 1, f"parties hold different private storage for {tx.contract}: roots {roots}"
    if tx.storage and any(tx.storage.values()):
        assert roots != {BLANK_ROOT}, "the parties' storage root is empty though the contract stores values"


def assert_hidden_from(net: E2ENetwork, tx: PrivateTx, non_parties: Sequence[NodeHandle]) -> None:
    """No non-party can learn anything private about `tx`; nothing private is in public bytes."""
    assert non_parties, "a privacy check needs at least one non-party"
    key = marker_key(net, tx)
    secrets = tx.all_secrets()
    for node in non_parties:
        where = f"non-party {node}"
        # the payload: not from the node, not from its manager (API or store)
        assert node.rpc("eth_getQuorumPayload", hx(key)) == "0x", f"{where}: eth_getQuorumPayload"
        answer = node.manager_transaction(key)
        assert answer.status_code == 404, f"{where}: manager GET /transaction: {answer.status_code} {answer.text}"
        assert node.manager_rows(key) == {"encrypted_transaction": 0, "encrypted_raw_transaction": 0}, (
            f"{where}: its manager stores the payload")
        # the public receipt only: status 1, no logs
        receipt = node.receipt(tx.tx_hash)
        assert receipt is not None, f"{where}: no receipt (not imported?)"
        assert receipt["status"] == "0x1" and receipt["logs"] == [], f"{where}: receipt {receipt}"
        assert node.rpc("eth_getLogs", {"address": tx.contract, "fromBlock": "0x0", "toBlock": "latest"}) == [], (
            f"{where}: eth_getLogs serves logs of {tx.contract}")
        # no private state: no code, no storage, calls return nothing, no metadata
        assert node.rpc("eth_getCode", tx.contract, "latest") == "0x", f"{where}: sees code"
        for slot in tx.storage:
            assert node.rpc("eth_getStorageAt", tx.contract, hex(slot), "latest") == word(0), f"{where}: slot {slot}"
        if tx.call is not None:
            got = node.rpc("eth_call", {"to": tx.contract, "data": hx(tx.call[0])}, "latest")
            assert got == "0x", f"{where}: eth_call returned {got}"
        assert node.rpc("eth_storageRoot", tx.contract) == BLANK_ROOT, f"{where}: non-empty storage root"
        try:
            metadata = node.rpc("eth_getContractPrivacyMetadata", tx.contract)
        except RpcError:
            pass
        else:
            raise AssertionError(f"{where}: eth_getContractPrivacyMetadata answered {metadata}")
        # and nothing of it anywhere in the node's own database
        for stored in node.stored_values():
            for secret in secrets:
                assert secret not in stored, f"{where}: its database holds {secret.hex()[:40]}…"
    parties = [n for n in net.nodes if n not in non_parties]
    assert_not_in_public_chain(net, secrets, parties)


def assert_private_to(net: E2ENetwork, tx: PrivateTx, parties: Sequence[NodeHandle]) -> None:
    """The pair: the parties see `tx`, every other node of the network cannot."""
    assert_visible_to(net, tx, parties)
    assert_hidden_from(net, tx, [n for n in net.nodes if n not in parties])


def assert_not_in_public_chain(net: E2ENetwork, secrets: Sequence[bytes],
                               parties: Sequence[NodeHandle] = ()) -> None:
    """No secret in the public chain: the ordering service's raw blocks, and every block (full
    transactions) and receipt every node serves. A party's receipt of a private transaction is its
    private view (logs may carry the values), so on the parties only public receipts are searched."""
    for secret in secrets:
        assert len(secret) >= MIN_SECRET_BYTES, "a secret this short could occur by chance"
    raw_blocks = net.ordered_blocks()
    for number, raw in enumerate(raw_blocks, start=1):
        for secret in secrets:
            assert secret not in raw, f"block #{number} of the ordering service holds {secret.hex()[:40]}…"
    head = len(raw_blocks)
    for node in net.nodes:
        node.wait_block(head)
    hex_secrets = [s.hex() for s in secrets]
    reference: list[Any] | None = None
    for node in net.nodes:
        blocks = node.rpc.batch([("eth_getBlockByNumber", [hex(i), True]) for i in range(head + 1)])
        if reference is None:
            reference = blocks
        assert blocks == reference, f"{node} serves another public chain than {net.nodes[0]}"
        txs = [t for b in blocks for t in b["transactions"]]
        wanted = [t["hash"] for t in txs if node not in parties or t["v"] not in PRIVATE_V]
        receipts = node.rpc.batch([("eth_getTransactionReceipt", [h]) for h in wanted])
        served: list[Any] = [blocks, receipts]
        if node not in parties:
            served.append(node.rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(head)}))
        text = json.dumps(served).lower()
        for secret in hex_secrets:
            assert secret not in text, f"{node} serves {secret[:40]}… in public blocks, receipts or logs"


def deploy_storage(net: E2ENetwork, bytecode: str, sender: NodeHandle, recipients: Sequence[NodeHandle],
                   initial: int | None = None, wait_for: Sequence[NodeHandle] | None = None) -> PrivateTx:
    """SimpleStorage(initial) deployed by `sender` privateFor `recipients` (initial: a random value),
    once every node (or those in `wait_for`) imported it; what the parties must see."""
    initial = random_value() if initial is None else initial
    payload = init_code(bytecode, ["uint256"], [initial])
    tx_hash = send_private(sender, payload, [r.key for r in recipients])
    receipts = net.wait_receipts(tx_hash, list(wait_for) if wait_for is not None else None)
    address = receipts[sender.name]["contractAddress"]
    assert address is not None, receipts[sender.name]
    return PrivateTx(tx_hash, payload, address, creates=True,
                     storage={0: initial, 1: int(sender.address, 16)},
                     call=(selector("get()"), initial.to_bytes(32, "big")), secrets=(secret_bytes(initial),))
