"""A running 4-node network (devnet.network.LocalNetwork) seen from a test: clients, paths, waits.

Everything goes over the real interfaces: JSON-RPC (httpx, raw JSON, so the test sees exactly
what the node sends), the manager's Q2T API, and the files the processes write.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import eth_abi
import httpx
import pytest
import rlp
from eth_account import Account
from eth_utils import keccak

from devnet.network import LocalNetwork, current_producer
from devnet.q2t import q2t_request

#: Deadline for things that must happen (a block imported, a log line written). Only a bound
#: against hanging for ever: no test asserts how long anything took.
WAIT_S = 60.0
POLL_S = 0.05


class RpcError(Exception):
    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('code')} {error.get('message')}")
        self.code = int(error["code"])
        self.message = str(error["message"])
        self.data = error.get("data")


class Rpc:
    """Raw JSON-RPC over HTTP: results as the node wrote them (hex strings, plain dicts)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(timeout=120)
        self._id = 0

    def close(self) -> None:
        self._http.close()

    def __call__(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = self._http.post(self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method,
                                               "params": list(params)}).json()
        if "error" in body:
            raise RpcError(method, body["error"])
        return body["result"]

    def raw(self, method: str, *params: Any) -> dict[str, Any]:
        """The whole response object (for error checks)."""
        self._id += 1
        return dict(self._http.post(self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method,
                                                    "params": list(params)}).json())

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        request = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers = {a["id"]: a for a in self._http.post(self.url, json=request).json()}
        results = []
        for i, (method, _) in enumerate(calls):
            if "error" in answers[i]:
                raise RpcError(method, answers[i]["error"])
            results.append(answers[i]["result"])
        return results


@dataclass(eq=False)
class NodeHandle:
    """One node of the network and its manager, as a test reaches them (compared by identity)."""

    name: str
    rpc: Rpc
    q2t_url: str
    p2p_url: str
    key: str  # the manager's public key (base64): what `privateFor` names
    address: str  # the node's first unlocked account
    private_key: bytes
    chain_db: Path
    manager_db: Path
    log: Path

    def __repr__(self) -> str:
        return self.name

    # -- manager (Q2T: http:// or, as `privnet up` makes it, a unix:// socket) -----------
    def manager_get(self, path: str, **params: Any) -> httpx.Response:
        return q2t_request(self.q2t_url, "GET", path, params=params, timeout=30)

    def manager_post(self, path: str, body: Any) -> httpx.Response:
        return q2t_request(self.q2t_url, "POST", path, json=body, timeout=30)

    def manager_transaction(self, payload_hash: bytes) -> httpx.Response:
        return self.manager_get("/transaction/" + quote(base64.b64encode(payload_hash).decode(), safe=""))

    def manager_rows(self, payload_hash: bytes) -> dict[str, int]:
        """Rows holding `payload_hash` in the manager's store, per table (read-only, beside the process)."""
        with _readonly(self.manager_db) as conn:
            return {table: conn.execute(f"SELECT COUNT(*) FROM {table} WHERE hash = ?",
                                        (payload_hash,)).fetchone()[0]
                    for table in ("encrypted_transaction", "encrypted_raw_transaction")}

    def manager_row_count(self) -> int:
        with _readonly(self.manager_db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM encrypted_transaction").fetchone()[0])

    # -- node -----------------------------------------------------------------------------
    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def pending_nonce(self, address: str | None = None) -> int:
        return int(self.rpc("eth_getTransactionCount", address or self.address, "pending"), 16)

    def stored_values(self) -> Iterator[bytes]:
        """Every key and value of the node's own database (public chain, private state, receipts)."""
        with _readonly(self.chain_db) as conn:
            for k, v in conn.execute("SELECT k, v FROM kv"):
                yield bytes(k)
                yield bytes(v)

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.rpc("eth_getTransactionReceipt", tx_hash)
        return result

    def wait_receipt(self, tx_hash: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while True:
            found = self.receipt(tx_hash)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no receipt for {tx_hash} (head #{self.block_number()})")
            time.sleep(POLL_S)

    def wait_block(self, number: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.block_number() < number:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not reach block #{number} (head #{self.block_number()})")
            time.sleep(POLL_S)


def require_etcd(ordering: str) -> None:
    """Skip an etcd-ordered test where etcd is not installed; fail instead when
    PRIVNET_REQUIRE_ETCD=1 (CI installs etcd, so it must not skip there)."""
    from devnet.etcd import etcd_available

    if ordering != "etcd" or etcd_available():
        return
    message = "etcd is not installed (Debian: apt-get install etcd-server)"
    if os.environ.get("PRIVNET_REQUIRE_ETCD") == "1":
        pytest.fail(message + "; PRIVNET_REQUIRE_ETCD=1 forbids skipping")
    pytest.skip(message)


def _etcd_blocks(endpoints: list[str], chain_id: int) -> list[bytes]:
    """Every block key's value under `/privnet/<chain_id>/blocks/`, in height order (JSON gateway)."""
    prefix = f"/privnet/{chain_id}/blocks/".encode()
    end = prefix[:-1] + bytes([prefix[-1] + 1])
    body = {"key": base64.b64encode(prefix).decode(), "range_end": base64.b64encode(end).decode()}
    for url in endpoints:
        try:
            answer = httpx.post(url + "/v3/kv/range", json=body, timeout=10).json()
        except (httpx.HTTPError, ValueError):
            continue
        pairs = sorted((base64.b64decode(kv["key"]), base64.b64decode(kv["value"])) for kv in answer.get("kvs", []))
        return [value for _, value in pairs]
    raise AssertionError(f"no etcd endpoint of {endpoints} answered")


@contextmanager
def _readonly(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


class E2ENetwork:
    """A started LocalNetwork plus handles for its nodes (`net.nodes[0]` is node1)."""

    def __init__(self, local: LocalNetwork) -> None:
        self.local = local
        self.directory = local.directory
        self.spec = local.spec
        self.nodes: list[NodeHandle] = []
        for entry in local.spec["nodes"]:
            manager_config = Path(entry["manager_config"])
            db_url = tomllib.loads(manager_config.read_text())["db_url"]
            assert db_url.startswith("sqlite:///"), db_url
            manager_db = manager_config.parent / db_url[len("sqlite:///"):]
            self.nodes.append(NodeHandle(
                name=entry["name"], rpc=Rpc(entry["rpc_url"]), q2t_url=entry["ptm_q2t_url"],
                p2p_url=entry["ptm_p2p_url"], key=entry["ptm_public_key"],
                address=entry["accounts"][0]["address"],
                private_key=bytes.fromhex(entry["accounts"][0]["private_key"].removeprefix("0x")),
                chain_db=Path(entry["node_config"]).parent / "chain.sqlite", manager_db=manager_db,
                log=local.directory / "logs" / f"{entry['name']}.log"))

    def close(self) -> None:
        for node in self.nodes:
            node.rpc.close()

    def restart(self) -> None:
        """`privnet down` then `privnet up`: stop every process, start a new LocalNetwork on the same
        directory (same ports, keys, databases)."""
        self.local.stop()
        local = LocalNetwork(self.directory, nodes=len(self.nodes))
        local.start()
        self.local = local

    def node(self, name: str) -> NodeHandle:
        return next(n for n in self.nodes if n.name == name)

    @property
    def ordering(self) -> str:
        return str(self.spec.get("ordering", "local"))

    def ordered_blocks(self) -> list[bytes]:
        """The public block log the ordering service holds (raw RLP), read beside the processes:
        the `local` file's rows, or the etcd cluster's block keys (engine/ordering/etcd.py's layout)."""
        if self.ordering == "etcd":
            return _etcd_blocks(self.spec["etcd_endpoints"], int(self.spec["chain_id"]))
        with _readonly(self.directory / "ordering.sqlite") as conn:
            return [bytes(r[0]) for r in conn.execute("SELECT rlp FROM blocks ORDER BY number")]

    def wait_receipts(self, tx_hash: str, nodes: list[NodeHandle] | None = None) -> dict[str, dict[str, Any]]:
        """Wait until every node (default: all) imported the transaction; its receipt per node name."""
        return {n.name: n.wait_receipt(tx_hash) for n in (nodes or self.nodes)}

    def wait_in_sync(self) -> int:
        """Wait until every node is at the highest head any of them has; return that number."""
        head = max(n.block_number() for n in self.nodes)
        for node in self.nodes:
            node.wait_block(head)
        return head

    def producer(self) -> str | None:
        """Name of the node holding the producer role now (as `privnet status` reads it)."""
        return current_producer(self.directory, self.spec)


def privnet(directory: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The `privnet` CLI as a process of its own (as from another shell): `privnet ARGS --dir DIRECTORY`."""
    return subprocess.run([sys.executable, "-m", "devnet.cli", *args, "--dir", str(directory)],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=timeout)


def listening_sockets(pid: int | None = None) -> set[tuple[str, int]]:
    """(IPv4 address, port) of every TCP socket listening on this machine, or only those `pid`
    holds open (Linux /proc/net/tcp; a socket's inode against /proc/PID/fd)."""
    owned: set[str] | None = None
    if pid is not None:
        links = (os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir())
        owned = {link[len("socket:["):-1] for link in links if link.startswith("socket:[")}
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and (owned is None or inode in owned):  # TCP_LISTEN
            address, port = local.split(":")
            found.add((".".join(str(b) for b in reversed(bytes.fromhex(address))), int(port, 16)))
    return found


@contextmanager
def running_network(directory: Path, ordering: str = "local", nodes: int = 4,
                    privacy_marker: bool | None = None) -> Iterator[E2ENetwork]:
    """`privacy_marker=True`: a new network with GoQuorum's privacy marker transactions on."""
    require_etcd(ordering)
    local = LocalNetwork(directory, nodes=nodes, ordering=ordering, privacy_marker=privacy_marker)
    local.start()
    net = E2ENetwork(local)
    try:
        yield net
    finally:
        net.local.stop()  # the one running now (restart() replaces it)
        net.close()


# -- transactions -----------------------------------------------------------------------------

def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def calldata(signature: str, *args: Any) -> bytes:
    types = signature[signature.index("(") + 1: -1]
    return selector(signature) + eth_abi.encode([t for t in types.split(",") if t], list(args))


def init_code(bytecode_hex: str, types: list[str], args: list[Any]) -> bytes:
    return bytes.fromhex(bytecode_hex.removeprefix("0x")) + eth_abi.encode(types, args)


def hx(data: bytes) -> str:
    return "0x" + data.hex()


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def send_private(node: NodeHandle, data: bytes, private_for: list[str], to: str | None = None,
                 gas: int = 3_000_000, **extra: Any) -> str:
    """eth_sendTransaction with `privateFor` from the node's first account; the marker's hash."""
    tx: dict[str, Any] = {"from": node.address, "data": hx(data), "gas": hex(gas), "privateFor": private_for}
    if to is not None:
        tx["to"] = to
    tx.update(extra)
    return str(node.rpc("eth_sendTransaction", tx))


def send_public(node: NodeHandle, data: bytes, to: str | None = None, gas: int = 3_000_000) -> str:
    tx: dict[str, Any] = {"from": node.address, "data": hx(data), "gas": hex(gas)}
    if to is not None:
        tx["to"] = to
    return str(node.rpc("eth_sendTransaction", tx))


def sign_raw_private(private_key: bytes, nonce: int, gas: int, to: str | None, payload_hash: bytes,
                     value: int = 0) -> bytes:
    """A user's raw private transaction (PROTOCOL.md §9): legacy, Homestead-signed (no chain id),
    gas price 0, data = the manager's 64-byte key, then v + 10 and RLP re-encoded."""
    fields: dict[str, Any] = {"nonce": nonce, "gasPrice": 0, "gas": gas, "value": value, "data": payload_hash}
    if to is not None:
        fields["to"] = to
    signed = Account.sign_transaction(fields, private_key)
    items = rlp.decode(bytes(signed.raw_transaction))
    v = int.from_bytes(items[6], "big")
    assert v in (27, 28), f"expected a Homestead signature (v 27/28), got v={v}"
    items[6] = (v + 10).to_bytes(1, "big")
    return bytes(rlp.encode(items))
