"""`evm_snapshot` / `evm_revert` for one node of a development network (anvil/Hardhat semantics).

A snapshot is taken under the chain lock, so no block is imported or built meanwhile:

1. the pool must be empty (pending transactions are not part of a snapshot; a snapshot is
   refused, -32000, rather than silently losing them on revert);
2. the node's database (public chain and state, private states, private receipts, contract
   privacy metadata: everything the node stores) is copied with SQLite's backup API into
   `data_dir/snapshots/<n>.sqlite` (directory 0700, file 0600);
3. the manager copies its store (payloads, raw payloads, commitment tables) likewise
   (Q2T `POST /dev/snapshots`); the node remembers n → (height, the manager's id).

A revert to n pauses the node loop and, under the chain lock: restores the manager's copy
first (if that fails nothing has changed), truncates the shared `local` ordering service to
the snapshot's height (blocks above it and every pending submission; idempotent, so every
node of the network does it), rolls the node's database back into the live file, then makes
every cache derived from the database forget it: the chain (head, py-evm chain objects,
account, receipt and location caches), the pool and its nonce tracking, a halt, the
empty-block clock, and through `on_revert` listeners the private side's payload caches, the
divergence reporter's queue, contract extension's share attempts and the RPC filters. The
loop then resumes. The reverted snapshot and every later one are consumed (their files
deleted); earlier ones stay valid.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.chain.node import Node
from engine.config import ConfigError, NodeSettings
from engine.dev.manager import ManagerSnapshots
from engine.dev.sqlite_copy import copy_database, restore_database
from engine.errors import EngineError
from engine.extension.service import ContractExtensionService
from engine.files import private_dir, read_token_file
from engine.ordering.local import LocalOrdering
from engine.privacy.commitments import CommitmentReporter
from engine.privacy.private_state import PrivateStateManager

logger = logging.getLogger(__name__)

MSG_REVERTING = "reverting to a snapshot"

#: Called with the snapshot's height after a revert restored the database (under the chain lock).
RevertListener = Callable[[int], None]


@dataclass(frozen=True)
class _Snapshot:
    height: int
    head_hash: bytes
    file: Path
    manager_id: str | None


class DevSnapshots:
    """The snapshots of one node (ids 1, 2, ... for this process's life)."""

    def __init__(self, node: Node, manager: ManagerSnapshots | None, directory: Path) -> None:
        if not isinstance(node.ordering, LocalOrdering):
            raise ConfigError("dev.snapshots needs the 'local' ordering service")
        self.node = node
        self.ordering: LocalOrdering = node.ordering
        self.manager = manager
        self.directory = directory
        self._lock = threading.Lock()  # one snapshot or revert at a time
        self._snapshots: dict[int, _Snapshot] = {}
        self._next = 1
        self._listeners: list[RevertListener] = []
        self._cleaned = False

    def on_revert(self, listener: RevertListener) -> None:
        """Call `listener(height)` after each revert, once the node's database is restored."""
        self._listeners.append(listener)

    # -- evm_snapshot ----------------------------------------------------------------------
    def snapshot(self) -> int:
        node = self.node
        with self._lock:
            self._drop_leftovers()
            with node.chain.lock:
                pending = len(node.pool)
                if pending:
                    raise EngineError(f"cannot take a snapshot with {pending} pending transaction(s) in the pool; "
                                      "wait until they are mined")
                head = node.chain.head
                number = self._next
                file = self.directory / f"{number}.sqlite"
                copy_database(node.database.kv.path, file)
                try:
                    manager_id = self.manager.take() if self.manager is not None else None
                except BaseException:
                    file.unlink(missing_ok=True)
                    raise
            self._next += 1
            self._snapshots[number] = _Snapshot(int(head.block_number), bytes(head.hash), file, manager_id)
        logger.info("%s: snapshot 0x%x taken at block #%d", node.settings.name, number, head.block_number)
        return number

    def _drop_leftovers(self) -> None:
        """On first use: what an earlier run of this node left (its ids are gone with it)."""
        if self._cleaned:
            return
        private_dir(self.directory)
        for stale in self.directory.glob("*.sqlite"):
            stale.unlink(missing_ok=True)
        if self.manager is not None:
            self.manager.delete_all()
        self._cleaned = True

    # -- evm_revert ------------------------------------------------------------------------
    def revert(self, number: int) -> bool:
        """Back to snapshot `number`; False if unknown or already consumed."""
        node = self.node
        with self._lock:
            snap = self._snapshots.get(number)
            if snap is None:
                return False
            node.halted = MSG_REVERTING  # sends are refused while the database is replaced
            try:
                node.pause()
                with node.chain.lock:
                    if self.manager is not None and snap.manager_id is not None:
                        self.manager.restore(snap.manager_id)  # first: if it fails, nothing changed
                    self.ordering.truncate(snap.height)
                    node.database.rollback()  # no write transaction of ours may hold the file
                    restore_database(snap.file, node.database.kv.path)
                    node.reload()
                    for listener in list(self._listeners):
                        listener(snap.height)
                    restored = node.chain.head
            finally:
                if node.halted == MSG_REVERTING:
                    node.halted = None
                node.resume()
            if restored.hash != snap.head_hash:  # never expected: the copy is the file itself
                raise EngineError(f"revert to snapshot 0x{number:x} restored block #{restored.block_number}, "
                                  f"not the snapshot's #{snap.height}")
            self._consume(number)
        logger.info("%s: reverted to snapshot 0x%x (block #%d)", node.settings.name, number, snap.height)
        return True

    def _consume(self, number: int) -> None:
        """Anvil's rule: reverting to a snapshot consumes it and every later one."""
        for later in sorted(n for n in self._snapshots if n >= number):
            snap = self._snapshots.pop(later)
            snap.file.unlink(missing_ok=True)
            if self.manager is not None and snap.manager_id is not None:
                try:
                    self.manager.delete(snap.manager_id)
                except EngineError as exc:  # a leftover file at the manager; the next run drops it
                    logger.warning("snapshot 0x%x: %s", later, exc.message)

    def close(self) -> None:
        """Delete this node's snapshot files (the ids die with the process)."""
        with self._lock:
            for snap in self._snapshots.values():
                snap.file.unlink(missing_ok=True)
            self._snapshots.clear()
        if self.manager is not None:
            self.manager.close()


def build_dev_snapshots(node: Node, settings: NodeSettings, private: PrivateStateManager | None = None,
                        commitments: CommitmentReporter | None = None,
                        extension: ContractExtensionService | None = None) -> DevSnapshots:
    """The node's snapshots (`[dev] snapshots = true`), with the private side's caches reset on
    revert; with a manager, its store is snapshotted too (its `dev_snapshots` must be on)."""
    manager = None
    if settings.privacy.enabled and settings.privacy.q2t_url:
        token_file = settings.privacy.q2t_token_file
        token = read_token_file(token_file, "privacy.q2t_token_file") if token_file is not None else None
        manager = ManagerSnapshots(settings.privacy.q2t_url, token)
    snapshots = DevSnapshots(node, manager, settings.data_dir / "snapshots")
    if private is not None:
        snapshots.on_revert(lambda _height: private.discard_caches())
    if commitments is not None:
        snapshots.on_revert(lambda _height: commitments.reset())
    if extension is not None:
        snapshots.on_revert(lambda _height: extension.forget_attempts())
    return snapshots
