"""The Q2T bearer token: read from `q2t_token_file`, or created there on first start.

Why a token: on TCP any local process can connect to the Q2T port, which serves every
payload in plaintext and deletes payloads. The file is the secret's only copy on disk, so it
is owner-only, like ssh's private keys: a file others can read or write is refused, not used.
On a unix socket no token is needed: the socket's 0600 mode does the same job (GoQuorum's
`tm.ipc`).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from pathlib import Path

from tessera_like.config import ManagerSettings
from tessera_like.errors import ConfigError

log = logging.getLogger("tessera_like")

#: RFC 6750's b64token: what may follow `Bearer ` in a header.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~+/-]+=*")


def q2t_token_for(settings: ManagerSettings) -> str | None:
    """The token TCP Q2T requests must carry; None on a unix socket. Raises ConfigError."""
    if settings.q2t_socket is not None:
        return None
    if settings.q2t_token_file is None:
        raise ConfigError("q2t_token_file: required when the Q2T API listens on TCP (q2t_host/q2t_port); "
                          "name a file (created with a random token if missing) or set q2t_socket")
    return load_or_create_token(settings.q2t_token_file)


def load_or_create_token(path: Path) -> str:
    """The token in `path`; a missing file is created 0600 with a fresh random token."""
    try:
        return _create(path)
    except FileExistsError:
        return read_token_file(path)


def _create(path: Path) -> str:
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # O_EXCL: never clobber a file (or follow a link) made meanwhile; 0o600 from creation.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("created Q2T token file %s (mode 0600)", path)
    return token


def read_token_file(path: Path) -> str:
    """The token in an existing owner-only file; ConfigError naming the file otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY)  # a link is fine (mounted secrets): its target is checked
    except OSError as exc:
        raise ConfigError(f"q2t_token_file: cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"q2t_token_file: {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise ConfigError(f"q2t_token_file: permissions {mode:04o} for {path} are too open; it must be "
                              f"readable by its owner only (chmod 600 {path})")
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"q2t_token_file: {path} does not hold an ASCII token") from None
    if not token:
        raise ConfigError(f"q2t_token_file: {path} is empty")
    if not _TOKEN_SHAPE.fullmatch(token):
        raise ConfigError(f"q2t_token_file: {path} must hold one token of letters, digits and -._~+/ "
                          "(no spaces)")
    return token


__all__ = ["load_or_create_token", "q2t_token_for", "read_token_file"]
