"""A node (the composition root, engine/server.py) and a manager whose Q2T API is on TCP:
with `privacy.q2t_token_file` they work together; without it, or with a wrong token or a file
others can read, the node refuses to start with one clear message."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import ConfigError, NodeSettings, PrivacySettings
from engine.errors import PrivacyManagerUnauthorized
from engine.server import build_node, run
from engine.types import Address, PrivacyFlag, PrivateArgs, PtmPublicKey, TxRequest
from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.runtime import ManagerProcess
from tests.unit.engine.privacy.kit import RECORDER_INIT

pytestmark = pytest.mark.integration


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[ManagerProcess]:
    """A manager with two keys (the node's and a counterparty's), Q2T on TCP with a token."""
    keys = [KeyConfig(public_key_file=pub, private_key_file=key)
            for pub, key in (write_key_files(tmp_path / "manager", name, None) for name in ("own", "other"))]
    settings = ManagerSettings(q2t_port=0, p2p_port=0, q2t_token_file=tmp_path / "manager" / "q2t.token",
                               db_url=f"sqlite:///{tmp_path / 'manager' / 'manager.db'}", keys=keys,
                               gossip_interval_seconds=3600, log_level="warning")
    with ManagerProcess(settings) as proc:
        yield proc


def node_settings(tmp_path: Path, manager: ManagerProcess, token_file: Path | None) -> NodeSettings:
    return NodeSettings(data_dir=tmp_path / "node", privacy=PrivacySettings(
        enabled=True, q2t_url=manager.q2t_url, q2t_token_file=token_file, retries=0, retry_delay_s=0))


def test_a_node_with_the_token_file_runs_private_transactions(tmp_path: Path, manager: ManagerProcess) -> None:
    services = build_node(node_settings(tmp_path, manager, manager.settings.q2t_token_file))
    node = services.node
    node.start()
    try:
        request = TxRequest(sender=Address(node.dev_accounts[0][0]), data=RECORDER_INIT,
                            private=PrivateArgs(private_for=(PtmPublicKey(manager.public_keys[1]),),
                                                privacy_flag=PrivacyFlag.STANDARD_PRIVATE))
        tx_hash = services.privacy.send_transaction(request)
        deadline = time.monotonic() + 30
        while (receipt := node.get_receipt(tx_hash)) is None:
            assert time.monotonic() < deadline, "not mined"
            time.sleep(0.02)
        assert receipt.is_private and receipt.status == 1
        marker = node.get_transaction(tx_hash)
        assert marker is not None
        assert services.privacy.get_quorum_payload(marker.data) == RECORDER_INIT  # read back with the token
    finally:
        node.stop()


def test_a_node_without_the_token_gets_a_clear_error_at_start(tmp_path: Path, manager: ManagerProcess,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PrivacyManagerUnauthorized,
                       match=r"refused this node \(401 status: missing bearer token.*privacy.q2t_token_file"):
        build_node(node_settings(tmp_path, manager, None))
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token\n")
    wrong.chmod(0o600)
    with pytest.raises(PrivacyManagerUnauthorized, match="invalid bearer token"):
        build_node(node_settings(tmp_path, manager, wrong))
    with caplog.at_level(logging.ERROR, logger="engine"):
        assert run(node_settings(tmp_path, manager, None)) == 2  # `python -m engine`: one line, exit 2
    assert "401 status" in caplog.text and "Traceback" not in caplog.text


def test_a_token_file_others_can_read_stops_the_node(tmp_path: Path, manager: ManagerProcess) -> None:
    token_file = manager.settings.q2t_token_file
    assert token_file is not None
    readable = tmp_path / "readable.token"
    readable.write_text(token_file.read_text())
    os.chmod(readable, 0o644)
    with pytest.raises(ConfigError, match=r"privacy.q2t_token_file: permissions 0644 .* too open"):
        build_node(node_settings(tmp_path, manager, readable))
