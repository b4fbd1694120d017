"""Ethereum JSON-RPC server of the node (FastAPI), written against `engine.abc.NodeAPI` only."""

from engine.rpc.app import create_rpc_app

__all__ = ["create_rpc_app"]
