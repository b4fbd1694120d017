"""Bodies no parser may recurse into (nesting 100,000 deep), and ids that must come back exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.runtime import ManagerProcess
from tests.helpers.q2t_auth import q2t_client
from tests.integration.node.conftest import NodeProcess

pytestmark = pytest.mark.integration

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 20_000 + b"1" + b"}" * 20_000  # 140 KB, under the fixture's 256 KiB body limit
BLOCK_NUMBER = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}


def post_raw(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, b"[" * 100_000], ids=["arrays", "objects", "unclosed"])
def test_deep_json_is_a_parse_error_in_process(rpc_url: str, body: bytes):
    answer = post_raw(rpc_url, body).json()
    assert answer == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
    assert httpx.post(rpc_url, json=BLOCK_NUMBER, timeout=30).json()["result"].startswith("0x")


def test_deep_json_cannot_kill_a_node_process(tmp_path: Path):
    node = NodeProcess(tmp_path)
    node.start()
    try:
        answer = post_raw(node.url, DEEP).json()
        assert answer["error"] == {"code": -32700, "message": "parse error"}
        assert node.proc is not None and node.proc.poll() is None
        assert httpx.post(node.url, json=BLOCK_NUMBER, timeout=30).json()["result"].startswith("0x")
    finally:
        node.kill_if_running()


def test_deep_json_to_the_manager_is_a_400_with_a_json_body(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    pub, key = write_key_files(tmp_path, "solo", None)
    settings = ManagerSettings(q2t_port=0, p2p_port=0, q2t_token_file=tmp_path / "solo.token", peers=[],
                               db_url=f"sqlite:///{tmp_path / 'solo.db'}",
                               keys=[KeyConfig(public_key_file=pub, private_key_file=key)],
                               gossip_interval_seconds=3600, log_level="warning")
    manager = ManagerProcess(settings).start()
    try:
        with q2t_client(manager) as client:
            response = client.post("/send", content=DEEP, headers={"content-type": "application/json"})
            assert response.status_code == 400
            assert "nested deeper than 128 levels" in response.json()["error"]
            assert client.get("/upcheck").status_code == 200
        assert "Traceback" not in caplog.text
    finally:
        manager.stop()


# -- ids ------------------------------------------------------------------------------------


IDS = [2**64 + 1, 2**200, "abc", None, -(2**70), 7]


def post_exact(url: str, body: Any) -> Any:
    """Send with the stdlib encoder and read with the stdlib decoder: both keep big integers exact."""
    response = httpx.post(url, content=json.dumps(body).encode(), headers={"content-type": "application/json"},
                          timeout=30)
    return json.loads(response.content)


@pytest.mark.parametrize("request_id", IDS, ids=repr)
def test_an_id_comes_back_exactly(rpc_url: str, request_id: Any):
    answer = post_exact(rpc_url, {**BLOCK_NUMBER, "id": request_id})
    assert answer["id"] == request_id and type(answer["id"]) is type(request_id)
    assert answer["result"].startswith("0x")
    failed = post_exact(rpc_url, {**BLOCK_NUMBER, "id": request_id, "method": "no_such"})
    assert failed["id"] == request_id and failed["error"]["code"] == -32601


def test_ids_come_back_exactly_in_a_batch(rpc_url: str):
    answers = post_exact(rpc_url, [{**BLOCK_NUMBER, "id": request_id} for request_id in IDS])
    assert [(a["id"], type(a["id"])) for a in answers] == [(i, type(i)) for i in IDS]
