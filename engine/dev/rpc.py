"""`evm_snapshot` / `evm_revert`: served only by a node with `[dev] snapshots = true`.

Elsewhere they are not in the method table, so the node answers geth's -32601 "the method
evm_snapshot does not exist/is not available". Ids are hex quantities ("0x1", "0x2", ...).
"""

from __future__ import annotations

from engine.dev.snapshots import DevSnapshots
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.dispatch import Method, Param


def snapshot_methods(snapshots: DevSnapshots) -> dict[str, Method]:
    return {
        "evm_snapshot": Method(lambda ctx: snapshots.snapshot(), (), result=fmt.quantity),
        "evm_revert": Method(lambda ctx, number: snapshots.revert(number), (Param("id", p.quantity),)),
    }
