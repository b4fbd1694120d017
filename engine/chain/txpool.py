"""Pending transactions: admission checks at the edge, nonce-ordered batches for blocks.

Admission (each failure a `TransactionRejected` with geth's wording, which tools grep for):
signature, chain id, size, intrinsic gas, block gas limit, nonce too low, nonce gap limit,
balance for gas * price + value, pool capacity, replacement only by a >= 10% higher fee.

Note: a replacement (same sender and nonce) must raise both the fee cap and the tip, strictly
and by at least `REPLACEMENT_BUMP_PERCENT` (geth's legacypool rule). On this gas-price-0 chain
that refuses every replacement of a zero-fee transaction: a same-fee one would otherwise let
anyone's retry silently swap what was acknowledged. The replaced transaction is still a
submission in the ordering service; `admit` names it so the node withdraws it there, and a
producer that meets it anyway refuses it (underpriced, or nonce too low once one is mined).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from eth.abc import SignedTransactionAPI

from engine.errors import TransactionRejected

REPLACEMENT_BUMP_PERCENT = 10
# Committed blocks whose mined nonces the pool remembers (see TxPool._state_nonce): a thread
# descheduled between its account read and the pool lock may see several commits go by.
RECENT_BLOCKS = 64


@dataclass
class PooledTx:
    tx: SignedTransactionAPI
    raw: bytes
    sender: bytes
    seq: int  # arrival order, for fairness between senders


def _fee_cap(tx: SignedTransactionAPI) -> int:
    return int(getattr(tx, "max_fee_per_gas", None) or getattr(tx, "gas_price", 0) or 0)


def _tip(tx: SignedTransactionAPI) -> int:
    return int(getattr(tx, "max_priority_fee_per_gas", None) or getattr(tx, "gas_price", 0) or 0)


def _outbids(new: SignedTransactionAPI, old: SignedTransactionAPI) -> bool:
    """geth's `list.Add`: both fees strictly higher, and each at least old * (100 + bump) / 100."""
    bump = 100 + REPLACEMENT_BUMP_PERCENT
    return all(
        fee(new) > fee(old) and fee(new) >= fee(old) * bump // 100
        for fee in (_fee_cap, _tip)
    )


@dataclass(frozen=True)
class Admission:
    added: bool  # False: already pooled (idempotent resubmission)
    replaced: bytes | None = None  # hash of the same-nonce transaction this one replaced


@dataclass
class AccountView:
    nonce: int
    balance: int


@dataclass
class TxPool:
    """Thread-safe. `state_reader(address)` gives the account's nonce and balance at the head."""

    state_reader: Callable[[bytes], AccountView]
    block_gas_limit: int
    max_size: int = 20_000
    max_gap: int = 64
    _by_sender: dict[bytes, dict[int, PooledTx]] = field(default_factory=dict)
    _by_hash: dict[bytes, PooledTx] = field(default_factory=dict)
    # The next nonce of each sender in the last RECENT_BLOCKS committed blocks: an account read
    # from the head just before such a block was committed is stale (see _state_nonce).
    _mined_recent: deque[dict[bytes, int]] = field(default_factory=lambda: deque(maxlen=RECENT_BLOCKS))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _seq: count = field(default_factory=count)
    # Called with each newly pooled transaction's hash, outside the pool lock (pending-transaction
    # feeds of the RPC layer); a listener must be quick and must not raise.
    listeners: list[Callable[[bytes], None]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._by_hash)

    def validate(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        """Checks that do not depend on other pooled transactions."""
        if tx.gas < tx.intrinsic_gas:
            raise TransactionRejected(f"intrinsic gas too low: have {tx.gas}, want {tx.intrinsic_gas}")
        if tx.gas > self.block_gas_limit:
            raise TransactionRejected("exceeds block gas limit")
        tip, cap = _tip(tx), _fee_cap(tx)
        if tip > cap:
            raise TransactionRejected("max priority fee per gas higher than max fee per gas")

    def check(self, tx: SignedTransactionAPI, sender: bytes) -> bool:
        """Every admission check of `add`, without adding; False if the transaction is already
        pooled. Lets a caller make a transaction durable elsewhere before it is admitted."""
        self.validate(tx, sender)
        account = self.state_reader(sender)
        with self._lock:
            if tx.hash in self._by_hash:
                return False
            self._check_admission(tx, self._state_nonce(sender, account.nonce), account,
                                  self._by_sender.get(sender, {}))
            return True

    def add(self, tx: SignedTransactionAPI, raw: bytes, sender: bytes) -> bool:
        """Add a transaction; False if it was already known (idempotent resubmission)."""
        return self.admit(tx, raw, sender).added

    def admit(self, tx: SignedTransactionAPI, raw: bytes, sender: bytes) -> Admission:
        """`add`, also naming the transaction a replacement pushed out (to withdraw it elsewhere)."""
        self.validate(tx, sender)
        # Read the account before taking the pool lock: lock order is always chain → pool.
        account = self.state_reader(sender)
        with self._lock:
            if tx.hash in self._by_hash:
                return Admission(False)
            queue = self._by_sender.get(sender, {})
            self._check_admission(tx, self._state_nonce(sender, account.nonce), account, queue)
            existing = queue.get(tx.nonce)
            if existing is not None:
                del self._by_hash[existing.tx.hash]
            pooled = PooledTx(tx, raw, sender, next(self._seq))
            queue[tx.nonce] = pooled
            self._by_sender[sender] = queue
            self._by_hash[tx.hash] = pooled
            admission = Admission(True, None if existing is None else bytes(existing.tx.hash))
        for listener in self.listeners:
            listener(bytes(tx.hash))
        return admission

    def _state_nonce(self, sender: bytes, read_nonce: int) -> int:
        """The sender's nonce at the head, `read_nonce` read without the pool lock (lock order:
        chain before pool) and so possibly from the head before a block that mined its pooled
        transactions, which the pool dropped since: the nonces seen mined count too. (Without
        this, a block mining more than `max_gap` of one sender's transactions made the next send
        fail with "nonce too high" under sustained load.) Caller holds the pool lock."""
        mined = max((block.get(sender, 0) for block in self._mined_recent), default=0)
        return max(read_nonce, mined)

    def _check_admission(self, tx: SignedTransactionAPI, state_nonce: int, account: AccountView,
                         queue: dict[int, PooledTx]) -> None:
        if tx.nonce < state_nonce:
            raise TransactionRejected(f"nonce too low: next nonce {state_nonce}, tx nonce {tx.nonce}")
        next_nonce = state_nonce
        while next_nonce in queue:
            next_nonce += 1
        if tx.nonce > next_nonce + self.max_gap:
            raise TransactionRejected(
                f"nonce too high: next nonce {next_nonce}, tx nonce {tx.nonce} (max gap {self.max_gap})"
            )
        cost = tx.gas * _fee_cap(tx) + tx.value
        if cost > account.balance:
            raise TransactionRejected(
                f"insufficient funds for gas * price + value: balance {account.balance}, tx cost {cost}"
            )
        existing = queue.get(tx.nonce)
        if existing is not None:
            if not _outbids(tx, existing.tx):
                raise TransactionRejected("replacement transaction underpriced")
        elif len(self._by_hash) >= self.max_size:
            raise TransactionRejected("txpool is full")

    def get(self, tx_hash: bytes) -> PooledTx | None:
        return self._by_hash.get(tx_hash)

    def pending_nonce(self, sender: bytes, state_nonce: int) -> int:
        """Next nonce counting contiguous pooled transactions (eth_getTransactionCount "pending").

        `state_nonce` may come from the head just before a block that mined the sender's pooled
        transactions was committed (the pool drops them right after); the nonces the pool saw
        mined are counted too, so the answer never goes back below them.
        """
        with self._lock:
            queue = self._by_sender.get(sender, {})
            nonce = self._state_nonce(sender, state_nonce)
            while nonce in queue:
                nonce += 1
            return nonce

    def ready_batch(self, max_count: int) -> list[PooledTx]:
        """Executable transactions (contiguous from each sender's state nonce), in arrival order
        across senders and nonce order within a sender."""
        with self._lock:
            heads: list[PooledTx] = []
            for sender, queue in self._by_sender.items():
                nonce = self.state_reader(sender).nonce
                while nonce in queue:
                    heads.append(queue[nonce])
                    nonce += 1
            per_sender_next: dict[bytes, int] = {}
            heads.sort(key=lambda p: p.seq)
            # A later nonce may have arrived before an earlier one: keep nonce order per sender.
            by_sender: dict[bytes, list[PooledTx]] = {}
            for p in heads:
                by_sender.setdefault(p.sender, []).append(p)
            for lst in by_sender.values():
                lst.sort(key=lambda p: p.tx.nonce)
            batch: list[PooledTx] = []
            for p in heads:
                idx = per_sender_next.get(p.sender, 0)
                batch.append(by_sender[p.sender][idx])
                per_sender_next[p.sender] = idx + 1
                if len(batch) >= max_count:
                    break
            return batch

    def has_ready(self) -> bool:
        with self._lock:  # copy, then read state outside the pool lock (lock order: chain → pool)
            heads = [(sender, set(queue)) for sender, queue in self._by_sender.items()]
        return any(self.state_reader(sender).nonce in nonces for sender, nonces in heads)

    def remove_mined(self, mined: list[tuple[bytes, int]]) -> None:
        """Drop (sender, nonce) pairs included in a block, and anything now below the nonce."""
        with self._lock:
            block_next: dict[bytes, int] = {}
            for sender, nonce in mined:
                block_next[sender] = max(block_next.get(sender, 0), nonce + 1)
            self._mined_recent.append(block_next)
            for sender, nonce in mined:
                queue = self._by_sender.get(sender)
                if not queue:
                    continue
                for stale in [n for n in queue if n <= nonce]:
                    del self._by_hash[queue.pop(stale).tx.hash]
                if not queue:
                    del self._by_sender[sender]

    def clear(self) -> None:
        """Drop every pooled transaction and the mined nonces remembered (a dev snapshot's revert:
        the chain went back, so nothing the pool knew still holds)."""
        with self._lock:
            self._by_sender.clear()
            self._by_hash.clear()
            self._mined_recent.clear()

    def remove(self, tx_hash: bytes) -> None:
        with self._lock:
            pooled = self._by_hash.pop(tx_hash, None)
            if pooled is None:
                return
            queue = self._by_sender.get(pooled.sender, {})
            queue.pop(pooled.tx.nonce, None)
            if not queue:
                self._by_sender.pop(pooled.sender, None)
