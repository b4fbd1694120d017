"""Files and directories only their owner can read, whatever the process umask.

A development network's directory holds private keys, key passwords and every account's
private key (network.json), so `privnet up` creates it and its data directories 0700 and
its secrets 0600, and tightens what an earlier version left wider.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) if needed, then make `path` itself 0700."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask; chmod is not
    return path


def write_private(path: Path, data: str | bytes) -> Path:
    """Write `path` atomically as a 0600 file (a reader never sees it wider or half written)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # O_CREAT's mode does not apply to a file left over from a crash
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(raw)
    finally:
        if fd != -1:
            os.close(fd)
    os.replace(tmp, path)
    return path


def restrict(path: Path) -> None:
    """Make an existing file 0600 or directory 0700 (no-op if it is missing, or is gone by then)."""
    with contextlib.suppress(FileNotFoundError):
        path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)


__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "restrict", "write_private"]
