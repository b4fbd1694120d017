"""Ordering services: every node gets the same sequence of blocks (interface in engine.abc)."""

from __future__ import annotations

from engine.abc import OrderingServiceAPI
from engine.config import ConfigError, NodeSettings


def open_ordering(settings: NodeSettings) -> OrderingServiceAPI:
    """Pick the implementation named in config (`local` now; `etcd` plugs in here)."""
    if settings.ordering.kind == "local":
        from engine.ordering.local import LocalOrdering

        return LocalOrdering(settings.ordering_path(), poll_interval_s=settings.ordering.poll_interval_ms / 1000,
                            name=settings.name)
    raise ConfigError(f"ordering.kind: {settings.ordering.kind!r} is not available in this build (use 'local')")
