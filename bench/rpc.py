"""A lean JSON-RPC client (httpx keep-alive + orjson) and a node server in a subprocess.

The client is deliberately thin (no web3.py middleware) so the load generator spends as
little of the machine's two cores as it can; web3.py is used only where the brief asks
for it (the private deployment).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import REPO, free_port


class RpcError(Exception):
    pass


class RpcClient:
    """One keep-alive connection pool to one JSON-RPC URL (use one per thread)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=4, max_keepalive_connections=4))
        self._ids = itertools.count(1)
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, body: Any) -> Any:
        response = self._http.post(self.url, content=orjson.dumps(body), headers={"content-type": "application/json"})
        self.requests += 1
        response.raise_for_status()
        return orjson.loads(response.content)

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        if "error" in reply:
            raise RpcError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch(self, calls: Iterable[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
        """Raw response objects, in request order (each has `result` or `error`)."""
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        if not body:
            return []
        replies = self._post(body)
        if isinstance(replies, dict):  # a batch-level error
            raise RpcError(str(replies.get("error")))
        by_id = {r.get("id"): r for r in replies}
        return [by_id.get(i, {"error": {"message": "missing response"}}) for i in range(len(body))]

    def receipts(self, hashes: Sequence[bytes], chunk: int = 500) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        for start in range(0, len(hashes), chunk):
            part = hashes[start : start + chunk]
            for reply in self.batch(("eth_getTransactionReceipt", ["0x" + h.hex()]) for h in part):
                if "error" in reply:
                    raise RpcError(f"eth_getTransactionReceipt: {reply['error']}")
                out.append(reply["result"])
        return out


def wait_http(url: str, deadline_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    end = time.monotonic() + deadline_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before answering at {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"no answer at {url} after {deadline_s:.0f} s")
        time.sleep(0.05)


def clean_env() -> dict[str, str]:
    """The environment for child servers: ours without PRIVNET_ overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVNET_")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class NodeProcess:
    """`python -m engine --config node.toml` with a fresh data dir and a free port."""

    def __init__(self, workdir: Path, name: str = "bench", extra_toml: str = "") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir = workdir / "data"
        self.config = workdir / "node.toml"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f'name = "{name}"\n'
            f'data_dir = "{data_dir}"\n'
            'log_level = "WARNING"\n'
            f"{extra_toml}"
            "\n[rpc]\n"
            f"port = {self.port}\n"
            "\n[ordering]\n"
            'kind = "local"\n'
            f'path = "{workdir / "ordering.sqlite"}"\n'
        )
        self.log_path = workdir / "node.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> NodeProcess:
        log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "--config", str(self.config)],
            cwd=str(REPO),
            env=clean_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()
        try:
            wait_http(self.url + "/health", timeout_s, self.proc)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"node did not start:\n{self.log_tail()}") from None
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class BlockWatcher:
    """Follows a node's new blocks and records when each transaction was first seen in a block.

    It subscribes to `newHeads` over the node's WebSocket (`eth_subscribe`, as a web3 client
    waiting for blocks does) and, for each pushed header, reads the new blocks' transaction
    hashes with one `eth_getBlockByNumber` batch over HTTP. The node pushes a header once the
    block is committed (its receipts are readable there), so "seen" is exact, and the node
    serves one notification and one read per block instead of a poll every few milliseconds
    (polling every 10 ms cost the parties' nodes CPU and added half a poll to every latency).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: dict[bytes, float] = {}
        self.block_sizes: dict[int, int] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0
        self._ws: Any = None

    def start(self) -> BlockWatcher:
        from websockets.sync.client import connect

        self._ws = connect("ws" + self.url[len("http"):], max_size=None, open_timeout=30)
        self._ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
        reply = orjson.loads(self._ws.recv(timeout=30))
        if "error" in reply:
            self._ws.close()
            raise RpcError(f"eth_subscribe: {reply['error']}")
        with RpcClient(self.url) as client:  # after subscribing: any later block is pushed
            self._next = int(client.call("eth_blockNumber"), 16) + 1
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.url}", daemon=True)
        self._thread.start()
        return self

    def _pushed_heads(self) -> tuple[int, float] | None:
        """The highest block number among the headers pushed so far (waiting up to 0.2 s for
        the first), and when the first of them arrived."""
        try:
            message = self._ws.recv(timeout=0.2)
        except TimeoutError:
            return None
        seen_at = time.perf_counter()
        head = -1
        while True:
            result = orjson.loads(message).get("params", {}).get("result") or {}
            if "number" in result:
                head = max(head, int(result["number"], 16))
            try:
                message = self._ws.recv(timeout=0)
            except TimeoutError:
                return head, seen_at

    def _run(self) -> None:
        with RpcClient(self.url) as client:
            while not self._stop.is_set():
                try:
                    pushed = self._pushed_heads()
                    if pushed is None or pushed[0] < self._next:
                        continue
                    head, seen_at = pushed
                    numbers = list(range(self._next, head + 1))
                    for start in range(0, len(numbers), 200):
                        part = numbers[start : start + 200]
                        replies = client.batch(("eth_getBlockByNumber", [hex(n), False]) for n in part)
                        for number, reply in zip(part, replies, strict=True):
                            txs = (reply.get("result") or {}).get("transactions") or []
                            self.block_sizes[number] = len(txs)
                            for h in txs:
                                self.seen.setdefault(bytes.fromhex(h[2:]), seen_at)
                    self._next = head + 1
                except Exception as exc:  # noqa: BLE001 - surfaced by wait_for
                    if self._stop.is_set():
                        return
                    self.error = f"{type(exc).__name__}: {exc}"
                    self._stop.wait(0.2)

    def wait_for(self, hashes: list[bytes], deadline_s: float) -> float:
        """Block until every hash was seen; return when the last of them was seen."""
        end = time.monotonic() + deadline_s
        pending = [h for h in hashes if h not in self.seen]
        while pending:
            if time.monotonic() > end:
                raise RuntimeError(
                    f"{len(pending)} of {len(hashes)} transactions not in a block at {self.url} "
                    f"after {deadline_s:.0f} s (watcher error: {self.error})"
                )
            time.sleep(0.005)
            pending = [h for h in pending if h not in self.seen]
        return max(self.seen[h] for h in hashes)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._ws is not None:
            self._ws.close()
