"""evm_snapshot / evm_revert on one real node and its real manager, in process (engine/dev/snapshots.py).

The node is built by the composition root (`engine.server.build_node` / `make_server`) exactly as
`python -m engine` builds it, its JSON-RPC app is called over HTTP in process, and its manager is a
real `ManagerProcess` on loopback. "Restored exactly" is checked on the bytes: every row of the
node's database, of the ordering service's block log and of the manager's store, before the
snapshot and after the revert; and through JSON-RPC (head, storage roots, balances, nonces, code,
receipts, filters).
"""

from __future__ import annotations

import base64
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from eth_account import Account

from engine.config import ConfigError, DevSettings, NodeSettings, PrivacySettings, load_settings
from engine.server import NodeServices, build_node, make_server
from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.runtime import ManagerProcess
from tests.unit.engine.privacy.kit import RECORDER_INIT, RECORDER_RUNTIME, word

pytestmark = pytest.mark.integration

WAIT_S = 30.0
OTHER = "0x" + "22" * 20


class Rpc:
    """JSON-RPC into the node's ASGI app, in process (one event loop per call)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._id = 0

    def raw(self, method: str, *params: Any) -> dict[str, Any]:
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}

        async def go() -> dict[str, Any]:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://rpc") as c:
                return dict((await c.post("/", json=body)).json())

        return anyio.run(go)

    def __call__(self, method: str, *params: Any) -> Any:
        answer = self.raw(method, *params)
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer["result"]


@dataclass
class Dev:
    services: NodeServices
    rpc: Rpc
    settings: NodeSettings
    manager: ManagerProcess
    other_key: str  # a second key of the same manager: the private transactions' recipient

    @property
    def sender(self) -> str:
        return "0x" + self.services.node.dev_accounts[0][0].hex()

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def wait_receipt(self, tx_hash: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while (receipt := self.rpc("eth_getTransactionReceipt", tx_hash)) is None:
            assert time.monotonic() < deadline, f"{tx_hash} not mined"
            time.sleep(0.02)
        return dict(receipt)

    def send_private(self, data: bytes, to: str | None = None) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": self.sender, "data": "0x" + data.hex(), "gas": hex(200_000),
                              "privateFor": [self.other_key]}
        if to is not None:
            tx["to"] = to
        return self.wait_receipt(self.rpc("eth_sendTransaction", tx))

    def send_public(self, value: int) -> dict[str, Any]:
        return self.wait_receipt(self.rpc("eth_sendTransaction", {"from": self.sender, "to": OTHER,
                                                                  "value": hex(value), "gas": hex(21_000)}))

    def wait_commitments_delivered(self, count: int) -> None:
        reporter = self.services.commitments
        assert reporter is not None
        deadline = time.monotonic() + WAIT_S
        while reporter.delivered < count:
            assert time.monotonic() < deadline, "state commitments not delivered to the manager"
            time.sleep(0.02)

    def store_raw(self, payload: bytes) -> None:
        token = self.manager.q2t_token
        response = httpx.post(f"{self.manager.q2t_url}/storeraw", json={"payload": base64.b64encode(payload).decode()},
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200, response.text


def rows(path: Path, exclude: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a SQLite file, read beside the running processes."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if r[0] not in exclude and not r[0].startswith("sqlite_")]
        return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall()) for table in tables}


def start_manager(directory: Path, dev_snapshots: bool = True) -> ManagerProcess:
    keys = [KeyConfig(public_key_file=pub, private_key_file=key)
            for pub, key in (write_key_files(directory, name, None) for name in ("own", "other"))]
    settings = ManagerSettings(q2t_port=0, p2p_port=0, q2t_token_file=directory / "q2t.token",
                               db_url=f"sqlite:///{directory / 'manager.db'}", keys=keys,
                               gossip_interval_seconds=3600, log_level="warning", dev_snapshots=dev_snapshots)
    return ManagerProcess(settings).start()


def node_settings(directory: Path, manager: ManagerProcess | None, snapshots: bool = True) -> NodeSettings:
    privacy = PrivacySettings()
    if manager is not None:
        privacy = PrivacySettings(enabled=True, q2t_url=manager.q2t_url, q2t_token_file=manager.settings.q2t_token_file,
                                  retries=0, retry_delay_s=0)
    return NodeSettings(data_dir=directory, privacy=privacy, dev=DevSettings(snapshots=snapshots))


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    manager = start_manager(tmp_path / "manager")
    try:
        settings = node_settings(tmp_path / "node", manager)
        services = build_node(settings)
        services.node.start()  # as engine.server.run starts them
        assert services.commitments is not None
        services.commitments.start()
        try:
            app = make_server(services, settings).config.app
            yield Dev(services, Rpc(app), settings, manager, manager.public_keys[1])
        finally:
            services.commitments.stop()
            if services.snapshots is not None:
                services.snapshots.close()
            services.node.stop()
    finally:
        manager.stop()


def observe(dev: Dev, contract: str) -> dict[str, Any]:
    """What JSON-RPC shows of the node's state and the manager's store."""
    rpc = dev.rpc
    return {
        "head": rpc("eth_blockNumber"),
        "head_hash": rpc("eth_getBlockByNumber", "latest", False)["hash"],
        "storage_root": rpc("eth_storageRoot", contract),
        "slot0": rpc("eth_getStorageAt", contract, "0x0", "latest"),
        "code": rpc("eth_getCode", contract, "latest"),
        "balances": [rpc("eth_getBalance", a, "latest") for a in (dev.sender, OTHER)],
        "nonce": rpc("eth_getTransactionCount", dev.sender, "latest"),
        "pending_nonce": rpc("eth_getTransactionCount", dev.sender, "pending"),
    }


def test_a_revert_restores_the_node_its_private_state_and_its_manager_exactly(dev: Dev) -> None:
    deployed = dev.send_private(RECORDER_INIT)
    contract = deployed["contractAddress"]
    assert deployed["status"] == "0x1" and contract is not None
    dev.send_private(word(7), to=contract)
    dev.send_public(5)
    dev.wait_commitments_delivered(2)
    node_db, manager_db = dev.settings.data_dir / "chain.sqlite", dev.manager.settings.db_url[len("sqlite:///"):]
    ordering_db = dev.settings.ordering_path()
    before = observe(dev, contract)
    before_rows = rows(node_db), rows(Path(manager_db)), rows(ordering_db)
    assert before["slot0"] == "0x" + word(7).hex()

    snapshot_id = dev.rpc("evm_snapshot")
    assert snapshot_id == "0x1"
    block_filter = dev.rpc("eth_newBlockFilter")

    # Everything moves on: private state, a public transfer, a new stored payload, more blocks.
    changed = dev.send_private(word(99), to=contract)
    transfer = dev.send_public(11)
    dev.store_raw(b"a payload stored after the snapshot")
    dev.wait_commitments_delivered(3)
    moved = observe(dev, contract)
    assert moved["slot0"] == "0x" + word(99).hex()
    for key in ("head", "storage_root", "balances", "nonce"):
        assert moved[key] != before[key], key
    assert rows(Path(manager_db)) != before_rows[1]
    assert len(dev.rpc("eth_getFilterChanges", block_filter)) == 2

    assert dev.rpc("evm_revert", snapshot_id) is True

    assert observe(dev, contract) == before
    assert (rows(node_db), rows(Path(manager_db)), rows(ordering_db)) == before_rows
    # Nothing of what came after the snapshot is served from a cache either.
    for receipt in (changed, transfer):
        assert dev.rpc("eth_getTransactionReceipt", receipt["transactionHash"]) is None
        assert dev.rpc("eth_getTransactionByHash", receipt["transactionHash"]) is None
    assert dev.rpc("eth_getBlockByNumber", hex(int(before["head"], 16) + 1), False) is None
    # A consumed snapshot is gone.
    assert dev.rpc("evm_revert", snapshot_id) is False

    # New transactions mine at the reverted heights, with the reverted nonces, and filters see them.
    again = dev.send_private(word(123), to=contract)
    assert int(again["blockNumber"], 16) == int(before["head"], 16) + 1
    assert again["transactionHash"] != changed["transactionHash"]
    assert dev.rpc("eth_getStorageAt", contract, "0x0", "latest") == "0x" + word(123).hex()
    assert dev.rpc("eth_getTransactionCount", dev.sender, "latest") == hex(int(before["nonce"], 16) + 1)
    assert dev.rpc("eth_getFilterChanges", block_filter) == [again["blockHash"]]
    assert dev.rpc("eth_getCode", contract, "latest") == "0x" + RECORDER_RUNTIME.hex()


def test_reverting_consumes_that_snapshot_and_later_ones_and_keeps_earlier_ones(dev: Dev) -> None:
    contract = dev.send_private(RECORDER_INIT)["contractAddress"]
    values = {}
    ids = []
    for value in (1, 2, 3):
        dev.send_private(word(value), to=contract)
        ids.append(dev.rpc("evm_snapshot"))
        values[ids[-1]] = dev.rpc("eth_getStorageAt", contract, "0x0", "latest")
    assert ids == ["0x1", "0x2", "0x3"]
    directory = dev.settings.data_dir / "snapshots"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {p.name for p in directory.iterdir()} == {"1.sqlite", "2.sqlite", "3.sqlite"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in directory.iterdir())
    manager_copies = Path(dev.manager.settings.db_url[len("sqlite:///"):] + ".snapshots")
    assert len(list(manager_copies.glob("*.sqlite"))) == 3

    dev.send_private(word(4), to=contract)
    assert dev.rpc("evm_revert", "0x2") is True
    assert dev.rpc("eth_getStorageAt", contract, "0x0", "latest") == values["0x2"]
    assert dev.rpc("evm_revert", "0x3") is False  # taken after 0x2: consumed with it
    assert dev.rpc("evm_revert", "0x2") is False
    assert {p.name for p in directory.iterdir()} == {"1.sqlite"}
    assert len(list(manager_copies.glob("*.sqlite"))) == 1
    assert dev.rpc("evm_revert", "0x1") is True  # earlier ones stay valid
    assert dev.rpc("eth_getStorageAt", contract, "0x0", "latest") == values["0x1"]
    assert dev.rpc("evm_snapshot") == "0x4"  # ids are never reused
    assert dev.rpc("evm_revert", "0x1") is False


def test_bad_ids_get_clear_errors(dev: Dev) -> None:
    assert dev.rpc("evm_revert", "0x99") is False
    for bad in ("1", 1, "0xzz", None):
        error = dev.rpc.raw("evm_revert", bad)["error"]
        assert error["code"] == -32602, error
    assert dev.rpc.raw("evm_snapshot", "0x1")["error"]["code"] == -32602  # takes no parameter


def test_a_snapshot_with_pending_transactions_is_refused(tmp_path: Path) -> None:
    """Pending transactions are not part of a snapshot: refused (-32000) rather than dropped."""
    settings = node_settings(tmp_path / "node", None)
    services = build_node(settings)  # not started: nothing mines what is sent
    try:
        rpc = Rpc(make_server(services, settings).config.app)
        address, key = services.node.dev_accounts[0]
        signed = Account.sign_transaction({"nonce": 0, "gasPrice": 0, "gas": 21_000, "to": OTHER, "value": 1,
                                           "chainId": settings.chain_id}, key)
        rpc("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
        error = rpc.raw("evm_snapshot")["error"]
        assert error == {"code": -32000, "message": "cannot take a snapshot with 1 pending transaction(s) in the "
                                                    "pool; wait until they are mined"}
        assert not (tmp_path / "node" / "snapshots").exists() or not list((tmp_path / "node" / "snapshots").iterdir())
    finally:
        services.node.stop()


def test_a_node_without_the_setting_does_not_have_the_methods(tmp_path: Path) -> None:
    settings = node_settings(tmp_path / "node", None, snapshots=False)
    services = build_node(settings)
    try:
        assert services.snapshots is None
        rpc = Rpc(make_server(services, settings).config.app)
        for method, params in (("evm_snapshot", ()), ("evm_revert", ("0x1",))):
            assert rpc.raw(method, *params)["error"] == {
                "code": -32601, "message": f"the method {method} does not exist/is not available"}
    finally:
        services.node.stop()


def test_a_manager_without_the_setting_makes_the_snapshot_fail_clearly(tmp_path: Path) -> None:
    manager = start_manager(tmp_path / "manager", dev_snapshots=False)
    try:
        settings = node_settings(tmp_path / "node", manager)
        services = build_node(settings)
        try:
            rpc = Rpc(make_server(services, settings).config.app)
            assert rpc.raw("evm_snapshot")["error"] == {
                "code": -32000, "message": "the private transaction manager does not take snapshots: set "
                                           "dev_snapshots = true in its configuration"}
            assert not list((tmp_path / "node" / "snapshots").glob("*.sqlite"))
        finally:
            services.node.stop()
    finally:
        manager.stop()


def test_a_node_without_a_manager_snapshots_its_own_chain(tmp_path: Path) -> None:
    settings = node_settings(tmp_path / "node", None)
    services = build_node(settings)
    services.node.start()
    try:
        rpc = Rpc(make_server(services, settings).config.app)
        sender = "0x" + services.node.dev_accounts[0][0].hex()
        before = rpc("eth_getBalance", OTHER, "latest"), rpc("eth_blockNumber")
        snapshot_id = rpc("evm_snapshot")
        tx_hash = rpc("eth_sendTransaction", {"from": sender, "to": OTHER, "value": "0x5", "gas": hex(21_000)})
        deadline = time.monotonic() + WAIT_S
        while rpc("eth_getTransactionReceipt", tx_hash) is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert rpc("eth_getBalance", OTHER, "latest") == "0x5"
        assert rpc("evm_revert", snapshot_id) is True
        assert (rpc("eth_getBalance", OTHER, "latest"), rpc("eth_blockNumber")) == before
    finally:
        if services.snapshots is not None:
            services.snapshots.close()
        services.node.stop()


def test_snapshots_need_the_local_ordering_service(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[dev]\nsnapshots = true\n\n[ordering]\nkind = "etcd"\netcd_endpoints = ["http://127.0.0.1:2379"]\n')
    with pytest.raises(ConfigError, match="dev: Value error, snapshots need ordering.kind 'local'"):
        load_settings(config)
