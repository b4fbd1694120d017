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
    # JSON: the stdlib codec's frames, the frames that call orjson (C, no frames of its own) and
    # FastAPI's encoder; pydantic (below) is the typed side of the same parsing.
    (
        "JSON encode/decode (json, orjson, FastAPI encoders)",
        ("json/", "orjson", "fastapi/encoders.py", "_dumps (engine/rpc/app.py", "_loads (engine/rpc/app.py",
         "engine/rpc/jsonguard.py"),
    ),
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
        "stage_samples": dict(stages),
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


# -- CPU per private transaction by step and by process (issue 15) --------------------------------

# The steps of the table, in print order; each stage of STAGE_RULES belongs to one of them.
STEPS: tuple[str, ...] = (
    "EVM interpreter",
    "py-evm other (blocks, headers, validation)",
    "RLP / tries / hashing",
    "signatures",
    "HTTP framework",
    "JSON",
    "SQL",
    "crypto",
    "HTTP client",
    "privnet code",
    "other",
)

STEP_OF_STAGE: dict[str, str] = {
    "ECDSA (coincurve / eth_keys)": "signatures",
    "SQLite: node chain store + ordering": "SQL",
    "manager: SQL payload store": "SQL",
    "manager: envelope crypto": "crypto",
    "manager: payload codec": "privnet code",
    "HTTP client (httpx: node->manager, manager->manager)": "HTTP client",
    "keccak": "RLP / tries / hashing",
    "RLP encode/decode": "RLP / tries / hashing",
    "trie (hexary)": "RLP / tries / hashing",
    "py-evm state/db layers": "RLP / tries / hashing",
    "EVM interpreter": "EVM interpreter",
    "py-evm other (vm, headers, validation)": "py-evm other (blocks, headers, validation)",
    "JSON encode/decode (json, orjson, FastAPI encoders)": "JSON",
    "pydantic validation": "JSON",
    "engine: private side + privacy service": "privnet code",
    "engine: tx pool": "privnet code",
    "engine: RPC handlers + formatting": "privnet code",
    "HTTP server + event loop (uvicorn/h11/starlette/anyio)": "HTTP framework",
    "engine: node loop, other": "privnet code",
    "manager: other": "privnet code",
}


def step_of(stage: str) -> str:
    return STEP_OF_STAGE.get(stage, "other")


def stage_shares(summary: dict[str, Any]) -> dict[str, float]:
    """Fraction of a profile's samples per stage (sums to 1), from the exact counts when the
    summary has them, else from the rounded percentages of an older summary."""
    counts = summary.get("stage_samples")
    if counts:
        total = sum(counts.values())
        return {stage: n / total for stage, n in counts.items()}
    pct = summary.get("stages_pct") or []
    total = sum(v for _, v in pct)
    return {stage: v / total for stage, v in pct} if total else {}


def _process_order(name: str) -> tuple[bool, str]:
    return ("manager" in name, name)  # nodes first, then their managers


def cpu_by_step(profiles: dict[str, dict[str, Any]], cpu_ms_per_tx: dict[str, float]) -> dict[str, Any]:
    """ms of CPU per confirmed private tx by step (rows) and process (columns): each process's
    measured CPU per tx (/proc) split by the share of its GIL samples in each step. An estimate:
    py-spy --gil sees the GIL holder only, so work done with the GIL released (SQLite, some C
    extensions) is charged to the step that called it. Processes without a usable profile are
    listed under `missing` and left out of the totals."""
    processes = sorted(
        (p for p in cpu_ms_per_tx if p in profiles and stage_shares(profiles[p])), key=_process_order
    )
    ms = {step: dict.fromkeys(processes, 0.0) for step in STEPS}
    for process in processes:
        for stage, share in stage_shares(profiles[process]).items():
            ms[step_of(stage)][process] += cpu_ms_per_tx[process] * share
    return {
        "unit": "ms of CPU per confirmed private tx",
        "processes": processes,
        "steps": list(STEPS),
        "ms": ms,
        "step_total": {step: sum(row.values()) for step, row in ms.items()},
        "process_total": {p: cpu_ms_per_tx[p] for p in processes},
        "total": sum(cpu_ms_per_tx[p] for p in processes),
        "missing": sorted((p for p in cpu_ms_per_tx if p not in processes), key=_process_order),
    }


def _column(name: str) -> str:
    return name.replace("-manager", "-mgr")


def cpu_by_step_text(table: dict[str, Any]) -> str:
    """The table as printed after the profiles."""
    return _render(table, markdown=False)


def cpu_by_step_markdown(table: dict[str, Any]) -> str:
    """The same table for docs/benchmarks.md."""
    return _render(table, markdown=True)


def _render(table: dict[str, Any], markdown: bool) -> str:
    processes = table["processes"]
    headers = ["step", *(_column(p) for p in processes), "total"]
    body = [[step, *(table["ms"][step][p] for p in processes), table["step_total"][step]] for step in table["steps"]]
    body.append(["total (measured, /proc)", *(table["process_total"][p] for p in processes), table["total"]])
    cells = [[row[0], *(f"{v:.2f}" for v in row[1:])] for row in body]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
    else:
        widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
        fmt = [h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(headers)]
        lines = [" | ".join(fmt), "-+-".join("-" * w for w in widths)]
        for n, row in enumerate(cells):
            if n == len(cells) - 1:
                lines.append("-+-".join("-" * w for w in widths))
            lines.append(" | ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(row)))
        lines.insert(0, f"CPU per confirmed private tx by step and process ({table['unit']}; process CPU from /proc "
                        "x share of its py-spy GIL samples per step)")
    if table["missing"]:
        lines.append(f"no profile for: {', '.join(table['missing'])}")
    return "\n".join(lines)


def cpu_by_step_from_files(results: Path) -> dict[str, Any]:
    """Recompute the table from a stored run (bench/results/<stamp>.json of a part B run with
    --profile, and its <stamp>-profiles.json of raw stacks), with today's stage rules."""
    import json
    import tempfile

    data = json.loads(results.read_text())
    cpu = data["private"]["run"]["throughput"]["cpu_ms_per_tx"]
    raw = json.loads(results.with_name(results.stem + "-profiles.json").read_text())
    profiles: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for file_name, text in raw.items():
            if not file_name.startswith("private-"):
                continue
            path = Path(tmp) / file_name
            path.write_text(text)
            profiles[file_name.removeprefix("private-").removesuffix(".txt")] = summarize(path)
    return cpu_by_step(profiles, cpu)


if __name__ == "__main__":  # python -m bench.profiling bench/results/<stamp>.json [--markdown]
    _table = cpu_by_step_from_files(Path(sys.argv[1]))
    print(cpu_by_step_markdown(_table) if "--markdown" in sys.argv else cpu_by_step_text(_table))
