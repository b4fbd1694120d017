"""Polling filters (`eth_newFilter`, `eth_newBlockFilter`, `eth_getFilterChanges`, ...) and the
block-range resolution `eth_getLogs` shares with them, built on `NodeAPI.block_number`,
`get_block` and `get_logs` only.

Note: blocks reach a node through the ordering service and are final once imported, so the
tags `latest`, `pending`, `safe` and `finalized` all resolve to the newest imported block.

Note: as in geth, a log filter's `eth_getFilterChanges` delivers only logs of blocks imported
after the filter was created (or last polled); `eth_getFilterLogs` re-runs the whole query.
A filter not polled for `idle_timeout` seconds is removed.

Note: a pending-transaction filter gets the hashes of transactions entering this node's pool
(submitted here, or taken from the ordering service by the producer), at most
`max_pending_hashes` between two polls (the oldest are dropped beyond that).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.abc import NodeAPI
from engine.errors import EngineError, InvalidParams, ResourceNotFound
from engine.rpc.params import LogQuery
from engine.types import BlockTag, Hash32, LogFilter, LogView


def resolve_block_number(value: int | BlockTag, head: int) -> int:
    if isinstance(value, int):
        return value
    return 0 if value == "earliest" else head


def resolve_log_query(node: NodeAPI, query: LogQuery, *, max_block_range: int) -> LogFilter | None:
    """The query as the node's `LogFilter`, or None when its range holds no imported block.

    Raises ResourceNotFound for an unknown `blockHash`, InvalidParams when the range spans more
    than `max_block_range` blocks.
    """
    if query.block_hash is not None:
        block = node.get_block(query.block_hash, False)
        if block is None:
            raise ResourceNotFound("unknown block")
        return LogFilter(from_block=block.number, to_block=block.number, addresses=query.addresses,
                         topics=query.topics, block_hash=query.block_hash)
    head = node.block_number()
    start = resolve_block_number(query.from_block, head)
    end = min(resolve_block_number(query.to_block, head), head)
    if start > end:
        return None
    if end - start + 1 > max_block_range:
        raise InvalidParams(
            f"invalid params: block range too large ({end - start + 1} blocks, at most {max_block_range})"
        )
    return LogFilter(from_block=start, to_block=end, addresses=query.addresses, topics=query.topics)


@dataclass
class _Filter:
    last_block: int  # newest block already delivered (or current at creation)
    touched: float
    query: LogQuery | None = None  # None: a block filter
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: deque[Hash32] | None = None  # a pending-transaction filter's hashes since the last poll


class FilterRegistry:
    """Installed filters of one RPC server. Thread-safe: handlers run on a thread pool."""

    def __init__(self, node: NodeAPI, *, idle_timeout: float = 300.0, max_filters: int = 10_000,
                 max_block_range: int = 10_000, clock: Callable[[], float] = time.monotonic,
                 max_pending_hashes: int = 10_000) -> None:
        self.node = node
        self.max_pending_hashes = max_pending_hashes
        self._pending_filters: dict[str, _Filter] = {}
        node.subscribe_pending_transactions(self._on_pending)
        self.idle_timeout = idle_timeout
        self.max_filters = max_filters
        self.max_block_range = max_block_range
        self.clock = clock
        self._filters: dict[str, _Filter] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._filters)

    def _expire(self, now: float) -> None:
        stale = [fid for fid, f in self._filters.items() if now - f.touched > self.idle_timeout]
        for fid in stale:
            del self._filters[fid]
            self._pending_filters.pop(fid, None)

    def _install(self, entry: _Filter) -> str:
        filter_id = "0x" + secrets.token_hex(16)
        with self._lock:
            self._expire(entry.touched)
            if len(self._filters) >= self.max_filters:
                raise EngineError(f"too many installed filters (max {self.max_filters})")
            self._filters[filter_id] = entry
            if entry.pending is not None:
                self._pending_filters[filter_id] = entry
        return filter_id

    def _get(self, filter_id: str) -> _Filter:
        now = self.clock()
        with self._lock:
            self._expire(now)
            entry = self._filters.get(filter_id.lower())
            if entry is None:
                raise ResourceNotFound("filter not found")
            entry.touched = now
            return entry

    def new_block_filter(self) -> str:
        return self._install(_Filter(last_block=self.node.block_number(), touched=self.clock()))

    def new_log_filter(self, query: LogQuery) -> str:
        if query.block_hash is not None:
            raise InvalidParams("invalid params: filter.blockHash: not supported by filters (use eth_getLogs)")
        return self._install(_Filter(last_block=self.node.block_number(), touched=self.clock(), query=query))

    def new_pending_transaction_filter(self) -> str:
        entry = _Filter(last_block=0, touched=self.clock(), pending=deque(maxlen=self.max_pending_hashes))
        return self._install(entry)

    def _on_pending(self, tx_hash: Hash32) -> None:
        """Called by the node as a transaction enters its pool."""
        if not self._pending_filters:
            return
        with self._lock:
            for entry in self._pending_filters.values():
                entry.pending.append(tx_hash)  # type: ignore[union-attr]

    def rewind(self, height: int) -> None:
        """The chain went back to `height` (a dev snapshot's revert): block and log filters
        deliver the new blocks above it again."""
        with self._lock:
            for entry in self._filters.values():
                if entry.pending is None:
                    entry.last_block = min(entry.last_block, height)

    def uninstall(self, filter_id: str) -> bool:
        with self._lock:
            self._pending_filters.pop(filter_id.lower(), None)
            return self._filters.pop(filter_id.lower(), None) is not None

    def changes(self, filter_id: str) -> list[Hash32] | list[LogView]:
        """New block hashes, or new matching logs, since the last poll (at most
        `max_block_range` blocks per poll; the rest come with the next one)."""
        entry = self._get(filter_id)
        if entry.pending is not None:
            with self._lock:
                hashes = list(entry.pending)
                entry.pending.clear()
            return hashes
        with entry.lock:
            head = self.node.block_number()
            first = entry.last_block + 1
            last = min(head, entry.last_block + self.max_block_range)
            if first > last:
                return []
            if entry.query is None:
                hashes: list[Hash32] = []
                for number in range(first, last + 1):
                    block = self.node.get_block(number, False)
                    if block is None:  # not imported yet after all: deliver it next time
                        last = number - 1
                        break
                    hashes.append(block.hash)
                entry.last_block = last
                return hashes
            query = entry.query
            start = max(first, resolve_block_number(query.from_block, head))
            end = min(last, resolve_block_number(query.to_block, head))
            entry.last_block = last
            if start > end:
                return []
            return self.node.get_logs(LogFilter(from_block=start, to_block=end, addresses=query.addresses,
                                                topics=query.topics))

    def logs(self, filter_id: str) -> list[LogView]:
        """Every log matching a log filter's criteria, as eth_getLogs would return them."""
        entry = self._get(filter_id)
        if entry.query is None:  # a block or pending-transaction filter
            raise InvalidParams("invalid params: filter id: not a log filter")
        log_filter = resolve_log_query(self.node, entry.query, max_block_range=self.max_block_range)
        return [] if log_filter is None else self.node.get_logs(log_filter)
