"""What every method handler receives: the node and the server's own state and limits."""

from __future__ import annotations

from dataclasses import dataclass

from engine.abc import NodeAPI
from engine.rpc.filters import FilterRegistry


@dataclass(frozen=True)
class RpcContext:
    node: NodeAPI
    filters: FilterRegistry
    client_version: str
    max_log_block_range: int = 10_000
