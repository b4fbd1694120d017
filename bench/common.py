"""Shared pieces: machine facts, timing helpers, free ports, the result table."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "-"


def machine_info() -> dict[str, Any]:
    from eth_keys.backends import get_backend

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "py-evm": package_version("py-evm"),
        "eth-account": package_version("eth-account"),
        "coincurve": package_version("coincurve"),
        "eth_keys_backend": type(get_backend()).__name__,
        "uvicorn": package_version("uvicorn"),
        "uvloop": package_version("uvloop"),
        "httptools": package_version("httptools"),
        "httpx": package_version("httpx"),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def best_of(fn: Any, repeat: int, number: int) -> float:
    """Seconds per call of `fn()`: the median of `repeat` runs of `number` calls."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


@dataclass
class Row:
    """One line of the printed table (and of the JSON `rows`)."""

    part: str
    name: str
    value: float | None
    unit: str
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def format_value(value: float | None, unit: str) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if unit in ("x", "ratio"):
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(rows: list[Row], title: str = "") -> str:
    headers = ("part", "metric", "value", "unit", "note")
    cells = [(r.part, r.name, format_value(r.value, r.unit), r.unit, r.note) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    widths[4] = len(headers[4]) if not cells else max(len(headers[4]), *(len(c[4]) for c in cells))

    def line(values: tuple[str, ...]) -> str:
        parts = []
        for i, (v, w) in enumerate(zip(values, widths, strict=True)):
            parts.append(v.rjust(w) if i == 2 else v.ljust(w))
        return " | ".join(parts).rstrip()

    out = []
    if title:
        out.append(title)
    out.append(line(headers))
    out.append("-+-".join("-" * w for w in widths))
    previous = None
    for row, values in zip(rows, cells, strict=True):
        if previous is not None and row.part != previous:
            out.append("-+-".join("-" * w for w in widths))
        out.append(line(values))
        previous = row.part
    return "\n".join(out)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
