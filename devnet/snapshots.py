"""Snapshot and revert a whole running development network (every node, every manager) at once.

`snapshot_network(DIR)` waits until the network is quiet (every node at the same head, no
pending transaction anywhere), then calls `evm_snapshot` on every node; each node copies its
database and has its manager copy its store (engine/dev/snapshots.py). `revert_network(DIR,
snap)` calls `evm_revert` on every node, which truncates the shared `local` ordering service to
the snapshot's height, and waits until every node is back at that height. What a snapshot covers
and how a revert resets each part: docs/jsonrpc.md, "Snapshots".

The network must be one `privnet up --ordering local` started (it turns `[dev] snapshots` on);
nothing may be sent while a snapshot is taken or reverted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devnet.network import NetworkError, load_spec

#: Longest wait for a quiet network (snapshot) or for every node back at the height (revert).
DEFAULT_TIMEOUT_S = 60.0
POLL_S = 0.05


class SnapshotError(Exception):
    """A snapshot or revert could not be made on every node (the message names the node)."""


@dataclass(frozen=True)
class NetworkSnapshot:
    """Every node's snapshot id (node name → "0x…"), all taken at block `height`."""

    height: int
    ids: dict[str, str] = field(default_factory=dict)


class _Nodes:
    """JSON-RPC to every node of the network in DIR (names and URLs from network.json)."""

    def __init__(self, directory: Path) -> None:
        try:
            spec = load_spec(Path(directory))
        except NetworkError as exc:
            raise SnapshotError(str(exc)) from None
        if spec.get("ordering", "local") != "local":
            raise SnapshotError(f"{directory}: snapshots need a network with the 'local' ordering service")
        self.urls: dict[str, str] = {entry["name"]: entry["rpc_url"] for entry in spec["nodes"]}
        self._http = httpx.Client(timeout=120)
        self._id = 0

    def close(self) -> None:
        self._http.close()

    def call(self, name: str, method: str, *params: Any) -> Any:
        self._id += 1
        try:
            body = self._http.post(self.urls[name], json={"jsonrpc": "2.0", "id": self._id, "method": method,
                                                          "params": list(params)}).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SnapshotError(f"{name}: {method} failed: {type(exc).__name__}: {exc}") from None
        if "error" in body:
            error = body["error"]
            raise SnapshotError(f"{name}: {method}: {error.get('message')} (code {error.get('code')})")
        return body["result"]

    def heads(self) -> dict[str, int]:
        return {name: int(self.call(name, "eth_blockNumber"), 16) for name in self.urls}

    def pending(self) -> dict[str, int]:
        return {name: int(self.call(name, "eth_getBlockTransactionCountByNumber", "pending"), 16)
                for name in self.urls}


def _quiet_height(nodes: _Nodes, deadline: float) -> int:
    """Wait until every node has the same head and an empty pool; that head."""
    while True:
        heads = nodes.heads()
        pending = nodes.pending()
        if len(set(heads.values())) == 1 and not any(pending.values()):
            return next(iter(heads.values()))
        if time.monotonic() > deadline:
            raise SnapshotError(f"the network did not become quiet: heads {heads}, pending transactions {pending}")
        time.sleep(POLL_S)


def snapshot_network(directory: Path, timeout: float = DEFAULT_TIMEOUT_S) -> NetworkSnapshot:
    """`evm_snapshot` on every node once the network is quiet, all at one height.

    A block may still come between the check and a node's snapshot (`privnet up` builds an
    empty block every few seconds): the heads are read again afterwards, and if any moved the
    whole snapshot is taken again (the ids taken meanwhile are consumed by the next revert to an
    earlier snapshot, or dropped when the node stops).
    """
    nodes = _Nodes(directory)
    try:
        deadline = time.monotonic() + timeout
        while True:
            height = _quiet_height(nodes, deadline)
            try:
                ids = {name: str(nodes.call(name, "evm_snapshot")) for name in nodes.urls}
            except SnapshotError as exc:
                if "pending transaction" not in str(exc) or time.monotonic() > deadline:
                    raise
                continue  # something was sent meanwhile: wait for it to be mined
            if all(head == height for head in nodes.heads().values()):
                return NetworkSnapshot(height, ids)
            if time.monotonic() > deadline:
                raise SnapshotError("the network kept making blocks while the snapshot was taken")
    finally:
        nodes.close()


def revert_network(directory: Path, snapshot: NetworkSnapshot, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """`evm_revert` on every node, then wait until every node's head is `snapshot.height`.

    Reverting consumes the snapshot (and every later one): take a new one to revert again.
    """
    nodes = _Nodes(directory)
    try:
        missing = set(nodes.urls) - set(snapshot.ids)
        if missing:
            raise SnapshotError(f"the snapshot has no id for {', '.join(sorted(missing))}")
        for name in nodes.urls:
            if nodes.call(name, "evm_revert", snapshot.ids[name]) is not True:
                raise SnapshotError(f"{name}: evm_revert({snapshot.ids[name]}) answered false: "
                                    "no such snapshot (unknown, already reverted to, or the node restarted)")
        deadline = time.monotonic() + timeout
        while True:
            heads = nodes.heads()
            if all(head == snapshot.height for head in heads.values()):
                return
            if _moved_on_together(nodes, heads, snapshot.height):
                return  # a new (empty) block came already, on top of the snapshot's block everywhere
            if time.monotonic() > deadline:
                raise SnapshotError(f"the nodes did not come back to block #{snapshot.height}: heads {heads}")
            time.sleep(POLL_S)
    finally:
        nodes.close()


def _moved_on_together(nodes: _Nodes, heads: dict[str, int], height: int) -> bool:
    if len(set(heads.values())) != 1 or next(iter(heads.values())) < height:
        return False
    hashes = {(nodes.call(name, "eth_getBlockByNumber", hex(height), False) or {}).get("hash") for name in heads}
    return len(hashes) == 1 and None not in hashes


__all__ = ["NetworkSnapshot", "SnapshotError", "revert_network", "snapshot_network"]
