"""Files only their owner may read, whatever the process umask.

Why: the data directory holds the private state in plaintext (`chain.sqlite`), the ordering
file holds every submitted transaction, and the Q2T token file opens the manager. Created
owner-only from the start; looser modes left by an earlier version are tightened (and
logged); a token file others can read is refused, as ssh refuses such a private key.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

from engine.config import ConfigError

logger = logging.getLogger("engine")

#: SQLite's companions of a database file; new ones take the database file's mode.
SQLITE_SIBLINGS = ("-wal", "-shm", "-journal")
#: RFC 6750's b64token: what may follow `Bearer ` in a header.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~+/-]+=*")


def _tighten(path: Path, mode: int, limit: int) -> None:
    if mode & ~limit & 0o777:
        try:
            path.chmod(mode & limit)
        except PermissionError:
            raise ConfigError(f"{path} has mode {mode:04o} and cannot be made owner-only by this user") from None
        logger.info("tightened %s from %04o to %04o (owner only)", path, mode, mode & limit)


def private_dir(path: Path, *, tighten_existing: bool = True) -> None:
    """Create `path` 0700 (missing parents as the umask says); tighten an existing one if asked."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask; chmod's is not
        return
    if tighten_existing:
        _tighten(path, mode, 0o700)


def private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it, else tighten it and its siblings."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.fchmod(fd, 0o600)
        os.close(fd)
        return
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIBLINGS)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        _tighten(file, mode, 0o700)


def read_token_file(path: Path, setting: str) -> str:
    """The bearer token in `path`, an owner-only regular file; ConfigError naming `setting`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{setting}: {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise ConfigError(f"{setting}: permissions {mode:04o} for {path} are too open; it must be "
                              f"readable by its owner only (chmod 600 {path})")
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    token = raw.decode("ascii", errors="replace").strip()
    if not token:
        raise ConfigError(f"{setting}: {path} is empty")
    if not _TOKEN_SHAPE.fullmatch(token):
        raise ConfigError(f"{setting}: {path} must hold one token of letters, digits and -._~+/ (no spaces)")
    return token


__all__ = ["SQLITE_SIBLINGS", "private_dir", "private_sqlite_file", "read_token_file"]
