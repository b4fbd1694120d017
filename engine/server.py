"""Run one node: the chain node plus its JSON-RPC server (`python -m engine --config node.toml`)."""

from __future__ import annotations

import logging
import signal
import sys
import time
from typing import Any

import uvicorn

from engine.chain.node import Node
from engine.config import ConfigError, NodeSettings
from engine.errors import EngineError

logger = logging.getLogger("engine")


def build_node(settings: NodeSettings) -> Node:
    """Open the node with its privacy manager when configured (checks /upcheck first)."""
    privacy = None
    if settings.privacy.enabled:
        from engine.privacy.client import HttpPrivacyManagerClient
        from engine.privacy.layer import PrivacyLayer

        if not settings.privacy.q2t_url:
            raise EngineError("privacy.enabled needs privacy.q2t_url")
        client = HttpPrivacyManagerClient(settings.privacy.q2t_url, settings.privacy.retries,
                                          settings.privacy.retry_delay_s, settings.privacy.timeout_s)
        deadline = time.monotonic() + 30
        while not client.upcheck():
            if time.monotonic() > deadline:
                client.close()
                raise EngineError(f"private transaction manager at {settings.privacy.q2t_url} is not up")
            time.sleep(0.2)
        privacy = PrivacyLayer(client)
    return Node.open(settings, privacy=privacy)


def make_server(node: Node, settings: NodeSettings) -> uvicorn.Server:
    from engine.rpc.app import create_rpc_app

    app = create_rpc_app(node, max_body_bytes=settings.rpc.max_body_bytes, max_batch_size=settings.rpc.max_batch_size)
    config = uvicorn.Config(app, host=settings.rpc.host, port=settings.rpc.port, log_level="warning",
                            access_log=False, timeout_keep_alive=30)
    return uvicorn.Server(config)


def run(settings: NodeSettings) -> int:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        node = build_node(settings)
    except EngineError as exc:
        logger.error("%s: %s", settings.name, exc.message)
        return 2
    except ConfigError as exc:
        logger.error("%s: %s", settings.name, exc)
        return 2
    node.start()
    server = make_server(node, settings)

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
