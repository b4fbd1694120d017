"""Operating a network from the shell: `privnet up/status/stop/start/restart/down` as separate
processes against one directory, on a 3-node network whose nodes and managers each listen on an
address of their own (127.0.0.(10+i) and 127.0.0.(100+i); each manager's Q2T API is a unix socket
in its directory); then the same with `--ordering etcd`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from devnet.network import LocalNetwork
from devnet.q2t import q2t_request, socket_path
from tests.helpers.network import POLL_S, WAIT_S, Rpc, listening_sockets, privnet, require_etcd

pytestmark = pytest.mark.e2e


class Shell:
    """A network directory driven only through the CLI, plus raw JSON-RPC clients for its nodes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.spec: dict[str, Any] = {}
        self.rpc: dict[str, Rpc] = {}

    def __call__(self, *args: str, ok: bool = True) -> str:
        done = privnet(self.directory, *args)
        if ok:
            assert done.returncode == 0, f"privnet {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def up(self, *args: str) -> None:
        self("up", "--nodes", "3", "--detach", *args)
        self.spec = json.loads((self.directory / "network.json").read_text())
        self.rpc = {n["name"]: Rpc(n["rpc_url"]) for n in self.spec["nodes"]}

    def down(self) -> None:
        self("down")
        for rpc in self.rpc.values():
            rpc.close()

    def status(self) -> tuple[int, dict[str, list[str]], str]:
        """(exit code, the row of each node and etcd member by name, the whole output)."""
        done = privnet(self.directory, "status")
        rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()
                if re.match(r"(node|etcd)\d+ ", line)}
        return done.returncode, rows, done.stdout

    def pids(self) -> dict[str, int]:
        path = self.directory / "pids.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def head(self, name: str) -> int:
        return int(self.rpc[name]("eth_blockNumber"), 16)

    def transfer(self, name: str) -> str:
        """A public 1-wei transfer from `name`'s first account to itself; the transaction hash."""
        me = next(n for n in self.spec["nodes"] if n["name"] == name)["accounts"][0]["address"]
        return str(self.rpc[name]("eth_sendTransaction", {"from": me, "to": me, "value": "0x1", "gas": hex(21_000)}))

    def wait_receipt(self, name: str, tx_hash: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while (receipt := self.rpc[name]("eth_getTransactionReceipt", tx_hash)) is None:
            assert time.monotonic() < deadline, f"{name}: no receipt for {tx_hash}"
            time.sleep(POLL_S)
        return dict(receipt)

    def wait_head(self, name: str, number: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.head(name) < number:
            assert time.monotonic() < deadline, f"{name} did not reach block #{number}"
            time.sleep(POLL_S)

    def block_hash(self, name: str, number: int) -> str:
        return str(self.rpc[name]("eth_getBlockByNumber", hex(number), False)["hash"])


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    sh = Shell(tmp_path_factory.mktemp("operate"))
    sh.up()
    try:
        yield sh
    finally:
        sh.down()


def test_every_node_and_manager_listens_on_an_address_of_its_own(shell: Shell) -> None:
    listening = listening_sockets()
    seen: set[str] = set()
    for i, node in enumerate(shell.spec["nodes"], start=1):
        rpc, p2p = (urlsplit(node[k]) for k in ("rpc_url", "ptm_p2p_url"))
        assert rpc.hostname == f"127.0.0.{10 + i}"
        assert p2p.hostname == f"127.0.0.{100 + i}" and p2p.scheme == "https"
        assert socket_path(node["ptm_q2t_url"]) == str(Path(node["manager_config"]).parent / "tm.ipc")
        seen |= {rpc.hostname, p2p.hostname}
        for url in (rpc, p2p):  # bound to that address exactly, not to 0.0.0.0 or 127.0.0.1
            assert (url.hostname, url.port) in listening
            assert ("0.0.0.0", url.port) not in listening and ("127.0.0.1", url.port) not in listening
        node_toml = tomllib.loads(Path(node["node_config"]).read_text())
        assert node_toml["rpc"] == {"host": rpc.hostname, "port": rpc.port}
        assert node_toml["privacy"]["q2t_url"] == node["ptm_q2t_url"]
        manager_toml = tomllib.loads(Path(node["manager_config"]).read_text())
        assert (manager_toml["q2t_socket"], manager_toml["p2p_host"]) == ("tm.ipc", p2p.hostname)
        assert "q2t_port" not in manager_toml
        assert manager_toml["p2p_url"] == node["ptm_p2p_url"]
        assert sorted(manager_toml["peers"]) == sorted(n["ptm_p2p_url"] for n in shell.spec["nodes"] if n != node)
    assert len(seen) == 2 * len(shell.spec["nodes"])
    node1, node2 = (urlsplit(n["rpc_url"]) for n in shell.spec["nodes"][:2])
    assert answers(node2.hostname or "", node2.port or 0)
    assert not answers(node1.hostname or "", node2.port or 0)  # node2's port on node1's address: nothing
    assert not answers("127.0.0.1", node2.port or 0)


def test_status_shows_the_ordering_the_producer_and_every_process_up(shell: Shell) -> None:
    code, rows, out = shell.status()
    assert code == 0, out
    match = re.search(r"ordering (\w+), producer (\S+)", out)
    assert match and match.group(1) == "local" and match.group(2) in {"node1", "node2", "node3"}, out
    assert sorted(rows) == ["node1", "node2", "node3"]
    for row in rows.values():  # node  rpc-url  node  head  lag  manager  q2t-url
        assert row[2] == "up" and row[5] == "up", out
        assert int(row[4]) >= 0


def test_a_stopped_node_misses_blocks_and_catches_up_when_started(shell: Shell) -> None:
    pid = shell.pids()["node2"]
    out = shell("stop", "node2")
    assert f"stopped node2 (pid {pid}, SIGTERM)" in out
    assert not pid_alive(pid) and "node2" not in shell.pids()
    code, rows, out = shell.status()
    assert code == 1, out
    assert rows["node2"][2] == "down" and rows["node2"][3] == "-", out
    assert all(rows[n][2] == "up" and rows[n][5] == "up" for n in ("node1", "node3")), out
    assert rows["node2"][5] == "up"  # its manager is still up

    tx = shell.transfer("node1")  # sent while node2 is down: the others go on
    mined = int(shell.wait_receipt("node1", tx)["blockNumber"], 16)
    shell.wait_receipt("node3", tx)

    out = shell("start", "node2")
    assert re.search(r"started node2 \(pid \d+\); it answers at " + re.escape(shell.spec["nodes"][1]["rpc_url"]), out)
    assert pid_alive(shell.pids()["node2"])
    head = shell.head("node1")
    assert head >= mined
    shell.wait_head("node2", head)
    assert shell.block_hash("node2", head) == shell.block_hash("node1", head)
    assert shell.wait_receipt("node2", tx)["blockHash"] == shell.wait_receipt("node1", tx)["blockHash"]
    code, _, out = shell.status()
    assert code == 0, out


def test_restart_a_manager(shell: Shell) -> None:
    before = shell.pids()["node1-manager"]
    out = shell("restart", "node1-manager")
    assert f"stopped node1-manager (pid {before}, SIGTERM)" in out and "started node1-manager" in out
    after = shell.pids()["node1-manager"]
    assert after != before and pid_alive(after) and not pid_alive(before)
    q2t = shell.spec["nodes"][0]["ptm_q2t_url"]
    assert q2t_request(q2t, "GET", "/upcheck", timeout=5).status_code == 200
    keys = {k["key"] for k in q2t_request(q2t, "GET", "/partyinfo/keys", timeout=5).json()["keys"]}
    assert keys >= {n["ptm_public_key"] for n in shell.spec["nodes"]}
    # a private transaction through the restarted manager reaches its recipient
    me, other = shell.spec["nodes"][0], shell.spec["nodes"][1]
    tx = shell.rpc["node1"]("eth_sendTransaction", {
        "from": me["accounts"][0]["address"], "to": other["accounts"][0]["address"], "data": "0x1234",
        "gas": hex(100_000), "privateFor": [other["ptm_public_key"]]})
    assert shell.wait_receipt("node2", tx)["status"] == "0x1"
    code, _, out = shell.status()
    assert code == 0, out


def test_in_process_and_cli_share_one_view_of_the_processes(shell: Shell) -> None:
    """LocalNetwork.stop_process/start_process (the outage tests' way) and the CLI go through the same
    code and the same pids.json: each stops what the other started."""
    local = LocalNetwork(shell.directory)
    local.stop_process("node3-manager")  # started by `privnet up` in another process
    assert "node3-manager" not in shell.pids()
    code, rows, out = shell.status()
    assert code == 1 and rows["node3"][5] == "down" and rows["node3"][2] == "up", out
    local.start_process("node3-manager")
    (name, proc), = local.processes
    assert name == "node3-manager" and shell.pids()[name] == proc.pid
    assert f"stopped node3-manager (pid {proc.pid}, SIGTERM)" in shell("restart", "node3-manager")
    assert proc.wait(timeout=5) is not None
    code, _, out = shell.status()
    assert code == 0, out


def test_clear_errors(shell: Shell) -> None:
    out = shell("stop", "node9", ok=False)
    assert "no process 'node9'" in out and "node1-manager" in out
    out = shell("start", "node1", ok=False)
    assert f"node1 is already running (pid {shell.pids()['node1']})" in out
    shell("stop", "node3", "--kill")
    out = shell("stop", "node3", ok=False)
    assert "node3 is not running" in out
    assert "node3 was not running" in shell("restart", "node3")
    out = shell("up", "--ordering", "etcd", ok=False)
    assert "holds a network with local ordering" in out


@pytest.mark.slow
def test_etcd_ordering_with_a_local_cluster(tmp_path: Path) -> None:
    require_etcd("etcd")
    sh = Shell(tmp_path)
    sh.up("--ordering", "etcd")
    try:
        assert sh.spec["ordering"] == "etcd" and sh.spec["etcd_cluster"] == "local"
        endpoints = sh.spec["etcd_endpoints"]
        assert len(endpoints) == 3
        for node in sh.spec["nodes"]:
            assert tomllib.loads(Path(node["node_config"]).read_text())["ordering"] == {
                "kind": "etcd", "etcd_endpoints": endpoints}
        pids = sh.pids()
        assert {"etcd1", "etcd2", "etcd3"} <= set(pids) and all(pid_alive(p) for p in pids.values())
        code, rows, out = sh.status()
        assert code == 0 and "ordering etcd" in out, out
        assert re.search(r"producer node\d", out), out
        assert [rows[f"etcd{i}"][2] for i in (1, 2, 3)] == ["up"] * 3, out

        assert f"stopped etcd2 (pid {pids['etcd2']}, SIGTERM)" in sh("stop", "etcd2")
        code, rows, out = sh.status()
        assert code == 1 and rows["etcd2"][2] == "down" and rows["etcd1"][2] == "up", out
        tx = sh.transfer("node1")  # one member of three down: blocks keep coming
        mined = int(sh.wait_receipt("node3", tx)["blockNumber"], 16)

        assert "started etcd2" in sh("start", "etcd2")
        code, rows, out = sh.status()
        assert code == 0 and rows["etcd2"][2] == "up", out
        tx = sh.transfer("node2")
        assert int(sh.wait_receipt("node1", tx)["blockNumber"], 16) > mined
    finally:
        pids = sh.pids()
        sh.down()
    assert not (tmp_path / "pids.json").exists()
    assert [name for name, pid in pids.items() if pid_alive(pid)] == []
