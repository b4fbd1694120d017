"""A local etcd cluster for the `etcd` ordering service: N real `etcd` members on loopback.

`privnet up --ordering etcd` and the integration tests use it. Layout of DIR::

    cluster.json        member names and ports, chosen once (a restart reuses them)
    etcdN.etcd/         member N's data directory
    etcdN.log           member N's output

Every member runs Raft with its peers (etcd's own consensus; nothing here votes): the
cluster answers while a majority of members is up. A member stopped with `stop_member`
rejoins with its data directory on `start_member`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from devnet.owner_only import FILE_MODE, private_dir

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# Heartbeat and election timeout in ms: etcd's own defaults. A 1000 ms election timeout lets
# etcd grant 2 s leases (its floor is 1.5 election timeouts, rounded up to seconds); halving both
# would allow 1 s leases but costs the idle cluster 0.05 cores instead of 0.03 (docs/benchmarks.md)
# and risks spurious Raft elections on a loaded machine.
HEARTBEAT_MS = 100
ELECTION_MS = 1000
QUOTA_BYTES = 2 * 1024**3
MAX_REQUEST_BYTES = 10 * 1024**2


class EtcdError(Exception):
    """Raised when a member cannot be started or the cluster does not become healthy."""


def etcd_available() -> bool:
    """Is an `etcd` binary on PATH (Debian: `apt-get install etcd-server`)?"""
    return shutil.which("etcd") is not None


def _free_ports(host: str, count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


class EtcdCluster:
    """`EtcdCluster(dir).start()` → client URLs; `stop()`; one member at a time with
    `stop_member(i, sig)` / `start_member(i)`."""

    def __init__(self, directory: Path, members: int = 3, host: str = "127.0.0.1") -> None:
        if members < 1:
            raise ValueError("an etcd cluster needs at least one member")
        self.directory = directory
        self.host = host
        private_dir(self.directory)
        self._layout = self._load_or_create_layout(members)
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * len(self._layout["members"])
        self._detach = False

    # -- layout --------------------------------------------------------------------------
    def _load_or_create_layout(self, members: int) -> dict[str, Any]:
        path = self.directory / "cluster.json"
        if path.exists():
            layout: dict[str, Any] = json.loads(path.read_text())
            if len(layout["members"]) != members or layout["host"] != self.host:
                raise EtcdError(f"{path} describes {len(layout['members'])} members on {layout['host']}, "
                                f"not {members} on {self.host}")
            return layout
        ports = _free_ports(self.host, 2 * members)
        layout = {
            "host": self.host,
            "token": f"privnet-{os.getpid()}-{time.time_ns()}",
            "members": [{"name": f"etcd{i}", "client_port": ports[2 * i], "peer_port": ports[2 * i + 1]}
                        for i in range(members)],
        }
        path.write_text(json.dumps(layout, indent=2) + "\n")
        return layout

    @property
    def members(self) -> int:
        return len(self._layout["members"])

    @property
    def client_urls(self) -> list[str]:
        return [f"http://{self.host}:{m['client_port']}" for m in self._layout["members"]]

    def _peer_url(self, member: dict[str, Any]) -> str:
        return f"http://{self.host}:{member['peer_port']}"

    def data_dir(self, index: int) -> Path:
        return self.directory / f"{self._layout['members'][index]['name']}.etcd"

    def log_path(self, index: int) -> Path:
        return self.directory / f"{self._layout['members'][index]['name']}.log"

    def _args(self, index: int) -> list[str]:
        member = self._layout["members"][index]
        client_url = self.client_urls[index]
        initial = ",".join(f"{m['name']}={self._peer_url(m)}" for m in self._layout["members"])
        # `new` bootstraps the cluster; a member with data rejoins it (etcd reads its own WAL then).
        state = "existing" if (self.data_dir(index) / "member").exists() else "new"
        return [
            shutil.which("etcd") or "etcd",
            "--name", member["name"],
            "--data-dir", str(self.data_dir(index)),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", self._peer_url(member),
            "--initial-advertise-peer-urls", self._peer_url(member),
            "--initial-cluster", initial,
            "--initial-cluster-token", self._layout["token"],
            "--initial-cluster-state", state,
            "--heartbeat-interval", str(HEARTBEAT_MS),
            "--election-timeout", str(ELECTION_MS),
            "--auto-compaction-mode", "revision",
            "--auto-compaction-retention", "1000",
            "--quota-backend-bytes", str(QUOTA_BYTES),
            "--max-request-bytes", str(MAX_REQUEST_BYTES),
            "--experimental-watch-progress-notify-interval", "5s",
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--log-level", "warn",
        ]

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, detach: bool = False) -> list[str]:
        """Start every member that is not running; return the client URLs once the cluster is healthy.

        `detach` puts the members in their own session (they outlive this process; stop them by pid).
        """
        if not etcd_available():
            raise EtcdError("etcd is not installed (Debian: apt-get install etcd-server)")
        self._detach = detach
        try:
            for index in range(self.members):
                if not self._running(index):
                    self._spawn(index)
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self.client_urls

    def _spawn(self, index: int) -> None:
        log = self.log_path(index)
        with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE), "ab") as out:
            self._processes[index] = subprocess.Popen(self._args(index), stdout=out, stderr=subprocess.STDOUT,
                                                      stdin=subprocess.DEVNULL, start_new_session=self._detach,
                                                      umask=0o077)

    def _running(self, index: int) -> bool:
        proc = self._processes[index]
        return proc is not None and proc.poll() is None

    def wait_healthy(self, timeout: float = START_TIMEOUT_S, members: list[int] | None = None) -> None:
        """Wait until each given member (default: every running one) reports `/health` true,
        which needs an elected leader and a committed read; raises EtcdError after `timeout`."""
        wanted = [i for i in range(self.members) if self._running(i)] if members is None else members
        deadline = time.monotonic() + timeout
        for index in wanted:
            while not self._healthy(index):
                proc = self._processes[index]
                if proc is not None and proc.poll() is not None:
                    raise EtcdError(f"etcd member {index} exited with code {proc.returncode}:\n{self._tail(index)}")
                if time.monotonic() > deadline:
                    raise EtcdError(f"etcd member {index} ({self.client_urls[index]}) not healthy within "
                                    f"{timeout:.0f} s:\n{self._tail(index)}")
                time.sleep(0.1)

    def _healthy(self, index: int) -> bool:
        try:
            response = httpx.get(self.client_urls[index] + "/health", timeout=2.0)
            return response.status_code == 200 and response.json().get("health") == "true"
        except (httpx.HTTPError, ValueError):
            return False

    def _tail(self, index: int) -> str:
        log = self.log_path(index)
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def stop_member(self, index: int, sig: int = signal.SIGTERM) -> None:
        """Stop one member (SIGTERM: graceful; SIGKILL: a crash) and wait for it to exit."""
        proc = self._processes[index]
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._processes[index] = None

    def start_member(self, index: int) -> None:
        """Restart a stopped member on its ports with its data directory (it rejoins the cluster).

        Returns once it accepts client connections; it answers requests once a quorum is up
        (`wait_healthy`).
        """
        if self._running(index):
            return
        self._spawn(index)
        deadline = time.monotonic() + START_TIMEOUT_S
        port = self._layout["members"][index]["client_port"]
        while True:
            proc = self._processes[index]
            assert proc is not None
            if proc.poll() is not None:
                raise EtcdError(f"etcd member {index} exited with code {proc.returncode}:\n{self._tail(index)}")
            try:
                with socket.create_connection((self.host, port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise EtcdError(f"etcd member {index} did not listen on {port}:\n{self._tail(index)}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop every member, one after the other (SIGTERM, then SIGKILL after a grace period).

        One at a time: a leader stopping together with its followers waits seconds for a
        leadership transfer nobody can take.
        """
        for index in range(self.members):
            self.stop_member(index)

    def pids(self) -> list[int | None]:
        """Process id of each member, None for a member that is not running."""
        return [p.pid if p is not None and p.poll() is None else None for p in self._processes]

    def __enter__(self) -> EtcdCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
