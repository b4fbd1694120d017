"""The `net_` namespace."""

from __future__ import annotations

from engine.rpc import formatters as fmt
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method


def version(ctx: RpcContext) -> str:
    """The network id; as in geth's dev mode and GoQuorum, it equals the chain id (decimal)."""
    return str(ctx.node.chain_id)


def listening(ctx: RpcContext) -> bool:
    """True: this server answering is the node listening."""
    return True


def peer_count(ctx: RpcContext) -> int:
    """Nodes exchange blocks through the ordering service, not devp2p: no peers to count."""
    return 0


METHODS: dict[str, Method] = {
    "net_version": Method(version, blocking=False),
    "net_listening": Method(listening, blocking=False),
    "net_peerCount": Method(peer_count, result=fmt.quantity, blocking=False),
}
