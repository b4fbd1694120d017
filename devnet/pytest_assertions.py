"""The privacy assertions of the `privnet` fixture, read over each node's JSON-RPC.

A party of a private contract holds its code, a storage trie, its privacy metadata and the
creation payload (`eth_getQuorumPayload` of the creation marker's data); a non-party holds an
empty account and gets `0x` for the payload (PROTOCOL.md: it only ever saw the 64-byte hash).
Every failure names the node and what it answered, all at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from web3 import Web3


class PrivnetNode(Protocol):
    """What an assertion reads of a node (devnet.pytest_network.PrivnetNode)."""

    name: str
    w3: Web3

    def rpc(self, method: str, *params: Any) -> dict[str, Any]: ...

# The root of an empty trie: what eth_storageRoot answers for an account this node does not hold.
EMPTY_STORAGE_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"


def _answer(node: PrivnetNode, method: str, *params: Any) -> tuple[Any, dict[str, Any] | None]:
    answer = node.rpc(method, *params)
    return answer.get("result"), answer.get("error")


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _short(value: str, keep: int = 18) -> str:
    return value if len(value) <= keep + 6 else f"{value[:keep]}… ({(len(value) - 2) // 2} bytes)"


def _creation_payload_hash(parties: Sequence[PrivnetNode], address: str, marker: str | None,
                           failures: list[str]) -> str | None:
    """The 64-byte manager hash that created the contract: the creation marker's data when the fixture
    deployed it, else the parties' `eth_getContractPrivacyMetadata` creationTxHash."""
    if marker is not None:
        tx, error = _answer(parties[0], "eth_getTransactionByHash", marker)
        if tx is not None:
            return str(tx["input"])
        failures.append(f"{parties[0].name} (a party) does not know the creation marker {marker}: {error}")
    for party in parties:
        metadata, _ = _answer(party, "eth_getContractPrivacyMetadata", address)
        if metadata is not None:
            return str(metadata["creationTxHash"])
    return None


def visible_only_to(every: Sequence[PrivnetNode], address: str, parties: Sequence[PrivnetNode],
                    marker: str | None = None) -> None:
    """Raise AssertionError unless exactly `parties` (of `every` node) see the private contract."""
    if not parties:
        raise ValueError("assert_visible_only_to needs at least one party")
    unknown = [p for p in parties if p not in every]
    if unknown:
        raise ValueError(f"not nodes of this network: {unknown}")
    address = Web3.to_checksum_address(address)
    failures: list[str] = []
    payload_hash = _creation_payload_hash(parties, address, marker, failures)
    roots: dict[str, str] = {}
    for node in every:
        party = node in parties
        role = "a party" if party else "not a party"
        code = _hex(node.w3.eth.get_code(address))
        root, root_error = _answer(node, "eth_storageRoot", address)
        metadata, metadata_error = _answer(node, "eth_getContractPrivacyMetadata", address)
        payload = None
        if payload_hash is not None:
            payload, _ = _answer(node, "eth_getQuorumPayload", payload_hash)
        if party:
            if code == "0x":
                failures.append(f"{node.name} ({role}) has no code at {address}")
            if root is None:
                failures.append(f"{node.name} ({role}) answered no storage root for {address}: {root_error}")
            else:
                roots[node.name] = root
            if metadata is None:
                failures.append(f"{node.name} ({role}) has no privacy metadata for {address}: {metadata_error}")
            if payload_hash is not None and payload in (None, "0x"):
                failures.append(f"{node.name} ({role}) cannot read the creation payload {_short(payload_hash)}")
        else:
            if code != "0x":
                failures.append(f"{node.name} ({role}) sees code at {address}: {_short(code)}")
            if root != EMPTY_STORAGE_ROOT:
                failures.append(f"{node.name} ({role}) holds storage for {address}: root {root or root_error}")
            if metadata is not None:
                failures.append(f"{node.name} ({role}) has privacy metadata for {address}: {metadata}")
            if payload not in (None, "0x"):
                failures.append(f"{node.name} ({role}) reads the creation payload: {_short(str(payload))}")
    if payload_hash is None:
        failures.append(f"no party could name the creation payload of {address} (no privacy metadata)")
    if len(set(roots.values())) > 1:
        failures.append(f"the parties' storage roots for {address} differ: {roots}")
    if failures:
        raise AssertionError(f"contract {address} is not visible to exactly {[p.name for p in parties]}:\n  "
                             + "\n  ".join(failures))


def private_states_equal(every: Sequence[PrivnetNode], address: str, block: int,
                         parties: Sequence[PrivnetNode] | None = None) -> None:
    """Raise AssertionError unless every party has the same storage root for `address` at `block`
    (parties: the given nodes, else each node holding code at `address`)."""
    address = Web3.to_checksum_address(address)
    if parties is None:
        parties = [n for n in every if _hex(n.w3.eth.get_code(address, block)) != "0x"]
        if not parties:
            raise AssertionError(f"no node holds code at {address} at block #{block}")
    roots: dict[str, str] = {}
    failures = []
    for node in parties:
        root, error = _answer(node, "eth_storageRoot", address, hex(block))
        if root is None:
            failures.append(f"{node.name} answered no storage root: {error}")
        else:
            roots[node.name] = str(root)
    if failures or len(set(roots.values())) != 1:
        seen = "; ".join(f"{name}: {root}" for name, root in roots.items())
        raise AssertionError(f"private states of {address} at block #{block} differ across "
                             f"{[p.name for p in parties]}: {seen}" + ("\n  " + "\n  ".join(failures)
                                                                        if failures else ""))
