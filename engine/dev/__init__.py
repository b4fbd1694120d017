"""Development-network features (never on a production node): `evm_snapshot` / `evm_revert`.

On only with the node's `[dev] snapshots = true` (`privnet up --ordering local` sets it);
engine/server.py wires it beside the node.
"""
