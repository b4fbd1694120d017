"""Who is calling: the identity the P2P transport proved for a request.

With mutual TLS it is the set of URI SANs of the verified client certificate: each
manager's certificate carries its advertised P2P URL, so "the caller is the manager at
URL u" means u is one of those URIs. Without a client certificate (plain HTTP, the
`--insecure-p2p` debugging mode) it falls back to Tessera's whitelist semantics: the
client's IP address, matched against the host of a URL. That is weaker: every process on
that host counts as the manager there, and on a shared address nothing tells them apart.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tessera_like.types import normalize_url


def _address(text: str) -> str | None:
    """`text` as a canonical IP address (IPv4-mapped IPv6 made IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def host_addresses(url: str) -> set[str]:
    """The IP addresses the host of `url` stands for (resolved when it is a name)."""
    host = urlsplit(normalize_url(url)).hostname or ""
    literal = _address(host)
    if literal is not None:
        return {literal}
    if not host:
        return set()
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return set()
    return {a for info in infos if (a := _address(str(info[4][0]))) is not None}


def uri_sans(certificate: Mapping[str, Any] | None) -> list[str]:
    """The URI subject alternative names of a certificate in `ssl.getpeercert()` form."""
    if not certificate:
        return []
    return [str(value) for kind, value in certificate.get("subjectAltName", ()) if kind == "URI"]


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """The caller of a P2P request as the transport proved it.

    `urls` are the URI SANs of a verified client certificate (normalized); `address` the
    client's IP address; `certified` says a client certificate was verified. A verified
    certificate without any URI SAN (not what `privnet up` issues) falls back to the
    address, like plain HTTP.
    """

    urls: frozenset[str] = frozenset()
    address: str | None = None
    certified: bool = False

    @classmethod
    def of(cls, uris: Iterable[str] = (), address: str | None = None, certified: bool = False) -> PeerIdentity:
        return cls(frozenset(normalize_url(u) for u in uris), _address(address) if address else None, certified)

    def is_at(self, url: str) -> bool:
        """True when this caller is the manager at `url`."""
        if self.urls:
            return normalize_url(url) in self.urls
        return self.address is not None and self.address in host_addresses(url)

    def __str__(self) -> str:
        if self.urls:
            return ", ".join(sorted(self.urls))
        return f"address {self.address or 'unknown'}"


__all__ = ["PeerIdentity", "host_addresses", "uri_sans"]
