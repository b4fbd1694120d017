"""`privnet logs NAME [-f] [-n N]`: the end of one process's log file, optionally followed (tail -f).

A restarted process appends to the same file; a file that shrinks (replaced or truncated) is read
again from its start."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

FOLLOW_POLL_S = 0.2
_CHUNK = 64 * 1024


def last_lines(path: Path, count: int) -> tuple[list[str], int]:
    """The last `count` lines of `path` and the file size they were read at (where following starts)."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        data, position = b"", size
        while position > 0 and data.count(b"\n") <= count:
            step = min(_CHUNK, position)
            position -= step
            f.seek(position)
            data = f.read(step) + data
    lines = data.decode(errors="replace").splitlines()
    return (lines[-count:] if count > 0 else []), size


def follow(path: Path, offset: int, emit: Callable[[str], None], stop: Callable[[], bool] = lambda: False) -> None:
    """Emit what is appended to `path` after `offset`, whole lines at a time, until `stop()` is true."""
    pending = b""
    while not stop():
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < offset:  # truncated or replaced: start over
            offset, pending = 0, b""
        if size > offset:
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            offset += len(chunk)
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                emit(line.decode(errors="replace"))
            continue
        time.sleep(FOLLOW_POLL_S)
