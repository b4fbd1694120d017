"""How the node's manager client (privacy/client.py) reaches the manager: request in, status and bytes out.

The client needs little of HTTP: a method, a path with an optional query, a JSON body, a
status and the answer's bytes, keep-alive connections shared by threads, one timeout, and a
unix socket (GoQuorum's `tm.ipc`) or TCP. Two ways to get it, chosen where the client is built:

- `PooledHttp` (every node): urllib3's connection pool. The sending node makes one `/send`
  per private transaction; on the 2-core bench machine a request cost about 200-280 µs of the
  node's CPU this way against about 500 µs through httpx's client (bench notes in
  docs/benchmarks.md).
- `HttpxHttp`: any httpx transport. Tests drive a manager app in process through one.

Both raise `TransportFailure` when no answer came (refused, reset, timed out); an answer of
any status is a `Reply`.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import urllib3
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

UNIX = "unix://"


class TransportFailure(Exception):
    """No answer from the manager: the text says why (for the client's error message)."""


@dataclass(frozen=True, slots=True)
class Reply:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class Q2THttp(Protocol):
    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> Reply:
        """`path` may carry a query string; raises TransportFailure when nothing answered."""

    def close(self) -> None: ...


#: A pooled connection idle this long is closed rather than reused: the manager's server (uvicorn,
#: 5 s keep-alive) may be closing it at that moment, and a `/send` on it would fail.
IDLE_S = 2.0


class _ClosesIdleConnections(HTTPConnectionPool):
    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.privnet_idle_since = time.monotonic()
        super()._put_conn(conn)

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        since = getattr(conn, "privnet_idle_since", None)
        if since is not None and time.monotonic() - since > IDLE_S:
            conn.close()  # reconnects on use
        return conn


class _TcpPool(_ClosesIdleConnections):
    pass


class _TlsPool(_ClosesIdleConnections, HTTPSConnectionPool):
    pass


class _UnixSocketConnection(HTTPConnection):
    """An HTTP/1.1 connection over a unix socket (the Host header names `localhost`)."""

    def __init__(self, *args: Any, socket_path: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.socket_path = socket_path

    def _new_conn(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)  # type: ignore[arg-type]  (urllib3 resolved it to seconds)
            sock.connect(self.socket_path)
        except OSError as exc:
            sock.close()
            raise urllib3.exceptions.NewConnectionError(self, f"cannot connect to {self.socket_path}: {exc}") from exc
        return sock


class _UnixSocketPool(_ClosesIdleConnections):
    ConnectionCls = _UnixSocketConnection  # type: ignore[assignment]


class PooledHttp:
    """Keep-alive connections to one manager URL (`http(s)://host:port[/base]` or `unix:///path`)."""

    def __init__(self, url: str, timeout_s: float, headers: Mapping[str, str] | None = None,
                 max_connections: int = 32) -> None:
        timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._headers = dict(headers or {})
        self._base = ""
        if url.startswith(UNIX):
            self._pool: HTTPConnectionPool = _UnixSocketPool(
                "localhost", maxsize=max_connections, timeout=timeout, retries=False,
                socket_path=url[len(UNIX):])
        else:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"a manager URL is http(s)://host:port[/path] or unix:///path, not {url!r}")
            self._base = parts.path.rstrip("/")
            pool_class = _TlsPool if parts.scheme == "https" else _TcpPool
            self._pool = pool_class(parts.hostname, parts.port, maxsize=max_connections, timeout=timeout,
                                    retries=False)

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> Reply:
        headers = self._headers if content_type is None else {**self._headers, "content-type": content_type}
        try:
            response = self._pool.urlopen(method, self._base + path, body=body, headers=headers, retries=False,
                                          redirect=False, assert_same_host=False)
        except urllib3.exceptions.HTTPError as exc:
            raise TransportFailure(f"{type(exc).__name__}: {exc}") from None
        return Reply(response.status, response.data)

    def close(self) -> None:
        self._pool.close()


class HttpxHttp:
    """The same over an httpx transport (tests: a manager app served in process)."""

    def __init__(self, transport: httpx.BaseTransport, base_url: str, timeout_s: float,
                 headers: Mapping[str, str] | None = None) -> None:
        self._client = httpx.Client(base_url=base_url, transport=transport, timeout=timeout_s, headers=headers)

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> Reply:
        headers = None if content_type is None else {"content-type": content_type}
        try:
            response = self._client.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportFailure(f"{type(exc).__name__}: {exc}") from None
        return Reply(response.status_code, response.content)

    def close(self) -> None:
        self._client.close()


__all__ = ["HttpxHttp", "PooledHttp", "Q2THttp", "Reply", "TransportFailure"]
