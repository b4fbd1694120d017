"""A development network on one machine: N managers + N nodes as real processes.

`privnet up` and the e2e tests use this. First use of a directory generates everything
(manager keys, genesis, node configs, unlocked development accounts); later uses reuse
it, so `privnet down` then `privnet up` keeps the public and private state.

The nodes share nothing but the ordering service and HTTP, as on separate machines: each
node and each manager has its own directory and its own loopback address (Linux routes all
of 127.0.0.0/8 to `lo`, no setup needed), with a free port picked on that address once:

    node i JSON-RPC            127.0.0.(10+i)      e.g. node2 → http://127.0.0.12:<port>
    manager of node i          127.0.0.(100+i)     Q2T and P2P, each on its own port
    local etcd members         127.0.0.200         `--ordering etcd` without `--etcd URL`

Layout of DIR::

    network.json            the user-facing contract (DESIGN.md §3)
    genesis.json            the same genesis for every node
    ordering.sqlite         the `local` ordering service's shared block log
    etcd/                   the local etcd cluster of `--ordering etcd` (devnet.etcd)
    managers/nodeN/         manager.toml, key files, manager.db
    nodes/nodeN/            node.toml, accounts.json, chain.sqlite
    pids.json               name → pid of every running process (nodeN, nodeN-manager, etcdN)
    logs/                   one log file per node and manager
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from devnet.etcd import EtcdCluster, EtcdError, etcd_available
from devnet.managers import create_dev_network, dump_toml
from engine.chain.genesis import DEV_BALANCE, GENESIS_TIMESTAMP, GenesisSpec, derive_dev_accounts

ACCOUNTS_PER_NODE = 2
DEFAULT_CHAIN_ID = 1337
DEFAULT_NODES = 4
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
MAX_NODES = 89  # node i's RPC on 127.0.0.(10+i) stays below the managers' 127.0.0.(100+i)
ETCD_HOST = "127.0.0.200"
ETCD_MEMBERS = 3
CHAIN_ID_BODY = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}


class NetworkError(Exception):
    """Raised when the network cannot be created, started or reached."""


class NotRunning(NetworkError):
    """Raised when a process to stop is not running."""


def node_host(index: int) -> str:
    """The loopback address of node `index` (1-based)'s JSON-RPC."""
    return f"127.0.0.{10 + index}"


def manager_host(index: int) -> str:
    """The loopback address of node `index` (1-based)'s manager (Q2T and P2P)."""
    return f"127.0.0.{100 + index}"


def _reserve_ports(hosts: Sequence[str]) -> list[int]:
    """One free port on each address of `hosts`, all held at once (an address may repeat: its ports differ)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in hosts]
        for sock, host in zip(sockets, hosts, strict=True):
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is fine
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class NodeLayout:
    index: int  # 1-based: node1 is 1
    name: str
    node_dir: Path
    manager_dir: Path
    rpc_port: int
    q2t_port: int
    p2p_port: int

    @property
    def rpc_url(self) -> str:
        return f"http://{node_host(self.index)}:{self.rpc_port}"

    @property
    def q2t_url(self) -> str:
        return f"http://{manager_host(self.index)}:{self.q2t_port}"


def _etcd_cluster(directory: Path, detach: bool = False) -> EtcdCluster:
    """A handle on DIR's local etcd cluster (ports from its cluster.json; nothing started)."""
    cluster = EtcdCluster((directory / "etcd").resolve(), ETCD_MEMBERS, ETCD_HOST)
    # A fresh handle has not run start(detach): start_member spawns in the session mode set here.
    cluster._detach = detach
    return cluster


def init_network(directory: Path, nodes: int | None = None, chain_id: int = DEFAULT_CHAIN_ID,
                 ordering: str | None = None, etcd: list[str] | None = None) -> dict[str, Any]:
    """Generate keys, genesis and configs on first use; return the network spec.

    `nodes`, `ordering` and `etcd` left out reuse what DIR holds (new: 4 nodes, `local`);
    `ordering="etcd"` without `etcd` URLs means a local 3-member cluster under DIR/etcd/.
    """
    spec_path = directory / "network.json"
    if spec_path.exists():
        spec = json.loads(spec_path.read_text())
        if nodes is not None and len(spec["nodes"]) != nodes:
            raise NetworkError(f"{directory} holds a {len(spec['nodes'])}-node network; use that size or a new --dir")
        held = spec.get("ordering", "local")
        if (ordering is not None and ordering != held) or (etcd and etcd != spec.get("etcd_endpoints")):
            where = f" at {', '.join(spec['etcd_endpoints'])}" if spec.get("etcd_cluster") == "external" else ""
            raise NetworkError(f"{directory} holds a network with {held} ordering{where}; use that or a new --dir")
        return dict(spec)
    nodes = DEFAULT_NODES if nodes is None else nodes
    ordering = ordering or ("etcd" if etcd else "local")
    if ordering == "local" and etcd:
        raise NetworkError("--etcd endpoints go with --ordering etcd")
    if nodes < 1:
        raise NetworkError("a network needs at least one node")
    if nodes > MAX_NODES:
        raise NetworkError(f"at most {MAX_NODES} nodes (one loopback address each)")
    if ordering == "etcd" and not etcd and not etcd_available():
        raise NetworkError("etcd is not installed (Debian: apt-get install etcd-server); "
                           "or name an existing cluster with --etcd URL")
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"node{i + 1}" for i in range(nodes)]
    ports = _reserve_ports([h for i in range(1, nodes + 1) for h in (node_host(i), manager_host(i), manager_host(i))])
    layouts = [NodeLayout(i + 1, name, directory / "nodes" / name, directory / "managers" / name,
                          ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]) for i, name in enumerate(names)]
    managers = create_dev_network(directory / "managers", names, [(n.q2t_port, n.p2p_port) for n in layouts],
                                  hosts=[manager_host(n.index) for n in layouts])
    seed = f"privnet-{os.urandom(8).hex()}"
    accounts = {n.name: derive_dev_accounts(seed, ACCOUNTS_PER_NODE, start=i * ACCOUNTS_PER_NODE)
                for i, n in enumerate(layouts)}
    genesis = GenesisSpec(chain_id=chain_id, gas_limit=100_000_000, timestamp=GENESIS_TIMESTAMP,
                          alloc={a.address: DEV_BALANCE for accs in accounts.values() for a in accs})
    genesis.write(directory / "genesis.json")
    spec: dict[str, Any] = {"chain_id": chain_id, "ordering": ordering}
    ordering_table: dict[str, Any] = {"kind": ordering}
    if ordering == "local":
        ordering_table["path"] = str((directory / "ordering.sqlite").resolve())
    else:
        spec["etcd_cluster"] = "external" if etcd else "local"
        spec["etcd_endpoints"] = ordering_table["etcd_endpoints"] = list(etcd or _etcd_cluster(directory).client_urls)
    entries = []
    for layout, manager in zip(layouts, managers, strict=True):
        layout.node_dir.mkdir(parents=True, exist_ok=True)
        keys_file = layout.node_dir / "accounts.json"
        keys_file.write_text(json.dumps(["0x" + a.private_key.hex() for a in accounts[layout.name]]))
        keys_file.chmod(0o600)
        node_config = {
            "name": layout.name,
            "data_dir": ".",
            "chain_id": chain_id,
            "genesis_file": str((directory / "genesis.json").resolve()),
            "unlocked_keys_file": "accounts.json",
            "rpc": {"host": node_host(layout.index), "port": layout.rpc_port},
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
            "node_config": str((layout.node_dir / "node.toml").resolve()),
            "manager_config": str(manager.config_path.resolve()),
        })
    spec["nodes"] = entries
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    return spec


def load_spec(directory: Path) -> dict[str, Any]:
    spec_path = directory / "network.json"
    if not spec_path.exists():
        raise NetworkError(f"no network in {directory} (run privnet up)")
    return dict(json.loads(spec_path.read_text()))


# -- the processes of a network, by name -------------------------------------------------------

@dataclass(frozen=True)
class _Member:
    """One process of the network under the name pids.json and `privnet stop/start` use."""

    name: str  # node2, node2-manager, etcd2
    kind: str  # "node", "manager" or "etcd"
    node: dict[str, Any]  # the node's network.json entry ({} for an etcd member)
    url: str  # where it answers: JSON-RPC, Q2T or etcd client URL
    etcd_index: int = -1  # the member's index in the EtcdCluster

    def command(self) -> list[str]:
        module, config = ("engine", "node_config") if self.kind == "node" else ("tessera_like", "manager_config")
        return [sys.executable, "-m", module, "--config", self.node[config]]

    def listens(self) -> list[str]:
        return [self.node["ptm_q2t_url"], self.node["ptm_p2p_url"]] if self.kind == "manager" else [self.url]


def _kind(name: str) -> str:
    return "manager" if name.endswith("-manager") else "etcd" if re.fullmatch(r"etcd\d+", name) else "node"


def _members(spec: dict[str, Any]) -> list[_Member]:
    """Every process of the network, in start order: etcd members (local cluster), managers, nodes."""
    etcd = [_Member(f"etcd{i + 1}", "etcd", {}, url, i) for i, url in enumerate(spec.get("etcd_endpoints", []))
            if spec.get("etcd_cluster") == "local"]
    managers = [_Member(f"{n['name']}-manager", "manager", n, n["ptm_q2t_url"]) for n in spec["nodes"]]
    return etcd + managers + [_Member(n["name"], "node", n, n["rpc_url"]) for n in spec["nodes"]]


def _member(spec: dict[str, Any], name: str) -> _Member:
    members = _members(spec)
    found = next((m for m in members if m.name == name), None)
    if found is None:
        raise NetworkError(f"no process {name!r} in this network; its processes: {', '.join(m.name for m in members)}")
    return found


def _marker(directory: Path, name: str) -> str:
    """What the command line of `name`'s process ends an argument with (its config file or data directory)."""
    kind = _kind(name)
    if kind == "manager":
        return f"/{name.removesuffix('-manager')}/manager.toml"
    if kind == "etcd":
        return "/" + "/".join(_etcd_cluster(directory).data_dir(int(name[len("etcd"):]) - 1).parts[-2:])
    return f"/{name}/node.toml"


def _running(pid: int, marker: str | None = None) -> bool:
    """Is `pid` alive (a zombie is not), and, with `marker`, one of ours (not a reused pid)?"""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return True  # no procfs: the pid is all we know
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and (marker is None or any(a.endswith(marker) for a in args))


def _read_pids(directory: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads((directory / "pids.json").read_text()).items()}
    except (FileNotFoundError, ValueError):
        return {}


@contextlib.contextmanager
def _pids_update(directory: Path) -> Iterator[dict[str, int]]:
    """pids.json to change in place, under a lock (several shells may start and stop processes)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "pids.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        pids = _read_pids(directory)
        yield pids
        path = directory / "pids.json"
        if pids:
            path.with_suffix(".tmp").write_text(json.dumps(pids))
            os.replace(path.with_suffix(".tmp"), path)  # readers never see half a file
        else:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _running_names(directory: Path) -> list[str]:
    return [name for name, pid in _read_pids(directory).items() if _running(pid, _marker(directory, name))]


def _gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_running(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _signal_and_wait(pids: list[int], sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> None:
    """Signal each process, wait until every one exited; SIGKILL what is left after `timeout`."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
    if _gone(pids, timeout):
        return
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    _gone(pids, 5.0)


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


def _check_free(member: _Member, grace_s: float = 0.0) -> None:
    """Raise unless `member`'s ports are free on its address, within `grace_s` (a process that has
    just exited may hold its sockets a moment longer: its threads close them after it is a zombie)."""
    deadline = time.monotonic() + grace_s
    for url in member.listens():
        parts = urlsplit(url)
        while parts.hostname and parts.port and not _port_is_free(parts.hostname, parts.port):
            if time.monotonic() > deadline:
                raise NetworkError(f"port {parts.port} on {parts.hostname} ({url}) of {member.name} is in use")
            time.sleep(0.1)


def _log(directory: Path, member: _Member) -> Path:
    return directory / "logs" / f"{member.name}.log"


def _wait_answer(directory: Path, member: _Member, proc: subprocess.Popen[bytes] | None,
                 cluster: EtcdCluster | None) -> None:
    """Until the process answers: JSON-RPC (node), upcheck (manager), /health (etcd member)."""
    if member.kind == "etcd":
        assert cluster is not None
        try:
            cluster.wait_healthy(members=[member.etcd_index])
        except EtcdError as exc:
            raise NetworkError(f"{member.name}: {exc}") from None
        return
    assert proc is not None
    if member.kind == "manager":
        _wait_http(member.url + "/upcheck", proc, _log(directory, member), member.name)
    else:
        _wait_http(member.url, proc, _log(directory, member), member.name, "POST", CHAIN_ID_BODY)


def _wait_for_discovery(entries: list[dict[str, Any]]) -> None:
    """Managers gossip party info; wait until each of `entries`' managers knows every one of their keys."""
    wanted = {n["ptm_public_key"] for n in entries}
    deadline = time.monotonic() + START_TIMEOUT_S
    for node in entries:
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


def _launch(directory: Path, spec: dict[str, Any], member: _Member, detach: bool,
            cluster: EtcdCluster | None = None) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start one process of the network that is not running, record its pid in pids.json, return once
    it answers (a manager: once it and the running managers know each other's keys). Its pid, and
    its Popen (None for an etcd member: `cluster` holds that one)."""
    proc = None
    with _pids_update(directory) as pids:
        held = pids.get(member.name)
        if held is not None and _running(held, _marker(directory, member.name)):
            raise NetworkError(f"{member.name} is already running (pid {held})")
        _check_free(member, grace_s=5.0)
        if member.kind == "etcd":
            cluster = cluster or _etcd_cluster(directory, detach)
            try:
                cluster.start_member(member.etcd_index)
            except EtcdError as exc:
                raise NetworkError(f"{member.name}: {exc}") from None
            started = cluster.pids()[member.etcd_index]
            assert started is not None
            pid = started
        else:
            proc = _spawn(member.command(), _log(directory, member), detach)
            pid = proc.pid
        pids[member.name] = pid
    try:
        _wait_answer(directory, member, proc, cluster)
        if member.kind == "manager":
            running = set(_running_names(directory))
            _wait_for_discovery([n for n in spec["nodes"] if f"{n['name']}-manager" in running])
    except BaseException:
        with contextlib.suppress(NotRunning):  # it may have exited by itself
            _halt(directory, member.name, signal.SIGKILL)
        if proc is not None:
            proc.wait()
        elif cluster is not None:
            cluster.stop_member(member.etcd_index)
        raise
    return pid, proc


def _halt(directory: Path, name: str, sig: int = signal.SIGTERM) -> int:
    """Stop the process pids.json names `name` and forget it there; its pid."""
    with _pids_update(directory) as pids:
        pid = pids.pop(name, None)  # first: a foreground `privnet up` then knows the exit is wanted
    if pid is None or not _running(pid, _marker(directory, name)):
        raise NotRunning(f"{name} is not running")
    _signal_and_wait([pid], sig)
    return pid


def start_member(directory: Path, name: str) -> str:
    """`privnet start NAME`: start one stopped process of a network, detached; what it did."""
    spec = load_spec(directory)
    member = _member(spec, name)
    pid, _ = _launch(directory, spec, member, detach=True)
    return f"started {name} (pid {pid}); it answers at {member.url}"


def stop_member(directory: Path, name: str, kill: bool = False) -> str:
    """`privnet stop NAME [--kill]`: stop one running process of a network; what it did."""
    _member(load_spec(directory), name)
    sig = signal.SIGKILL if kill else signal.SIGTERM
    pid = _halt(directory, name, sig)
    return f"stopped {name} (pid {pid}, {signal.Signals(sig).name})"


class LocalNetwork:
    """Start (and stop) every manager and node of DIR (and its local etcd cluster) as subprocesses."""

    def __init__(self, directory: Path, nodes: int | None = None, chain_id: int = DEFAULT_CHAIN_ID,
                 ordering: str | None = None, etcd: list[str] | None = None) -> None:
        self.directory = directory
        self.spec = init_network(directory, nodes, chain_id, ordering, etcd)
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []  # nodes and managers this object started
        self.etcd: EtcdCluster | None = None  # the local etcd cluster, when this object started it
        self._detach = False

    def start(self, detach: bool = False) -> dict[str, Any]:
        if _running_names(self.directory):
            raise NetworkError(f"a network is already running from {self.directory} (privnet down first)")
        self._detach = detach
        members = _members(self.spec)
        for member in members:
            _check_free(member)
        try:
            if any(m.kind == "etcd" for m in members):
                self._start_etcd(detach)
            for kind in ("manager", "node"):  # each kind spawned at once, then waited for
                started = [(m, self._spawn(m, detach)) for m in members if m.kind == kind]
                for member, proc in started:
                    _wait_answer(self.directory, member, proc, None)
            _wait_for_discovery(self.spec["nodes"])
        except BaseException:
            self.stop()
            raise
        return self.spec

    def _start_etcd(self, detach: bool) -> None:
        self.etcd = _etcd_cluster(self.directory)
        try:
            urls = self.etcd.start(detach=detach)
        except EtcdError as exc:
            raise NetworkError(f"the local etcd cluster did not start: {exc}") from None
        if urls != self.spec["etcd_endpoints"]:
            raise NetworkError(f"etcd answers at {urls}, network.json says {self.spec['etcd_endpoints']}")
        with _pids_update(self.directory) as pids:
            pids.update({f"etcd{i + 1}": pid for i, pid in enumerate(self.etcd.pids()) if pid is not None})

    def _spawn(self, member: _Member, detach: bool) -> subprocess.Popen[bytes]:
        proc = _spawn(member.command(), _log(self.directory, member), detach)
        self.processes.append((member.name, proc))
        with _pids_update(self.directory) as pids:
            pids[member.name] = proc.pid
        return proc

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop one process of the running network: a node (`node2`), a manager (`node2-manager`) or a
        local etcd member (`etcd2`); SIGTERM, or `sig` (SIGKILL: a crash)."""
        member = _member(self.spec, name)
        _halt(self.directory, name, sig)
        for entry in [e for e in self.processes if e[0] == name]:  # reap what we started
            entry[1].wait()
            self.processes.remove(entry)
        if member.kind == "etcd" and self.etcd is not None:
            self.etcd.stop_member(member.etcd_index)

    def start_process(self, name: str) -> None:
        """Start a stopped process on its configured address and ports; return once it answers."""
        member = _member(self.spec, name)
        if member.kind == "etcd" and self.etcd is None:
            self.etcd = _etcd_cluster(self.directory, self._detach)
        _, proc = _launch(self.directory, self.spec, member, self._detach, self.etcd)
        if proc is not None:
            self.processes.append((name, proc))

    def stop(self) -> None:
        """Stop every process: those in pids.json (nodes, then managers, then etcd), then any of ours left."""
        stop_network(self.directory)
        _terminate([p for _, p in reversed(self.processes)])
        self.processes = []
        if self.etcd is not None:
            self.etcd.stop()
            self.etcd = None

    def wait(self) -> None:
        """Block until a signal arrives, a process dies, or `privnet down` stopped them all; then stop
        everything.

        A process stopped (or restarted) with `privnet stop/restart NAME` is no death: pids.json no
        longer names its pid."""
        stop = {"flag": False}

        def on_signal(_signum: int, _frame: Any) -> None:
            stop["flag"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            while not stop["flag"]:
                pids = _read_pids(self.directory)
                for name, proc in list(self.processes):
                    if proc.poll() is None:
                        continue
                    if pids.get(name) == proc.pid:
                        print(f"{name} exited with code {proc.returncode}; stopping the network", file=sys.stderr)
                        stop["flag"] = True
                    else:
                        self.processes.remove((name, proc))
                if not pids and not self.processes:  # `privnet down` (or a stop of each one) is done
                    print("every process was stopped; exiting", file=sys.stderr)
                    break
                time.sleep(0.2)
        finally:
            self.stop()

    def __enter__(self) -> LocalNetwork:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _terminate(processes: list[subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT_S) -> None:
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


def stop_network(directory: Path, timeout: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop every process pids.json names (privnet down): nodes, then managers, then etcd members;
    returns the names it stopped."""
    with _pids_update(directory) as pids:
        recorded = dict(pids)
        pids.clear()
    stopped = []
    for kind in ("node", "manager", "etcd"):
        group = {name: pid for name, pid in recorded.items()
                 if _kind(name) == kind and _running(pid, _marker(directory, name))}
        _signal_and_wait(list(group.values()), signal.SIGTERM, timeout)
        stopped += sorted(group)
    return stopped


# -- status ------------------------------------------------------------------------------------

def _rpc(url: str, method: str) -> Any:
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []}, timeout=2).json()[
        "result"]


def _etcd_healthy(url: str) -> bool:
    try:
        return bool(httpx.get(url + "/health", timeout=2).json().get("health") == "true")
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def producer_key(chain_id: int) -> str:
    """The etcd key holding the producer's node name (engine/ordering/etcd.py's layout)."""
    return f"/privnet/{chain_id}/producer"


def _etcd_value(endpoints: list[str], key: str) -> str | None:
    """`key`'s value read through etcd's JSON gateway (no client library, no lease, no election)."""
    body = {"key": base64.b64encode(key.encode()).decode()}
    for url in endpoints:
        try:
            kvs = httpx.post(url + "/v3/kv/range", json=body, timeout=2).json().get("kvs") or []
        except (httpx.HTTPError, ValueError, AttributeError):
            continue
        return base64.b64decode(kvs[0]["value"]).decode(errors="replace") if kvs else None
    return None


def current_producer(directory: Path, spec: dict[str, Any] | None = None) -> str | None:
    """Which node produces blocks now, read beside the nodes (without taking part in the election)."""
    spec = spec if spec is not None else load_spec(directory)
    if spec.get("ordering", "local") == "etcd":
        return _etcd_value(spec.get("etcd_endpoints", []), producer_key(spec["chain_id"]))
    path = directory / "ordering.sqlite"
    if not path.exists():
        return None
    from engine.ordering.local import LocalOrdering

    ordering = LocalOrdering(path, name="privnet-status")
    try:
        return ordering.current_producer()
    finally:
        ordering.close()


def network_status(directory: Path) -> dict[str, Any]:
    """The ordering and its producer; per node: RPC up, head, lag behind the highest head, manager up;
    per local etcd member (or external endpoint): healthy. `ok` when everything is up."""
    spec = load_spec(directory)
    rows = []
    for node in spec["nodes"]:
        row: dict[str, Any] = {"name": node["name"], "rpc_url": node["rpc_url"], "q2t_url": node["ptm_q2t_url"],
                               "node": "down", "head": None, "lag": None, "manager": "down"}
        try:
            row["head"] = int(_rpc(node["rpc_url"], "eth_blockNumber"), 16)
            row["node"] = "up"
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
        try:
            if httpx.get(node["ptm_q2t_url"] + "/upcheck", timeout=2).status_code == 200:
                row["manager"] = "up"
        except httpx.HTTPError:
            pass
        rows.append(row)
    top = max((r["head"] for r in rows if r["head"] is not None), default=None)
    for row in rows:
        row["lag"] = None if row["head"] is None or top is None else top - row["head"]
    names = ([f"etcd{i + 1}" for i in range(len(spec.get("etcd_endpoints", [])))]
             if spec.get("etcd_cluster") == "local" else list(spec.get("etcd_endpoints", [])))
    etcd = [{"name": name, "url": url, "health": "up" if _etcd_healthy(url) else "down"}
            for name, url in zip(names, spec.get("etcd_endpoints", []), strict=True)]
    ok = all(r["node"] == "up" and r["manager"] == "up" for r in rows) and all(e["health"] == "up" for e in etcd)
    return {"chain_id": spec["chain_id"], "ordering": spec.get("ordering", "local"),
            "etcd_cluster": spec.get("etcd_cluster"), "producer": current_producer(directory, spec),
            "nodes": rows, "etcd": etcd, "ok": ok}
