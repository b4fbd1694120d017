"""The P2P HTTP client: what this manager asks of the others (push, party info, resend).

A peer's HTTP answer is a wire edge: party info is parsed with the converters of
`wire.py`, into the domain values `PeerNetwork` works on. Transport failures and 5xx
answers are PeerUnavailable, 403 a PrivacyViolation, any other refusal a PeerRejected.

Over TLS the client presents this manager's certificate (mutual TLS) and reports the URI
SANs of the server's certificate with a party-info answer, so keys are bound only to the
URL the server is certified for. `local_address` pins the source address of connections:
managers sharing a machine on distinct loopback addresses (127.0.0.x) are then told apart
by the IP-based identity of plain HTTP.

Connections are urllib3's keep-alive pools, one per peer: a push is one request per private
transaction and recipient, and on the 2-core bench machine urllib3 took about half the CPU
per request that httpx's client did (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from tessera_like.abc import ResendPage
from tessera_like.errors import InvalidRequest, PeerRejected, PeerUnavailable, PrivacyViolation
from tessera_like.identity import uri_sans
from tessera_like.partyinfo import PartyView
from tessera_like.types import PayloadHash, PublicKey, normalize_url
from tessera_like.wire import (
    PartyInfoDocument,
    ResendPageResponse,
    decode_b64,
    decode_hash,
    decode_party_info,
    encode_b64,
    encode_party_info,
    json_depth_exceeds,
    parse_body,
)


class _ExpiringPool(HTTPConnectionPool):
    """Closes a connection idle longer than `keepalive_s` instead of reusing it: the peer's server
    keeps one a margin longer (tessera_like/runtime.py), so a request never goes out on a
    connection the server is closing at that moment."""

    keepalive_s = 5.0

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.tessera_idle_since = time.monotonic()
        super()._put_conn(conn)

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        since = getattr(conn, "tessera_idle_since", None)
        if since is not None and time.monotonic() - since > self.keepalive_s:
            conn.close()  # reconnects on use
        return conn


def _expiring_pools(keepalive_s: float) -> dict[str, type[HTTPConnectionPool]]:
    attributes = {"keepalive_s": keepalive_s}
    return {"http": type("ExpiringHTTPPool", (_ExpiringPool,), attributes),
            "https": type("ExpiringHTTPSPool", (_ExpiringPool, HTTPSConnectionPool), attributes)}


@dataclass(frozen=True, slots=True)
class _Answer:
    status_code: int
    content: bytes
    server_uris: frozenset[str] | None = None  # the certificate's URI SANs, when asked for (None: no TLS)

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class HttpPeerClient:
    """P2P HTTP client shared by all pushes (keep-alive), optionally over TLS."""

    def __init__(self, timeout: float = 10.0, ca_file: str | None = None,
                 client_cert: tuple[str, str] | None = None, connect_timeout: float = 5.0,
                 local_address: str | None = None, keepalive_s: float = 5.0) -> None:
        """`keepalive_s`: how long an idle connection is kept for reuse. Longer than the gossip
        interval, or every round pays a new (mutual) TLS handshake on both sides."""
        self.timeout = timeout
        self.keepalive_s = keepalive_s
        context = ssl.create_default_context(cafile=ca_file)
        if client_cert:
            context.load_cert_chain(client_cert[0], client_cert[1])
        self._pools = urllib3.PoolManager(
            num_pools=128, maxsize=32, block=False, retries=False, ssl_context=context,
            timeout=urllib3.Timeout(connect=connect_timeout, read=timeout),
            source_address=(local_address, 0) if local_address else None,
        )
        self._pools.pool_classes_by_scheme = _expiring_pools(keepalive_s)

    def close(self) -> None:
        self._pools.clear()

    def _request(self, method: str, url: str, *, content: bytes | None = None, json_body: Any = None,
                 content_type: str | None = None, want_certificate: bool = False) -> _Answer:
        if json_body is not None:
            content, content_type = json.dumps(json_body, separators=(",", ":")).encode(), "application/json"
        headers = {"user-agent": "tessera_like"}
        if content_type is not None:
            headers["content-type"] = content_type
        try:
            response = self._pools.request(method, url, body=content, headers=headers, redirect=False,
                                           preload_content=not want_certificate)
            if not want_certificate:
                return _Answer(response.status, response.data)
            try:
                server_uris = _server_uris(response.connection)
                return _Answer(response.status, response.read(), server_uris)
            finally:
                response.release_conn()
        except urllib3.exceptions.NewConnectionError:  # a subclass of the connect timeout, but refused
            raise PeerUnavailable(f"peer {_origin(url)} is unavailable: cannot connect", _origin(url)) from None
        except urllib3.exceptions.TimeoutError:
            raise PeerUnavailable(f"peer {_origin(url)} is unavailable: request timed out", _origin(url)) from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise PeerUnavailable(f"peer {_origin(url)} is unavailable: cannot connect", _origin(url)) from None

    def _raise_for(self, response: _Answer, url: str, action: str) -> None:
        peer = _origin(url)
        if response.status_code >= 500:
            raise PeerUnavailable(f"peer {peer} failed to {action} (status {response.status_code})", peer)
        if response.status_code >= 400:
            reason = _error_text(response)
            if response.status_code == 403:
                raise PrivacyViolation(f"peer {peer} refused to {action}: {reason}")
            raise PeerRejected(f"peer {peer} refused to {action} (status {response.status_code}): {reason}", peer)

    def push(self, url: str, encoded: bytes) -> None:
        """Push one encoded payload; a 409 (already stored there) counts as success."""
        response = self._request("POST", f"{url}/push", content=encoded, content_type="application/octet-stream")
        if response.status_code in (200, 201, 409):
            return
        self._raise_for(response, url, "store the pushed payload")

    def post_partyinfo(self, url: str, request: PartyView) -> tuple[PartyView, frozenset[str] | None]:
        """Send our party info to `url`; its answer, parsed like a request to us (malformed
        entries left out; a malformed document is a PeerRejected), and the URI SANs of the
        server's certificate (None over plain HTTP)."""
        response = self._request("POST", f"{url}/partyinfo", json_body=encode_party_info(request),
                                 want_certificate=True)
        server_urls = response.server_uris
        if response.status_code != 200:
            self._raise_for(response, url, "exchange party info")
            raise PeerRejected(f"peer {url} answered party info with status {response.status_code}", url)
        try:
            return decode_party_info(parse_body(response.content, PartyInfoDocument)), server_urls
        except InvalidRequest as exc:
            raise PeerRejected(f"peer {url} answered malformed party info: {exc.message}", url) from None

    def post_commitment(self, url: str, document: dict[str, Any]) -> None:
        """Deliver one state commitment (`POST /commitments`, tessera_like/commitments.py); a
        refusal raises as a refused push does (403: PrivacyViolation)."""
        response = self._request("POST", f"{url}/commitments", json_body=document)
        if response.status_code not in (200, 201):
            self._raise_for(response, url, "take the state commitment")

    def resend_all(self, url: str, key: PublicKey) -> None:
        """Ask the manager at `url` to push back every payload `key` can open."""
        response = self._request("POST", f"{url}/resend", json_body={"type": "ALL", "publicKey": encode_b64(key)})
        if response.status_code >= 400:
            self._raise_for(response, url, "resend")


    def resend_page(self, url: str, key: PublicKey, after: PayloadHash | None, limit: int) -> ResendPage:
        """Ask the manager at `url` for one page of the payloads `key` can open (paged recovery).

        The answer is parsed as input: a malformed page, or a cursor that does not move past
        `after`, is a PeerRejected (a peer must not keep a recovery going round in circles)."""
        body: dict[str, object] = {"publicKey": encode_b64(key), "limit": limit}
        if after is not None:
            body["after"] = encode_b64(after)
        response = self._request("POST", f"{url}/resend/page", json_body=body)
        if response.status_code != 200:
            self._raise_for(response, url, "resend a page")
            raise PeerRejected(f"peer {url} answered a page request with status {response.status_code}", url)
        try:
            document = parse_body(response.content, ResendPageResponse)
            payloads = tuple(decode_b64(p, f"payloads[{i}]") for i, p in enumerate(document.payloads))
            cursor = decode_hash(document.next, "next") if document.next is not None else None
        except InvalidRequest as exc:
            raise PeerRejected(f"peer {url} answered a malformed page: {exc.message}", url) from None
        if len(payloads) > limit:
            raise PeerRejected(f"peer {url} answered a page of {len(payloads)} payloads; {limit} were asked for", url)
        if cursor is not None and after is not None and cursor <= after:
            raise PeerRejected(f"peer {url} answered a page whose cursor does not move forward", url)
        return ResendPage(payloads, cursor)


def _server_uris(connection: Any) -> frozenset[str] | None:
    """The normalized URI SANs of the verified server certificate; None without TLS."""
    sock = getattr(connection, "sock", None)
    if not isinstance(sock, ssl.SSLSocket):
        return None
    try:
        certificate = sock.getpeercert()
    except (ValueError, ssl.SSLError):
        return frozenset()
    return frozenset(normalize_url(u) for u in uri_sans(certificate or {}))


def _origin(url: str) -> str:
    parsed = urlsplit(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _error_text(response: _Answer) -> str:
    text = None
    if not json_depth_exceeds(response.content):  # a peer's error body is input like any other
        try:
            document = response.json()
            text = document.get("error") if isinstance(document, dict) else None
        except ValueError:
            text = None
    text = text if isinstance(text, str) else response.text
    return text[:300]


__all__ = ["HttpPeerClient"]
