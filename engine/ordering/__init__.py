"""Ordering services: every node gets the same sequence of blocks (interface in engine.abc)."""

from __future__ import annotations

from engine.abc import OrderingServiceAPI
from engine.config import ConfigError, NodeSettings


def open_ordering(settings: NodeSettings) -> OrderingServiceAPI:
    """Pick the implementation named in config: `local` (one machine) or `etcd` (a cluster)."""
    ordering = settings.ordering
    if ordering.kind == "local":
        from engine.ordering.local import LocalOrdering

        return LocalOrdering(settings.ordering_path(), poll_interval_s=ordering.poll_interval_ms / 1000,
                            name=settings.name)
    if ordering.kind == "etcd":
        if not ordering.etcd_endpoints:
            raise ConfigError("ordering.etcd_endpoints: at least one client URL is required when kind is 'etcd'")
        from engine.ordering.etcd import EtcdOrdering

        return EtcdOrdering(ordering.etcd_endpoints, settings.chain_id, name=settings.name,
                            lease_ttl_s=ordering.lease_ttl_s, request_timeout_s=ordering.request_timeout_s)
    raise ConfigError(f"ordering.kind: {ordering.kind!r} is not available in this build (use 'local' or 'etcd')")
