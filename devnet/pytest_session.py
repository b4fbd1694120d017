"""Where the `privnet` fixture's network comes from: one started for the session by the launcher
(devnet.network.LocalNetwork, as `privnet up` starts it), or one already running (`--privnet-dir`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from devnet.network import LocalNetwork, NetworkError, load_spec
from devnet.pytest_network import PrivnetNetwork


@contextlib.contextmanager
def started_network(directory: Path, nodes: int) -> Iterator[PrivnetNetwork]:
    """A new `nodes`-node network in `directory` with local ordering, stopped when the block exits."""
    local = LocalNetwork(directory, nodes=nodes, ordering="local")
    local.start()
    try:
        yield PrivnetNetwork.from_spec(directory, local.spec)
    finally:
        local.stop()


def attached_network(directory: Path) -> PrivnetNetwork:
    """The network running from `directory`; every node must answer (it is left running)."""
    spec = load_spec(directory)
    for entry in spec["nodes"]:
        try:
            httpx.post(entry["rpc_url"], json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                       timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            raise NetworkError(f"--privnet-dir {directory}: {entry['name']} does not answer at {entry['rpc_url']} "
                               f"({exc}); start the network with `privnet up --dir {directory} --detach`") from None
    return PrivnetNetwork.from_spec(directory, spec)
