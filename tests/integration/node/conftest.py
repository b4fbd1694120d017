"""Real nodes for the node integration tests: `python -m engine` subprocesses, or in-process nodes
behind the real JSON-RPC app on a loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from web3 import HTTPProvider, Web3

from devnet.solc import Artifact, compile_paths
from tests.helpers.servers import free_port

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def compiled_contracts() -> dict[str, Artifact]:
    """Only the engine's own test contracts (solidity/test), as in tests/integration/rpc."""
    return compile_paths([REPO / "solidity" / "test"], base=REPO)


class NodeProcess:
    """`python -m engine --config node.toml` in a subprocess; the same config and data dir on restart."""

    def __init__(self, directory: Path, **settings: int | str) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "node.toml"
        top = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in settings.items())
        self.config.write_text(f'name = "subprocess-node"\ndata_dir = "data"\nchain_id = 1337\n{top}'
                               f'[rpc]\nhost = "127.0.0.1"\nport = {self.port}\n')
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Web3:
        assert self.proc is None
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVNET_")}
        log = (self.directory / f"node-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "engine", "--config", str(self.config)], cwd=REPO,
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited with {self.proc.returncode}:\n{self.log()}")
            try:
                httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"node did not answer on {self.url}:\n{self.log()}") from None
                time.sleep(0.05)
        return Web3(HTTPProvider(self.url, request_kwargs={"timeout": 30}))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.proc = None
        return code

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.directory.glob("node-*.log")))

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    made: list[NodeProcess] = []

    def make(**settings: int | str) -> NodeProcess:
        node = NodeProcess(tmp_path, **settings)
        made.append(node)
        return node

    yield make
    for node in made:
        node.kill_if_running()
