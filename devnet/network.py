"""A development network on one machine: N managers + N nodes as real processes.

`privnet up` and the e2e tests use this. First use of a directory generates everything
(manager keys, genesis, node configs, unlocked development accounts); later uses reuse
it, so `privnet down` then `privnet up` keeps the public and private state.

The nodes share nothing but the ordering service and HTTP, as on separate machines: each
node and each manager has its own directory and its own loopback address (Linux routes all
of 127.0.0.0/8 to `lo`, no setup needed), with a free port picked on that address once:

    node i JSON-RPC            127.0.0.(10+i)      e.g. node2 → http://127.0.0.12:<port>
    manager of node i          127.0.0.(100+i)     P2P (mutual TLS); its Q2T API is a unix socket
    local etcd members         127.0.0.200         `--ordering etcd` without `--etcd URL`

Secure by default: managers talk P2P over mutual TLS (certificates from a development CA
of the network, devnet.devca), each node reaches its manager's Q2T API on a unix socket
(`tm.ipc`, 0600, as GoQuorum's), and each manager key is encrypted with a random password.
`--insecure-p2p` (plain HTTP P2P) and `--dev-keys` (unencrypted keys) are explicit, and
recorded in network.json so later starts keep them. Whatever the umask, DIR and its data
directories are 0700 and its secrets (network.json holds every account's key) 0600.

Layout of DIR::

    network.json            the user-facing contract (DESIGN.md §3)
    genesis.json            the same genesis for every node
    ordering.sqlite         the `local` ordering service's shared block log
    ca/                     ca.crt, ca.key: the network's development CA (not with --insecure-p2p)
    etcd/                   the local etcd cluster of `--ordering etcd` (devnet.etcd)
    managers/nodeN/         manager.toml, key files, password, tls.crt/tls.key, tm.ipc, manager.db
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from devnet.devca import ensure_manager_cert
from devnet.etcd import EtcdCluster, EtcdError, etcd_available
from devnet.managers import create_dev_network, dump_toml
from devnet.owner_only import FILE_MODE, private_dir, restrict, write_private
from devnet.q2t import q2t_request
from engine.chain.genesis import DEV_BALANCE, GENESIS_TIMESTAMP, GenesisSpec, derive_dev_accounts

ACCOUNTS_PER_NODE = 2
DEFAULT_CHAIN_ID = 1337
DEFAULT_NODES = 4
# Dev networks grow while idle, so "wait for n confirmations" returns (cost: docs/operations.md).
DEV_EMPTY_BLOCK_INTERVAL_S = 5
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
MAX_NODES = 89  # node i's RPC on 127.0.0.(10+i) stays below the managers' 127.0.0.(100+i)
ETCD_HOST = "127.0.0.200"
ETCD_MEMBERS = 3
CHAIN_ID_BODY = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
Q2T_SOCKET = "tm.ipc"
MAX_SOCKET_PATH = 107  # bytes: sun_path is 108 with its terminating NUL


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
    p2p_port: int

    @property
    def rpc_url(self) -> str:
        return f"http://{node_host(self.index)}:{self.rpc_port}"


def _etcd_cluster(directory: Path, detach: bool = False) -> EtcdCluster:
    """A handle on DIR's local etcd cluster (ports from its cluster.json; nothing started)."""
    cluster = EtcdCluster((directory / "etcd").resolve(), ETCD_MEMBERS, ETCD_HOST)
    # A fresh handle has not run start(detach): start_member spawns in the session mode set here.
    cluster._detach = detach
    return cluster


def _check_security_flags(directory: Path, spec: dict[str, Any], insecure_p2p: bool | None,
                          dev_keys: bool | None) -> None:
    """An existing DIR keeps how it was made: a flag asked for now must match it."""
    tls, unencrypted = p2p_tls(spec), spec.get("dev_keys", True)
    if insecure_p2p is not None and insecure_p2p == tls:
        held = "mutual TLS" if tls else "plain HTTP (--insecure-p2p)"
        raise NetworkError(f"{directory} holds a network whose managers talk P2P over {held}; "
                           "use that or a new --dir")
    if dev_keys is not None and dev_keys != unencrypted:
        held = "unencrypted (--dev-keys)" if unencrypted else "password-protected"
        raise NetworkError(f"{directory} holds a network whose manager keys are {held}; use that or a new --dir")


def p2p_tls(spec: dict[str, Any]) -> bool:
    """Do the network's managers talk P2P over mutual TLS (networks made before TLS did not)?"""
    return bool(spec.get("p2p_tls", False))


def _socket_path_fits(directory: Path, names: Sequence[str]) -> None:
    """Unix socket paths are limited to 107 bytes: refuse a DIR too deep for the Q2T sockets,
    before anything is written (a shorter path elsewhere would put the socket outside DIR)."""
    longest = max(((directory / "managers" / n / Q2T_SOCKET).resolve() for n in names), key=lambda p: len(bytes(p)))
    if len(bytes(longest)) > MAX_SOCKET_PATH:
        raise NetworkError(f"the Q2T socket path {longest} is {len(bytes(longest))} bytes, over the "
                           f"{MAX_SOCKET_PATH}-byte limit of unix sockets; use a shorter --dir")


def secure_layout(directory: Path) -> None:
    """Owner-only modes on DIR and everything in it (0700 directories, 0600 files): network.json
    holds every account's key and managers/ the key passwords. Also tightens older networks."""
    private_dir(directory)
    for path in directory.rglob("*"):
        if not path.is_symlink():
            restrict(path)


def init_network(directory: Path, nodes: int | None = None, chain_id: int = DEFAULT_CHAIN_ID,
                 ordering: str | None = None, etcd: list[str] | None = None,
                 insecure_p2p: bool | None = None, dev_keys: bool | None = None,
                 privacy_marker: bool | None = None) -> dict[str, Any]:
    """Generate keys, genesis and configs on first use; return the network spec.

    `nodes`, `ordering` and `etcd` left out reuse what DIR holds (new: 4 nodes, `local`);
    `ordering="etcd"` without `etcd` URLs means a local 3-member cluster under DIR/etcd/.
    `insecure_p2p` and `dev_keys` likewise (new: mutual TLS, password-protected keys).
    `privacy_marker` (new: off): GoQuorum's privacy marker transactions, i.e. the genesis'
    `privacyPrecompileBlock` at 0 and every node's `privacy.privacy_marker` switch on.
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
        _check_security_flags(directory, spec, insecure_p2p, dev_keys)
        if privacy_marker is not None and privacy_marker != bool(spec.get("privacy_marker", False)):
            held = "with" if spec.get("privacy_marker") else "without"
            raise NetworkError(f"{directory} holds a network {held} privacy marker transactions; "
                               "use that or a new --dir")
        secure_layout(directory)
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
    names = [f"node{i + 1}" for i in range(nodes)]
    _socket_path_fits(directory, names)
    private_dir(directory)
    tls = not insecure_p2p
    ports = _reserve_ports([h for i in range(1, nodes + 1) for h in (node_host(i), manager_host(i))])
    layouts = [NodeLayout(i + 1, name, directory / "nodes" / name, directory / "managers" / name,
                          ports[2 * i], ports[2 * i + 1]) for i, name in enumerate(names)]
    managers = create_dev_network(directory / "managers", names, [(0, n.p2p_port) for n in layouts],
                                  hosts=[manager_host(n.index) for n in layouts], random_passwords=not dev_keys,
                                  ca_dir=directory / "ca" if tls else None, q2t_socket=Q2T_SOCKET,
                                  peer_allow_list=True,
                                  # evm_snapshot / evm_revert (devnet/snapshots.py) need the `local` ordering
                                  extra={"dev_snapshots": True} if ordering == "local" else None)
    seed = f"privnet-{os.urandom(8).hex()}"
    accounts = {n.name: derive_dev_accounts(seed, ACCOUNTS_PER_NODE, start=i * ACCOUNTS_PER_NODE)
                for i, n in enumerate(layouts)}
    genesis = GenesisSpec(chain_id=chain_id, gas_limit=100_000_000, timestamp=GENESIS_TIMESTAMP,
                          alloc={a.address: DEV_BALANCE for accs in accounts.values() for a in accs},
                          privacy_precompile_block=0 if privacy_marker else None)
    genesis.write(directory / "genesis.json")
    spec: dict[str, Any] = {"chain_id": chain_id, "ordering": ordering, "p2p_tls": tls, "dev_keys": bool(dev_keys)}
    if privacy_marker:
        spec["privacy_marker"] = True
    if tls:
        spec["ca_file"] = str((directory / "ca" / "ca.crt").resolve())
    ordering_table: dict[str, Any] = {"kind": ordering}
    if ordering == "local":
        ordering_table["path"] = str((directory / "ordering.sqlite").resolve())
    else:
        spec["etcd_cluster"] = "external" if etcd else "local"
        spec["etcd_endpoints"] = ordering_table["etcd_endpoints"] = list(etcd or _etcd_cluster(directory).client_urls)
    entries = []
    for layout, manager in zip(layouts, managers, strict=True):
        private_dir(layout.node_dir)
        write_private(layout.node_dir / "accounts.json",
                      json.dumps(["0x" + a.private_key.hex() for a in accounts[layout.name]]))
        node_config = {
            "name": layout.name,
            "data_dir": ".",
            "chain_id": chain_id,
            "genesis_file": str((directory / "genesis.json").resolve()),
            "unlocked_keys_file": "accounts.json",
            "empty_block_interval_s": DEV_EMPTY_BLOCK_INTERVAL_S,
            "rpc": {"host": node_host(layout.index), "port": layout.rpc_port},
            "privacy": {"enabled": True, "q2t_url": manager.q2t_url,
                        **({"privacy_marker": True} if privacy_marker else {})},
            "ordering": ordering_table,
        }
        if ordering == "local":
            node_config["dev"] = {"snapshots": True}
        write_private(layout.node_dir / "node.toml", dump_toml(node_config))
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
    write_private(spec_path, json.dumps(spec, indent=2) + "\n")
    secure_layout(directory)
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
    private_dir(directory)
    fd = os.open(directory / "pids.lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        pids = _read_pids(directory)
        yield pids
        path = directory / "pids.json"
        if pids:
            write_private(path, json.dumps(pids))  # atomic: readers never see half a file
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


def _wait_http(url: str, ask: Callable[[], httpx.Response], process: subprocess.Popen[bytes], log: Path,
               what: str) -> None:
    """Until `ask()` (a request to `url`) answers 200; raise if the process exits first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise NetworkError(f"{what} exited with code {process.returncode}; log {log}:\n{tail}")
        try:
            if ask().status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise NetworkError(f"{what} did not answer at {url} within {START_TIMEOUT_S:.0f} s; log {log}")


def _spawn(args: list[str], log: Path, detach: bool) -> subprocess.Popen[bytes]:
    private_dir(log.parent)
    env = dict(os.environ)
    repo_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    with os.fdopen(fd, "ab") as out:
        # umask 077: what the process creates (databases, sockets, logs) is its owner's only.
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=detach, umask=0o077)


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


def _prepare(directory: Path, spec: dict[str, Any], member: _Member) -> None:
    """Before a manager starts: a certificate from the network's CA if it has none that is valid
    for a month more (deleting `tls.crt` and `tls.key` then restarting it rotates them)."""
    if member.kind != "manager" or not p2p_tls(spec):
        return
    url = member.node["ptm_p2p_url"]
    ensure_manager_cert(directory / "ca", Path(member.node["manager_config"]).parent,
                        member.node["name"], urlsplit(url).hostname or "", url)


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
        _wait_http(member.url, lambda: q2t_request(member.url, "GET", "/upcheck", timeout=1.0), proc,
                   _log(directory, member), member.name)
    else:
        _wait_http(member.url, lambda: httpx.post(member.url, json=CHAIN_ID_BODY, timeout=1.0), proc,
                   _log(directory, member), member.name)


def _wait_for_discovery(entries: list[dict[str, Any]]) -> None:
    """Managers gossip party info; wait until each of `entries`' managers knows every one of their keys."""
    wanted = {n["ptm_public_key"] for n in entries}
    deadline = time.monotonic() + START_TIMEOUT_S
    for node in entries:
        while True:
            try:
                keys = {k["key"] for k in q2t_request(node["ptm_q2t_url"], "GET", "/partyinfo/keys", timeout=2)
                        .json()["keys"]}
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
            _prepare(directory, spec, member)
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


DISCOVERY_STEP = "peer discovery"  # the last step of LocalNetwork.start: every manager knows every key


def start_steps(spec: dict[str, Any]) -> list[str]:
    """The steps LocalNetwork.start reports to its `progress` callback, in order."""
    return [m.name for m in _members(spec)] + [DISCOVERY_STEP]


def log_path(directory: Path, name: str) -> Path:
    """The log file of process `name` of DIR's network (node2, node2-manager, etcd2)."""
    member = _member(load_spec(directory), name)
    if member.kind == "etcd":
        return _etcd_cluster(directory).log_path(member.etcd_index)
    return _log(directory, member)


class LocalNetwork:
    """Start (and stop) every manager and node of DIR (and its local etcd cluster) as subprocesses."""

    def __init__(self, directory: Path, nodes: int | None = None, chain_id: int = DEFAULT_CHAIN_ID,
                 ordering: str | None = None, etcd: list[str] | None = None,
                 insecure_p2p: bool | None = None, dev_keys: bool | None = None,
                 privacy_marker: bool | None = None) -> None:
        self.directory = directory
        self.spec = init_network(directory, nodes, chain_id, ordering, etcd, insecure_p2p, dev_keys, privacy_marker)
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []  # nodes and managers this object started
        self.etcd: EtcdCluster | None = None  # the local etcd cluster, when this object started it
        self._detach = False

    def start(self, detach: bool = False, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Start every process; `progress` (if given) is called with each step done: a process's name once
        it answers (start_steps() lists them), then DISCOVERY_STEP once the managers know each other."""
        if _running_names(self.directory):
            raise NetworkError(f"a network is already running from {self.directory} (privnet down first)")
        self._detach = detach
        done = progress or (lambda _step: None)
        members = _members(self.spec)
        for member in members:
            _check_free(member)
        try:
            if any(m.kind == "etcd" for m in members):
                self._start_etcd(detach)
                for member in members:
                    if member.kind == "etcd":
                        done(member.name)
            for kind in ("manager", "node"):  # each kind spawned at once, then waited for
                started = [(m, self._spawn(m, detach)) for m in members if m.kind == kind]
                for member, proc in started:
                    _wait_answer(self.directory, member, proc, None)
                    done(member.name)
            _wait_for_discovery(self.spec["nodes"])
            done(DISCOVERY_STEP)
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
        _prepare(self.directory, self.spec, member)
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
    """The ordering and its producer; per node: RPC up, head, lag behind the highest head, manager up,
    the private state divergences it reports (`privnet_privateStateDivergences`; None when it cannot
    tell); per local etcd member (or external endpoint): healthy. `ok` when everything is up."""
    spec = load_spec(directory)
    rows = []
    for node in spec["nodes"]:
        row: dict[str, Any] = {"name": node["name"], "rpc_url": node["rpc_url"], "q2t_url": node["ptm_q2t_url"],
                               "node": "down", "head": None, "lag": None, "manager": "down", "divergences": None}
        try:
            row["head"] = int(_rpc(node["rpc_url"], "eth_blockNumber"), 16)
            row["node"] = "up"
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
        if row["node"] == "up":
            try:
                row["divergences"] = list(_rpc(node["rpc_url"], "privnet_privateStateDivergences"))
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
        try:
            if q2t_request(node["ptm_q2t_url"], "GET", "/upcheck", timeout=2).status_code == 200:
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
