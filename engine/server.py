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
from engine.dev.snapshots import DevSnapshots, build_dev_snapshots
from engine.errors import EngineError
from engine.extension.service import ContractExtensionService, build_extension_service
from engine.files import read_token_file
from engine.privacy.client import HttpPrivacyManagerClient
from engine.privacy.commitments import CommitmentReporter
from engine.privacy.disabled import NoPrivateTransactions
from engine.privacy.pmt import PrivacyMarkers
from engine.privacy.pmt_state import PrivacyMarkerPrivateState
from engine.privacy.service import PrivateTransactionService

logger = logging.getLogger("engine")


@dataclass
class NodeServices:
    """What the composition root wires together: the node and the privacy service beside it."""

    node: Node
    privacy: PrivateTransactionsAPI
    extension: ContractExtensionService | None = None  # quorumExtension_* (with a manager only)
    commitments: CommitmentReporter | None = None  # divergence detection (with a manager only)
    snapshots: DevSnapshots | None = None  # evm_snapshot / evm_revert (`[dev] snapshots = true` only)


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
        return _with_snapshots(NodeServices(Node.open(settings), NoPrivateTransactions()), settings)
    client = connect_manager(settings)
    try:
        database = open_database(settings)
    except BaseException:
        client.close()
        raise
    private_state = PrivacyMarkerPrivateState(client, database.atomic)
    node = Node.open(settings, private=private_state, database=database)
    # GoQuorum's privacyPrecompileBlock is a genesis setting: known once the node has read its genesis.
    private_state.precompile_block = node.genesis.privacy_precompile_block
    service = PrivateTransactionService(node, node.unlocked, private_state, client, settings.max_tx_bytes)
    try:
        service.privacy_markers = PrivacyMarkers(node, node.unlocked, private_state, client,
                                                 create=settings.privacy.privacy_marker)
    except BaseException:
        node.stop()
        raise
    extension = build_extension_service(node, service, client, private_state, database)
    commitments = CommitmentReporter(client)
    private_state.block_observer = commitments.observe_block
    node.subscribe_new_blocks(commitments.on_committed)
    return _with_snapshots(NodeServices(node, service, extension, commitments=commitments), settings,
                           private_state)


def _with_snapshots(services: NodeServices, settings: NodeSettings,
                    private_state: PrivacyMarkerPrivateState | None = None) -> NodeServices:
    """Development networks (`[dev] snapshots = true`): evm_snapshot / evm_revert beside the node."""
    if settings.dev.snapshots:
        try:
            services.snapshots = build_dev_snapshots(services.node, settings, private_state, services.commitments,
                                                     services.extension)
        except BaseException:
            services.node.stop()
            raise
    return services


def make_server(services: NodeServices, settings: NodeSettings) -> uvicorn.Server:
    from engine.rpc.app import create_rpc_app
    from engine.rpc.serving import QuietServer

    app = create_rpc_app(services.node, services.privacy, max_body_bytes=settings.rpc.max_body_bytes,
                         max_batch_size=settings.rpc.max_batch_size, extension=services.extension,
                         divergences=services.commitments.channel if services.commitments is not None else None)
    if services.snapshots is not None:  # served only here: elsewhere -32601, as for any unknown method
        from engine.dev.rpc import snapshot_methods

        app.state.dispatcher.methods.update(snapshot_methods(services.snapshots))
        services.snapshots.on_revert(app.state.filters.rewind)
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
    if services.extension is not None:
        services.extension.start()
    if services.commitments is not None:
        services.commitments.start()
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
        if services.commitments is not None:
            services.commitments.stop()  # before node.stop() closes the manager client
        if services.snapshots is not None:
            services.snapshots.close()
        node.stop()
    return 0


def run_replay(settings: NodeSettings) -> int:
    """`--replay-private-state`: rebuild this node's private state (engine/privacy/replay.py)
    with the node stopped and its manager up, through the node exactly as `run` builds it;
    print the summary as one JSON line on stdout."""
    import json

    from engine.privacy.replay import replay_private_state

    restore_recursion_limit()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not settings.privacy.enabled:
        logger.error("%s: no private state to replay: privacy is not enabled", settings.name)
        return 2
    try:
        services = build_node(settings)
    except (EngineError, ConfigError) as exc:
        logger.error("%s: %s", settings.name, getattr(exc, "message", exc))
        return 2
    node = services.node
    try:
        summary = replay_private_state(node.chain, node.private, node.importer)
    except EngineError as exc:
        logger.error("%s: private state replay failed: %s", settings.name, exc.message)
        return 1
    finally:
        node.stop()
    print(json.dumps(summary.to_json()), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse
    from pathlib import Path

    from engine.config import ConfigError, load_settings

    parser = argparse.ArgumentParser(prog="python -m engine", description="Run one privnet node.")
    parser.add_argument("--config", type=Path, help="node.toml")
    parser.add_argument("--replay-private-state", action="store_true",
                        help="rebuild the private state from the chain and the manager's payloads, then exit "
                             "(the node must be stopped, its manager up; `privnet recover` runs it)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.replay_private_state:
        return run_replay(settings)
    return run(settings)
