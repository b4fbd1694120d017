"""Producer pacing: the producer stays at most a few blocks ahead of the nodes that keep up.

Every block costs every node a fixed amount (header, tries, receipts, the managers' per-block
exchange) on top of its transactions. A producer that builds whenever the interval allows,
while another node is short of CPU (the sending party, taking in the load), makes small blocks
faster than that node imports them: its lag and its clients' latency grow without bound
(bench --sustained with a remote producer). Waiting for the slowest node that keeps up lets
transactions accumulate meanwhile, so blocks grow with the load and each block's fixed cost
is shared by more transactions: the network runs at the pace of its slowest live member, as
Raft's flow control (a bounded number of in-flight appends per follower) does for its log.

Safety never depends on this: the reported heights are advisory, and a wrong or stale one
can only make the producer wait, never build differently. Liveness is kept by two rules:

- a node more than `IN_SYNC_WINDOW` blocks behind is catching up (after a restart): it is not
  waited for until it is within the window again;
- a node whose reported head did not move during a whole wait (dead, stuck, partitioned) is
  not waited for until it reports another height.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from engine.abc import OrderingServiceAPI

logger = logging.getLogger(__name__)

IN_SYNC_WINDOW = 64
POLL_S = 0.005


class FollowerPacing:
    def __init__(self, name: str, ordering: OrderingServiceAPI, max_lead_blocks: int, max_wait_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.ordering = ordering
        self.max_lead_blocks = max_lead_blocks
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._given_up: dict[str, int] = {}  # node → the height it sat at when a wait ran out
        self.waits = 0  # blocks whose build waited for a follower (status, tests)

    @property
    def enabled(self) -> bool:
        return self.max_lead_blocks > 0

    def lagging(self, head: int) -> dict[str, int]:
        """Nodes worth waiting for before building on `head`, with their reported heights."""
        if not self.enabled:
            return {}
        lagging = {}
        for node, height in self.ordering.reported_heads().items():
            if node == self.name:
                continue
            if self._given_up.get(node) == height:
                continue  # did not move during a whole wait: not waited for until it moves
            self._given_up.pop(node, None)
            behind = head - height
            if self.max_lead_blocks < behind <= IN_SYNC_WINDOW:
                lagging[node] = height
        return lagging

    def wait_for_followers(self, head: int, stop: threading.Event) -> bool:
        """Return once every node that keeps up is within `max_lead_blocks` of `head`, after
        `max_wait_s` at most (then those that did not move are given up on), or on `stop`.
        True if it waited."""
        lagging = self.lagging(head)
        if not lagging:
            return False
        self.waits += 1
        started = self.clock()
        deadline = started + self.max_wait_s
        at_start = dict(lagging)
        while lagging and not stop.is_set():
            if self.clock() >= deadline:
                for node, height in lagging.items():
                    if at_start.get(node) == height:
                        self._given_up[node] = height
                        logger.info("%s: %s stays at block %d (head %d): building without waiting for it",
                                    self.name, node, height, head)
                return True
            stop.wait(POLL_S)
            lagging = self.lagging(head)
        return True
