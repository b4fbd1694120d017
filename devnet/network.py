"""A development network on one machine: N managers + N nodes as real processes.

`privnet up` and the e2e tests use this. First use of a directory generates everything
(manager keys, genesis, node configs, unlocked development accounts); later uses reuse
it, so `privnet down` then `privnet up` keeps the public and private state.

Layout of DIR::

    network.json            the user-facing contract (DESIGN.md §3)
    genesis.json            the same genesis for every node
    ordering.sqlite         the `local` ordering service's shared block log
    managers/nodeN/         manager.toml, key files, manager.db
    nodes/nodeN/            node.toml, accounts.json, chain.sqlite
    pids.json               processes of a detached network
    logs/                   one log file per process
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devnet.managers import create_dev_network, dump_toml
from engine.chain.genesis import DEV_BALANCE, GENESIS_TIMESTAMP, GenesisSpec, derive_dev_accounts

ACCOUNTS_PER_NODE = 2
DEFAULT_CHAIN_ID = 1337
START_TIMEOUT_S = 60.0


class NetworkError(Exception):
    """Raised when the network cannot be created, started or reached."""


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class NodeLayout:
    name: str
    node_dir: Path
    manager_dir: Path
    rpc_port: int
    q2t_port: int
    p2p_port: int

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def q2t_url(self) -> str:
        return f"http://127.0.0.1:{self.q2t_port}"

    @property
    def p2p_url(self) -> str:
        return f"http://127.0.0.1:{self.p2p_port}"


def init_network(directory: Path, nodes: int = 4, chain_id: int = DEFAULT_CHAIN_ID,
                 ordering: str = "local", etcd: list[str] | None = None) -> dict[str, Any]:
    """Generate keys, genesis and configs on first use; return the network spec."""
    spec_path = directory / "network.json"
    if spec_path.exists():
        spec = json.loads(spec_path.read_text())
        if len(spec["nodes"]) != nodes:
            raise NetworkError(f"{directory} holds a {len(spec['nodes'])}-node network; use that size or a new --dir")
        return dict(spec)
    if nodes < 1:
        raise NetworkError("a network needs at least one node")
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"node{i + 1}" for i in range(nodes)]
    ports = _free_ports(3 * nodes)
    layouts = [NodeLayout(name, directory / "nodes" / name, directory / "managers" / name,
                          ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]) for i, name in enumerate(names)]
    managers = create_dev_network(directory / "managers", names, [(n.q2t_port, n.p2p_port) for n in layouts])
    seed = f"privnet-{os.urandom(8).hex()}"
    accounts = {n.name: derive_dev_accounts(seed, ACCOUNTS_PER_NODE, start=i * ACCOUNTS_PER_NODE)
                for i, n in enumerate(layouts)}
    genesis = GenesisSpec(chain_id=chain_id, gas_limit=100_000_000, timestamp=GENESIS_TIMESTAMP,
                          alloc={a.address: DEV_BALANCE for accs in accounts.values() for a in accs})
    genesis.write(directory / "genesis.json")
    entries = []
    for layout, manager in zip(layouts, managers, strict=True):
        layout.node_dir.mkdir(parents=True, exist_ok=True)
        keys_file = layout.node_dir / "accounts.json"
        keys_file.write_text(json.dumps(["0x" + a.private_key.hex() for a in accounts[layout.name]]))
        keys_file.chmod(0o600)
        ordering_table: dict[str, Any] = {"kind": ordering}
        if ordering == "local":
            ordering_table["path"] = str((directory / "ordering.sqlite").resolve())
        else:
            ordering_table["etcd_endpoints"] = list(etcd or [])
        node_config = {
            "name": layout.name,
            "data_dir": ".",
            "chain_id": chain_id,
            "genesis_file": str((directory / "genesis.json").resolve()),
            "unlocked_keys_file": "accounts.json",
            "rpc": {"host": "127.0.0.1", "port": layout.rpc_port},
            "privacy": {"enabled": True, "q2t_url": layout.q2t_url},
            "ordering": ordering_table,
        }
        (layout.node_dir / "node.toml").write_text(dump_toml(node_config))
        entries.append({
            "name": layout.name,
            "rpc_url": layout.rpc_url,
            "ptm_q2t_url": manager.q2t_url,
            "ptm_p2p_url": manager.p2p_url,
            "ptm_public_key": manager.public_key,
            "accounts": [a.to_json() for a in accounts[layout.name]],
            "node_config": str(layout.node_dir / "node.toml"),
            "manager_config": str(manager.config_path),
        })
    spec = {"chain_id": chain_id, "ordering": ordering, "nodes": entries}
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    return spec


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, what: str,
               method: str = "GET", body: Any = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise NetworkError(f"{what} exited with code {process.returncode}; log {log}:\n{tail}")
        try:
            response = httpx.request(method, url, json=body, timeout=1.0)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise NetworkError(f"{what} did not answer at {url} within {START_TIMEOUT_S:.0f} s; log {log}")


def _spawn(args: list[str], log: Path, detach: bool) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    repo_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=detach)


class LocalNetwork:
    """Start (and stop) every manager and node of DIR as subprocesses."""

    def __init__(self, directory: Path, nodes: int = 4, chain_id: int = DEFAULT_CHAIN_ID,
                 ordering: str = "local", etcd: list[str] | None = None) -> None:
        self.directory = directory
        self.spec = init_network(directory, nodes, chain_id, ordering, etcd)
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, detach: bool = False) -> dict[str, Any]:
        if (self.directory / "pids.json").exists() and _alive(_read_pids(self.directory)):
            raise NetworkError(f"a network is already running from {self.directory} (privnet down first)")
        self._check_ports()
        logs = self.directory / "logs"
        try:
            for node in self.spec["nodes"]:
                proc = _spawn([sys.executable, "-m", "tessera_like", "--config", node["manager_config"]],
                              logs / f"{node['name']}-manager.log", detach)
                self.processes.append((f"{node['name']}-manager", proc))
            for node, (_, proc) in zip(self.spec["nodes"], self.processes, strict=True):
                _wait_http(node["ptm_q2t_url"] + "/upcheck", proc, logs / f"{node['name']}-manager.log",
                           f"manager of {node['name']}")
            node_procs = []
            for node in self.spec["nodes"]:
                proc = _spawn([sys.executable, "-m", "engine", "--config", node["node_config"]],
                              logs / f"{node['name']}.log", detach)
                self.processes.append((node["name"], proc))
                node_procs.append((node, proc))
            for node, proc in node_procs:
                _wait_http(node["rpc_url"], proc, logs / f"{node['name']}.log", node["name"], "POST",
                           {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
            self._wait_for_discovery()
        except BaseException:
            self.stop()
            raise
        self._write_pids()
        return self.spec

    def _write_pids(self) -> None:
        (self.directory / "pids.json").write_text(json.dumps({name: p.pid for name, p in self.processes}))

    def stop_process(self, name: str) -> None:
        """Stop one process of the running network: a node (`node2`) or a manager (`node2-manager`)."""
        for index, (running, proc) in enumerate(self.processes):
            if running == name:
                _terminate([proc])
                del self.processes[index]
                self._write_pids()
                return
        raise NetworkError(f"no running process {name!r}")

    def start_process(self, name: str) -> None:
        """Start a process `stop_process` stopped, on its configured ports; return once it answers."""
        if any(running == name for running, _ in self.processes):
            raise NetworkError(f"{name} is already running")
        node_name, is_manager = (name[: -len("-manager")], True) if name.endswith("-manager") else (name, False)
        node = next((n for n in self.spec["nodes"] if n["name"] == node_name), None)
        if node is None:
            raise NetworkError(f"no node {node_name!r} in this network")
        log = self.directory / "logs" / f"{name}.log"
        if is_manager:
            proc = _spawn([sys.executable, "-m", "tessera_like", "--config", node["manager_config"]], log, False)
            self.processes.append((name, proc))
            _wait_http(node["ptm_q2t_url"] + "/upcheck", proc, log, f"manager of {node_name}")
            self._wait_for_discovery()
        else:
            proc = _spawn([sys.executable, "-m", "engine", "--config", node["node_config"]], log, False)
            self.processes.append((name, proc))
            _wait_http(node["rpc_url"], proc, log, name, "POST",
                       {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        self._write_pids()

    def _check_ports(self) -> None:
        for node in self.spec["nodes"]:
            for url in (node["rpc_url"], node["ptm_q2t_url"], node["ptm_p2p_url"]):
                port = int(url.rsplit(":", 1)[1])
                if not _port_is_free(port):
                    raise NetworkError(f"port {port} ({url}) of {node['name']} is in use")

    def _wait_for_discovery(self) -> None:
        """Managers gossip party info; wait until each one knows every key."""
        wanted = {n["ptm_public_key"] for n in self.spec["nodes"]}
        deadline = time.monotonic() + START_TIMEOUT_S
        for node in self.spec["nodes"]:
            while True:
                try:
                    keys = {k["key"] for k in httpx.get(node["ptm_q2t_url"] + "/partyinfo/keys", timeout=2).json()
                            ["keys"]}
                except (httpx.HTTPError, ValueError, KeyError):
                    keys = set()
                if wanted <= keys:
                    break
                if time.monotonic() > deadline:
                    raise NetworkError(f"manager of {node['name']} did not discover every peer's key")
                time.sleep(0.2)

    def stop(self) -> None:
        _terminate([p for _, p in reversed(self.processes)])
        self.processes = []
        (self.directory / "pids.json").unlink(missing_ok=True)

    def wait(self) -> None:
        """Block until a signal arrives or a process dies; then stop everything."""
        stop = {"flag": False}

        def on_signal(_signum: int, _frame: Any) -> None:
            stop["flag"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            while not stop["flag"]:
                for name, proc in self.processes:
                    if proc.poll() is not None:
                        print(f"{name} exited with code {proc.returncode}; stopping the network", file=sys.stderr)
                        stop["flag"] = True
                time.sleep(0.2)
        finally:
            self.stop()

    def __enter__(self) -> LocalNetwork:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _terminate(processes: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_pids(directory: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads((directory / "pids.json").read_text()).items()}
    except (FileNotFoundError, ValueError):
        return {}


def _alive(pids: dict[str, int]) -> bool:
    for pid in pids.values():
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            continue
    return False


def stop_network(directory: Path, timeout: float = 20.0) -> list[str]:
    """Stop a detached network (privnet down); returns the names it signalled."""
    pids = _read_pids(directory)
    stopped = []
    for name, pid in sorted(pids.items(), key=lambda kv: "manager" in kv[0]):  # nodes first
        try:
            os.kill(pid, signal.SIGTERM)
            stopped.append(name)
        except OSError:
            continue
    deadline = time.monotonic() + timeout
    for pid in pids.values():
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    (directory / "pids.json").unlink(missing_ok=True)
    return stopped


def network_status(directory: Path) -> list[dict[str, Any]]:
    """Per node: is its RPC up (and at which block), is its manager up."""
    spec_path = directory / "network.json"
    if not spec_path.exists():
        raise NetworkError(f"no network in {directory} (run privnet up)")
    spec = json.loads(spec_path.read_text())
    rows = []
    for node in spec["nodes"]:
        row: dict[str, Any] = {"name": node["name"], "rpc_url": node["rpc_url"], "block": None,
                               "node": "down", "manager": "down"}
        try:
            r = httpx.post(node["rpc_url"], json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                                  "params": []}, timeout=2)
            row["block"] = int(r.json()["result"], 16)
            row["node"] = "up"
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        try:
            if httpx.get(node["ptm_q2t_url"] + "/upcheck", timeout=2).status_code == 200:
                row["manager"] = "up"
        except httpx.HTTPError:
            pass
        rows.append(row)
    return rows
