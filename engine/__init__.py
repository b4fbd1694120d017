"""The chain node: py-evm chain, private state, JSON-RPC, ordering."""

__version__ = "0.1.0"
__all__ = ["__version__"]
