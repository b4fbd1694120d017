"""Optional sampling profiles of server processes with py-spy (`--profile`).

py-spy is not a project dependency: `.venv/bin/pip install py-spy`. It samples the GIL
holder only (`--gil`), 100 times a second, so a profile answers "what is the interpreter
doing", which is the question for a GIL-bound server. Stacks are summarised into stages
(the first rule that matches a frame, scanning from the leaf up) and by thread.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# (stage, substrings of a frame "function (path:line)"); each stack is scanned from the leaf
# up and the first frame that matches any rule (in this order) names its stage.
STAGE_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("ECDSA (coincurve / eth_keys)", ("coincurve/", "eth_keys/")),
    ("SQLite: node chain store + ordering", ("engine/db/store.py", "engine/ordering/")),
    ("manager: SQL payload store", ("tessera_like/store/", "sqlalchemy/")),
    ("manager: envelope crypto", ("tessera_like/crypto/", "cryptography/")),
    ("manager: payload codec", ("tessera_like/payload.py", "tessera_like/sealing.py")),
    (
        "HTTP client (httpx: node->manager, manager->manager)",
        ("httpx/", "httpcore/", "h11/_connection.py:", "privacy/client.py", "tessera_like/peer_client.py"),
    ),
    ("keccak", ("eth_hash/", "Crypto/Hash", "pycryptodome")),
    ("RLP encode/decode", ("rlp/",)),
    ("trie (hexary)", ("trie/",)),
    ("py-evm state/db layers", ("eth/db/",)),
    (
        "EVM interpreter",
        (
            "eth/vm/logic/",
            "eth/vm/computation.py",
            "eth/vm/code_stream.py",
            "eth/vm/opcode",
            "eth/vm/memory.py",
            "eth/vm/stack.py",
            "eth/vm/gas_meter.py",
            "eth/vm/message.py",
        ),
    ),
    ("py-evm other (vm, headers, validation)", ("eth/",)),
    ("engine: private side + privacy service", ("engine/privacy/",)),
    ("engine: tx pool", ("engine/chain/txpool.py",)),
    ("engine: RPC handlers + formatting", ("engine/rpc/", "engine/chain/views.py")),
    ("pydantic validation", ("pydantic",)),
    (
        "HTTP server + event loop (uvicorn/h11/starlette/anyio)",
        ("uvicorn/", "h11/", "starlette/", "fastapi/", "anyio/", "asyncio/", "selectors.py"),
    ),
    ("engine: node loop, other", ("engine/",)),
    ("manager: other", ("tessera_like/",)),
]


def py_spy_path() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    if candidate.exists():
        return str(candidate)
    return shutil.which("py-spy")


def classify(frames: list[str]) -> str:
    for frame in reversed(frames):
        for stage, needles in STAGE_RULES:
            if any(n in frame for n in needles):
                return stage
    return "other"


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """Share of samples per stage, per thread, and the hottest leaf functions."""
    stages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"error": f"no profile at {path}"}
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        parts = stack.split(";")
        if parts[0].startswith("thread ("):  # "thread (tid): name"
            thread = parts[0].split(": ", 1)[1] if ": " in parts[0] else parts[0]
            frames = parts[1:]
        else:
            thread, frames = "?", parts
        thread = "ptm-fetch" if thread.startswith("ptm-fetch") else thread
        total += count
        stages[classify(frames)] += count
        threads["AnyIO worker" if thread.startswith("AnyIO") else thread] += count
        if frames:
            leaves[frames[-1]] += count

    def shares(counter: Counter[str], n: int | None = None) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "file": str(path),
        "stages_pct": shares(stages),
        "threads_pct": shares(threads, 8),
        "top_leaves_pct": shares(leaves, top),
    }


class PySpy:
    """`py-spy record` on a pid from start() to stop(); stop() returns the summary."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.pid = pid
        self.out = out
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PySpy:
        exe = py_spy_path()
        if exe is None:
            return self
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "-o",
                str(self.out),
                "--rate",
                str(self.rate),
                "--nonblocking",
                "--threads",
                "--gil",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self

    def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return {"error": "py-spy did not stop"}
        if not self.out.exists():
            return {"error": err.decode(errors="replace")[-500:]}
        return summarize(self.out)


def dump(pid: int) -> str:
    """One `py-spy dump` of every thread of `pid` (text), or why not."""
    exe = py_spy_path()
    if exe is None:
        return "py-spy not installed"
    proc = subprocess.run(
        [exe, "dump", "--pid", str(pid), "--nonblocking"], capture_output=True, text=True, timeout=30, check=False
    )
    return proc.stdout or proc.stderr
