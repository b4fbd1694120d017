"""The `privnet_` namespace: privnet's own methods, beyond GoQuorum.

`privnet_privateStateDivergences([fromBlock])` lists the private state divergences this
node's manager detected (PROTOCOL.md §12), oldest block first: only contracts this node is
party to (its manager holds commitments for nothing else). `fromBlock` is a block number or
tag (default `earliest`). Each entry::

    {"blockNumber": "0x5", "blockHash": "0x…", "contract": "0x…",
     "sides": [{"storageRoot": "0x…", "parties": ["<manager key, base64>", …]}, …],
     "localParties": ["<this node's keys among them>"], "detectedAt": "0x<unix seconds>"}

A node without a manager has no private state and answers `[]`.
"""

from __future__ import annotations

from typing import Any

from engine.abc import StateDivergence
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method, Param
from engine.types import BlockTag


def _from_block(ctx: RpcContext, block: int | BlockTag) -> int:
    if isinstance(block, int):
        return block
    if block == "earliest":
        return 0
    return ctx.node.block_number() + (1 if block == "pending" else 0)


def private_state_divergences(ctx: RpcContext, from_block: int | BlockTag) -> list[StateDivergence]:
    if ctx.divergences is None:
        return []
    return ctx.divergences.state_divergences(_from_block(ctx, from_block))


def divergence(d: StateDivergence) -> dict[str, Any]:
    return {
        "blockNumber": fmt.quantity(d.block_number),
        "blockHash": fmt.data(d.block_hash),
        "contract": fmt.address(d.contract),
        "sides": [{"storageRoot": fmt.data(root), "parties": list(parties)} for root, parties in d.sides],
        "localParties": list(d.own_parties),
        "detectedAt": fmt.quantity(d.detected_at),
    }


METHODS: dict[str, Method] = {
    "privnet_privateStateDivergences": Method(private_state_divergences, (
        Param("fromBlock", p.block_number_or_tag, required=False, default="earliest"),
    ), result=lambda found: [divergence(d) for d in found]),
}
