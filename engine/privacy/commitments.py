"""Divergence detection, the node's side (PROTOCOL.md §12; beyond GoQuorum).

After each block (imported or built here) the node takes, for every private contract the
block's private transactions reached on this node, the contract's storage root in the
private state after the block, and hands {block number, block hash, contract, root, the
payload hashes that reached it} to its manager, which compares them with the other parties'
(tessera_like/commitments.py).

How it stays off the block path:
1. `observe_block` runs inside `finish_block` (chain lock held): it only reads a few storage
   roots and parks them under the block's hash. It never raises.
2. `on_committed` (the node's new-block callback) moves a block's commitments to a bounded
   queue once the block is committed; a block that was rolled back (a producer that lost its
   height) never is, and its parked entry is dropped when a later block commits.
3. A background thread sends the queue to the manager, keeping it while the manager is down
   and retrying with back-off. A full queue drops its oldest entries with a warning. It waits
   up to `coalesce_s` (1 s) after the oldest queued commitment before sending, so under load
   one request carries several blocks' commitments instead of one request (and one manager
   transaction) per block; stopping delivers at once.
4. Restart: commitments still queued when the node stops are lost (the next block touching
   a contract commits to it again); the manager keeps what it acknowledged (its own SQL
   store and outbox), so nothing it stored is lost.
5. After a delivery it asks the manager for divergences for a while (peers' commitments arrive
   on their own time) and logs each new one as a WARNING naming contract, block and the parties
   on each side: 2 s after the delivery, then at intervals doubling from 2 s to 8 s, and at
   15 s after the last delivery, the window's end. Under load (a delivery a second) that is a
   question every 2 s; an idle node asks four times after its last block and then nothing. The
   manager logs every divergence itself as well, whenever it is found.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from eth.abc import BlockAPI
from eth.constants import EMPTY_SHA3

from engine.abc import StateCommitment, StateCommitmentsAPI, StateDivergence
from engine.errors import EngineError
from engine.privacy.state import DualPrivateState
from engine.types import Address, BlockView, PayloadHash

logger = logging.getLogger(__name__)

MAX_QUEUE = 10_000
BATCH = 500
RETRY_BASE_S = 0.5
RETRY_MAX_S = 30.0
#: How long after a delivery the node keeps asking its manager for new divergences (peers'
#: commitments arrive asynchronously): first after WATCH_FIRST_S, then at intervals doubling to
#: WATCH_MAX_EVERY_S, and once more when the window ends.
WATCH_S = 15.0
WATCH_FIRST_S = 2.0
WATCH_MAX_EVERY_S = 8.0
#: How long the first queued commitment may wait for later blocks' to share its request.
COALESCE_S = 1.0

#: What `finish_block` hands over: the block, the private state after it, and payload hash →
#: addresses its execution reached.
BlockObserver = Callable[[BlockAPI, DualPrivateState, Mapping[bytes, set[bytes]]], None]


def reached_addresses(computation: Any) -> set[bytes]:
    """The storage addresses of every frame of a private execution: the contract called,
    nested calls and creations (a DELEGATECALL frame writes to its caller's storage)."""
    found: set[bytes] = set()
    stack = [computation]
    while stack:
        current = stack.pop()
        found.add(bytes(current.msg.storage_address))
        stack.extend(current.children)
    return found


def storage_roots(block: BlockAPI, state: DualPrivateState,
                  touched: Mapping[bytes, set[bytes]]) -> list[StateCommitment]:
    """The commitments of one block: each reached address that is a private contract here."""
    by_contract: dict[bytes, list[PayloadHash]] = {}
    for payload_hash, addresses in touched.items():
        for address in addresses:
            by_contract.setdefault(address, []).append(PayloadHash(payload_hash))
    account_db: Any = state._account_db
    out = []
    for address, payloads in sorted(by_contract.items()):
        if not state.private_account_exists(address) or account_db.get_code_hash(address) == EMPTY_SHA3:
            continue  # public-only (read-only here), or not a contract
        out.append(StateCommitment(int(block.number), bytes(block.hash), Address(address),
                                   bytes(account_db._get_storage_root(address)), tuple(sorted(set(payloads)))))
    return out


def describe(divergence: StateDivergence) -> str:
    sides = "; ".join(f"storage root 0x{root.hex()} at {', '.join(parties)}" for root, parties in divergence.sides)
    return (f"contract 0x{bytes(divergence.contract).hex()} at block #{divergence.block_number} "
            f"(0x{divergence.block_hash.hex()}): {sides}")


class CommitmentReporter:
    """Sends this node's state commitments to its manager (module docstring)."""

    def __init__(self, channel: StateCommitmentsAPI, max_queue: int = MAX_QUEUE,
                 coalesce_s: float = COALESCE_S) -> None:
        self.channel = channel
        self.max_queue = max_queue
        self.coalesce_s = coalesce_s
        self._lock = threading.Lock()
        self._pending: dict[bytes, tuple[int, list[StateCommitment]]] = {}
        self._queue: deque[StateCommitment] = deque()
        self._queued_at = 0.0  # when the oldest commitment in the queue was queued (monotonic)
        self._dropped = 0
        self._wake = threading.Event()
        self._flush = threading.Event()  # stopping: deliver without waiting for more
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._enabled = True
        self._watch_until = 0.0
        self._next_watch_at: float | None = None
        self._watch_every = WATCH_FIRST_S
        self._seen: set[tuple[bytes, bytes, tuple[Any, ...]]] = set()
        self._watch_from = 0
        self.delivered = 0

    # -- from the block path ----------------------------------------------------------------
    def observe_block(self, block: BlockAPI, state: DualPrivateState, touched: Mapping[bytes, set[bytes]]) -> None:
        """`finish_block`'s observer: park the block's roots until it is committed. Never raises."""
        if not self._enabled or not touched:
            return
        try:
            commitments = storage_roots(block, state, touched)
        except Exception:  # never let divergence detection break a block
            logger.exception("state commitments of block #%d not computed", block.number)
            return
        if commitments:
            with self._lock:
                self._pending[bytes(block.hash)] = (int(block.number), commitments)

    def on_committed(self, block: BlockView) -> None:
        """The node's new-block callback: release the committed block's commitments."""
        with self._lock:
            entry = self._pending.pop(bytes(block.hash), None)
            for key in [k for k, (number, _) in self._pending.items() if number <= block.number]:
                del self._pending[key]  # built, then rolled back: another block took that height
            if entry is None:
                return
            if not self._queue:
                self._queued_at = time.monotonic()
            self._queue.extend(entry[1])
            overflow = len(self._queue) - self.max_queue
            for _ in range(max(0, overflow)):
                self._queue.popleft()
            self._dropped += max(0, overflow)
        self._wake.set()

    def reset(self) -> None:
        """Drop the commitments of blocks not yet delivered and what was logged: after the chain
        went back (a dev snapshot's revert), they are of blocks that no longer exist."""
        with self._lock:
            self._pending.clear()
            self._queue.clear()
            self._dropped = 0
        self._seen.clear()
        self._watch_from = 0
        self._watch_until = 0.0
        self._next_watch_at = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._flush.clear()
        self._thread = threading.Thread(target=self._loop, name="state-commitments", daemon=True)
        self._thread.start()

    def stop(self, flush_s: float = 2.0) -> None:
        """Stop the thread, after one last attempt (at most `flush_s`) to deliver the queue."""
        deadline = time.monotonic() + flush_s
        self._flush.set()
        while self._queue and self._enabled and time.monotonic() < deadline and self._thread is not None:
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if self._queue:
            logger.warning("%d state commitment(s) not delivered to the manager before stopping", len(self._queue))

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set() and self._enabled:
            timeout = RETRY_MAX_S
            self._flush.wait(self._linger_left())
            try:
                if self._send_batch():
                    failures = 0
                    timeout = 0.0 if self._queue else timeout
            except EngineError as exc:
                failures += 1
                timeout = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** min(failures, 8))
                if failures == 1 or failures % 20 == 0:
                    logger.warning("state commitments not delivered (%d queued): %s; retrying", len(self._queue),
                                   exc.message)
            except Exception:
                failures += 1
                timeout = RETRY_MAX_S
                logger.exception("state commitment delivery failed")
            next_watch = self._watch_if_due(time.monotonic())
            if next_watch is not None:
                timeout = min(timeout, next_watch)
            if timeout > 0:
                self._wake.wait(timeout)
            self._wake.clear()

    def _linger_left(self) -> float:
        """Seconds the queue may still wait for later blocks' commitments (0: send now)."""
        with self._lock:
            if not self._queue or self._flush.is_set():
                return 0.0
            return max(0.0, self._queued_at + self.coalesce_s - time.monotonic())

    def _send_batch(self) -> bool:
        with self._lock:
            batch = [self._queue[i] for i in range(min(BATCH, len(self._queue)))]
            dropped, self._dropped = self._dropped, 0
        if dropped:
            logger.warning("%d state commitment(s) dropped: the queue to the manager is full", dropped)
        if not batch:
            return False
        if not self.channel.submit_state_commitments(batch):
            self._disable("it has no /commitments route")
            return False
        sent = {id(c) for c in batch}
        with self._lock:
            while self._queue and id(self._queue[0]) in sent:
                self._queue.popleft()
        self.delivered += len(batch)
        self._delivered(min(c.block_number for c in batch), time.monotonic())
        return True

    def _delivered(self, lowest_block: int, now: float) -> None:
        """A delivery (re)opens the window of divergence questions and brings the next one to
        at most WATCH_FIRST_S away."""
        if now >= self._watch_until or lowest_block < self._watch_from:
            self._watch_from = lowest_block  # a new window: ask only about blocks from here on
        self._watch_until = now + WATCH_S
        self._watch_every = WATCH_FIRST_S
        first = now + WATCH_FIRST_S
        self._next_watch_at = first if self._next_watch_at is None else min(self._next_watch_at, first)

    def _watch_if_due(self, now: float) -> float | None:
        """Ask the manager if a question is due; the seconds until the next one (None: none left)."""
        if self._next_watch_at is None:
            return None
        if now >= self._next_watch_at:
            self._watch()
            if now >= self._watch_until:
                self._next_watch_at = None
                return None
            self._next_watch_at = min(now + self._watch_every, self._watch_until)
            self._watch_every = min(self._watch_every * 2, WATCH_MAX_EVERY_S)
        return max(0.0, self._next_watch_at - now)

    def _watch(self) -> None:
        """Log each divergence the manager reports that was not logged before."""
        try:
            found = self.channel.state_divergences(self._watch_from)
        except EngineError:
            return
        for divergence in found:
            key = (divergence.block_hash, bytes(divergence.contract), divergence.sides)
            if key in self._seen:
                continue
            self._seen.add(key)
            logger.warning("private state divergence: %s", describe(divergence))
        if len(self._seen) > 10_000:
            self._seen.clear()

    def _disable(self, reason: str) -> None:
        self._enabled = False
        with self._lock:
            self._queue.clear()
            self._pending.clear()
        logger.warning("divergence detection off: the private transaction manager does not take state "
                       "commitments (%s)", reason)


__all__ = ["BlockObserver", "CommitmentReporter", "reached_addresses", "storage_roots"]
