"""HTTP clients for a manager's Q2T API, at `http://host:port` or on a unix socket.

`privnet up` puts each manager's Q2T API on a unix socket (`unix:///…/tm.ipc`, GoQuorum's
`tm.ipc`), which httpx reaches through a transport rather than a URL; the launcher, the
tests and the benchmarks go through here so either form of `ptm_q2t_url` works.
"""

from __future__ import annotations

from typing import Any

import httpx

UNIX_PREFIX = "unix://"


def socket_path(url: str) -> str | None:
    """The socket file of a `unix://` URL, else None."""
    return url[len(UNIX_PREFIX):] if url.startswith(UNIX_PREFIX) else None


def q2t_client(url: str, timeout: float = 30.0, **kwargs: Any) -> httpx.Client:
    """A client whose relative paths (`/upcheck`, `/send`) go to the Q2T API at `url`."""
    path = socket_path(url)
    if path is None:
        return httpx.Client(base_url=url.rstrip("/"), timeout=timeout, **kwargs)
    return httpx.Client(base_url="http://q2t", transport=httpx.HTTPTransport(uds=path), timeout=timeout, **kwargs)


def q2t_request(url: str, method: str, path: str, timeout: float = 30.0, **kwargs: Any) -> httpx.Response:
    """One request to the Q2T API at `url` (`path` such as `/partyinfo/keys`)."""
    with q2t_client(url, timeout) as client:
        return client.request(method, path, **kwargs)


__all__ = ["q2t_client", "q2t_request", "socket_path"]
