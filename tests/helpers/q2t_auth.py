"""Talking to a manager's TCP Q2T API, which requires its bearer token on every request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tessera_like.runtime import ManagerProcess


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header for `token` (none for a unix-socket manager)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def token_in(path: Path) -> str:
    """The token a manager wrote to (or read from) its q2t_token_file."""
    return path.read_text(encoding="ascii").strip()


def q2t_client(proc: ManagerProcess, timeout: float = 20, **kwargs: Any) -> httpx.Client:
    """A client for `proc`'s TCP Q2T API that sends its token."""
    return httpx.Client(base_url=proc.q2t_url, timeout=timeout, headers=bearer(proc.q2t_token), **kwargs)


__all__ = ["bearer", "q2t_client", "token_in"]
