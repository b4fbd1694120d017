"""What every method handler receives: the node, the privacy service, the server's own state and limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.abc import ContractExtensionAPI, NodeAPI, PrivateTransactionsAPI, StateCommitmentsAPI
from engine.privacy.disabled import NoPrivateTransactions
from engine.rpc.filters import FilterRegistry


@dataclass(frozen=True)
class RpcContext:
    node: NodeAPI
    filters: FilterRegistry
    client_version: str
    max_log_block_range: int = 10_000
    privacy: PrivateTransactionsAPI = field(default_factory=NoPrivateTransactions)
    extension: ContractExtensionAPI | None = None  # quorumExtension_* (None: not served)
    divergences: StateCommitmentsAPI | None = None  # privnet_privateStateDivergences (None: no manager)
