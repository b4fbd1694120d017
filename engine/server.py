"""Run one node: the composition root (`python -m engine --config node.toml`).

The chain node, its private side and the privacy service are wired here and nowhere else;
the JSON-RPC server is given the node and the privacy service.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from eth import EVM_RECURSION_LIMIT

from engine.abc import PrivateTransactionsAPI
from engine.chain.node import Node, open_database
from engine.config import ConfigError, NodeSettings
from engine.errors import EngineError
from engine.files import read_token_file
from engine.privacy.client import HttpPrivacyManagerClient
from engine.privacy.disabled import NoPrivateTransactions
from engine.privacy.private_state import PrivateStateManager
from engine.privacy.service import PrivateTransactionService

logger = logging.getLogger("engine")


@dataclass
class NodeServices:
    """What the composition root wires together: the node and the privacy service beside it."""

    node: Node
    privacy: PrivateTransactionsAPI


def connect_manager(settings: NodeSettings) -> HttpPrivacyManagerClient:
    """The node's manager client, once the manager answers /upcheck (30 s at most) and accepts
    this node's token (a missing or wrong one fails here, not at the first transaction)."""
    if not settings.privacy.q2t_url:
        raise EngineError("privacy.enabled needs privacy.q2t_url")
    token_file = settings.privacy.q2t_token_file
    token = read_token_file(token_file, "privacy.q2t_token_file") if token_file is not None else None
    client = HttpPrivacyManagerClient(settings.privacy.q2t_url, settings.privacy.retries,
                                      settings.privacy.retry_delay_s, settings.privacy.timeout_s, token=token)
    try:
        deadline = time.monotonic() + 30
        while not client.upcheck():
            if time.monotonic() > deadline:
                raise EngineError(f"private transaction manager at {settings.privacy.q2t_url} is not up")
            time.sleep(0.2)
        client.public_keys()  # the first request /upcheck does not cover: raises on a 401
    except BaseException:
        client.close()
        raise
    return client


def build_node(settings: NodeSettings) -> NodeServices:
    """The composition root: the node, and with a manager configured its private side (which
    shares the node's database) and the privacy service above it."""
    if not settings.privacy.enabled:
        return NodeServices(Node.open(settings), NoPrivateTransactions())
    client = connect_manager(settings)
    try:
        database = open_database(settings)
    except BaseException:
        client.close()
        raise
    private_state = PrivateStateManager(client, database.atomic)
    node = Node.open(settings, private=private_state, database=database)
    service = PrivateTransactionService(node, node.unlocked, private_state, client, settings.max_tx_bytes)
    return NodeServices(node, service)


def make_server(services: NodeServices, settings: NodeSettings) -> uvicorn.Server:
    from engine.rpc.app import create_rpc_app
    from engine.rpc.serving import QuietServer

    app = create_rpc_app(services.node, services.privacy, max_body_bytes=settings.rpc.max_body_bytes,
                         max_batch_size=settings.rpc.max_batch_size)
    config = uvicorn.Config(app, host=settings.rpc.host, port=settings.rpc.port, log_level="warning",
                            access_log=False, timeout_keep_alive=30)
    return QuietServer(config)


def restore_recursion_limit() -> None:
    """Bring Python's recursion limit back to what py-evm asks for (its EVM_RECURSION_LIMIT).

    Why: importing py_ecc raises it to 100,000, deep enough for C-level recursion (the JSON
    decoder, repr) to overflow a thread's stack and kill the process instead of raising
    RecursionError. py-evm's own limit covers a 1024-deep CALL chain.
    """
    sys.setrecursionlimit(EVM_RECURSION_LIMIT)


def run(settings: NodeSettings) -> int:
    restore_recursion_limit()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        services = build_node(settings)
    except EngineError as exc:
        logger.error("%s: %s", settings.name, exc.message)
        return 2
    except ConfigError as exc:
        logger.error("%s: %s", settings.name, exc)
        return 2
    node = services.node
    node.start()
    server = make_server(services, settings)

    def _stop(signum: int, _frame: Any) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logger.info("%s: JSON-RPC on http://%s:%d (chain id %d, head #%d)", settings.name, settings.rpc.host,
                settings.rpc.port, settings.chain_id, node.block_number())
    try:
        server.run()
    finally:
        node.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse
    from pathlib import Path

    from engine.config import ConfigError, load_settings

    parser = argparse.ArgumentParser(prog="python -m engine", description="Run one privnet node.")
    parser.add_argument("--config", type=Path, help="node.toml")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run(settings)
