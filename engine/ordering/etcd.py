"""`etcd` ordering: the members' nodes share an etcd cluster (Raft) through its v3 JSON gateway.

etcd is the consensus: every write below is one etcd request, acknowledged only once Raft
has committed it to a quorum of members; nothing here votes, elects or merges on its own.

Keys, under the prefix `/privnet/<chain_id>/`:

- `blocks/<number, 20-digit zero-padded decimal>` → the block's RLP. Written by one etcd
  transaction that compares `create_revision(blocks/<number>) == 0` (the height is free) and
  `lease(producer) == my lease` (I still hold the role): exactly one block per height, ever,
  and a producer whose lease expired appends nothing.
- `producer` → the holder's node name, attached to its lease (TTL `lease_ttl_s`, kept alive
  every TTL/3 by a thread). Taken with "key absent → put with my lease"; etcd deletes it when
  the lease expires (holder dead, stalled or cut off from the quorum) or is revoked (`resign`).
  `is_producer` answers from memory while the lease is confirmed (last keep-alive sent + TTL):
  a holder whose keep-alives go unanswered steps back at once, before etcd can expire the
  lease; if they get through again (etcd extends leases across a leader change) it goes on in
  a new term, else the lease expires and the watchers contend for the key.
- `submissions/<tx hash hex>` → the raw transaction, put before `submit` returns and deleted
  by `acknowledge`. A producer reads them oldest first (by create revision); one submitted in
  the same request as others shares their revision and comes out in hash order among them.

- `heads/<node name>` → the height that node last imported, in decimal (`report_head`): advisory,
  for the producer's pacing (engine/chain/pacing.py). Put by a thread of the node's own that
  sends only the latest height (one put per import batch at most, none while idle), and read
  from the watch: nothing waits on these keys and nothing about the chain's safety reads them.

Every instance watches the prefix from one thread (no polling): block keys fill a small cache
and the known head, producer-key changes tell followers when the role is free, and both wake
`wait_for_activity`; a new submission wakes only the instance that holds the producer role
(a follower has nothing to do with it, and a new producer reads every submission anyway).
So a block another instance appended is readable here once the watch delivered it
(milliseconds; `get_block_rlp` answers None until then, and reads from etcd what the watch
reported but no longer caches); `take_pending` always reads etcd, so a
submission is there as soon as any node's `submit` returned. The watch resumes from the last
revision it saw after a reconnect (another endpoint if its member went away or lost its
leader), and re-reads with a range when that revision was compacted.

Failures: every request tries the configured endpoints in turn within `request_timeout_s`;
when no quorum answers in that time it raises OrderingUnavailable and the chain pauses
(appends fail, nothing forks) until a quorum is back. A write that timed out may still be
committed later by the cluster: a submission then reaches the next block, a block is the one
this producer built (it imports it like any other node would).

Requests carry base64 keys and values (the gateway's JSON form of etcd's protobuf); a block
or a batch of submissions must fit in the cluster's `--max-request-bytes` (1.5 MiB by default;
`devnet.etcd` starts members with 10 MiB).
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import urllib3
from eth_utils import keccak

from engine.abc import OrderingServiceAPI
from engine.errors import OrderingUnavailable

logger = logging.getLogger(__name__)

BLOCK_DIGITS = 20
MAX_OPS_PER_TXN = 64  # etcd refuses more than --max-txn-ops (128 by default) in one transaction
MAX_BYTES_PER_TXN = 512 * 1024  # raw bytes per request, well inside the default 1.5 MiB after base64
BLOCK_CACHE_SIZE = 256
BLOCK_READ_AHEAD = 32  # blocks fetched by one range request when catching up
WATCH_IDLE_S = 30.0  # no message for this long (not even a progress notification): reconnect
RETRY_PAUSE_S = 0.05
ATTEMPT_MIN_S = 0.5
# gRPC codes that mean "not now" (unavailable, deadline exceeded, unknown: etcd's "context deadline exceeded")
RETRIABLE_CODES = {14, 4, 2}
NOT_FOUND = 5


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key after every key that starts with `prefix` (etcd's range_end)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"  # every key


class _GroupCommit:
    """Group commit for submissions: while one write is in flight, the submissions that arrive
    wait and then go out together in the next write (one Raft round for many), each caller
    returning only once its own transactions are committed (or with the write's error)."""

    @dataclass
    class _Entry:
        raws: list[bytes]
        done: bool = False
        error: BaseException | None = None

    def __init__(self, write: Callable[[list[bytes]], None]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._queue: list[_GroupCommit._Entry] = []
        self._writing = False

    def submit(self, raws: list[bytes]) -> None:
        entry = self._Entry(list(raws))
        with self._changed:
            self._queue.append(entry)
            while self._writing and not entry.done:
                self._changed.wait()
            if not entry.done:  # nobody is writing: this caller writes every queued entry
                batch, self._queue, self._writing = self._queue, [], True
        if not entry.done:
            error: BaseException | None = None
            try:
                self._write([raw for queued in batch for raw in queued.raws])
            except BaseException as exc:  # handed to every caller of the batch
                error = exc
            with self._changed:
                for queued in batch:
                    queued.done, queued.error = True, error
                self._writing = False
                self._changed.notify_all()
        if entry.error is not None:
            if isinstance(entry.error, OrderingUnavailable):
                raise OrderingUnavailable(entry.error.message) from None
            raise entry.error


class _Refused(OrderingUnavailable):
    """etcd answered with an error that retrying does not cure (its gRPC code in `code`)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _error_of(status: int, content: bytes) -> tuple[int, str]:
    """(gRPC code, message) of a gateway error body; both stream and unary forms."""
    try:
        body = json.loads(content)
    except ValueError:
        return 2, f"HTTP {status}: {content[:200].decode(errors='replace')}"
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        return int(error.get("grpc_code", error.get("code", 2))), str(error.get("message", error))
    return int(body.get("code", 2)), str(body.get("message", error))


class _Gateway:
    """POSTs to etcd's JSON gateway, trying each endpoint in turn within a deadline.

    Requests go through urllib3's keep-alive pools (one per member): every submission, block
    and acknowledgement is one request, and urllib3 costs the node about half the CPU per
    request that httpx's client did (docs/benchmarks.md). The watch stream stays on httpx.
    """

    def __init__(self, endpoints: Sequence[str], timeout_s: float) -> None:
        if not endpoints:
            raise ValueError("etcd ordering needs at least one endpoint")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout_s = timeout_s
        self.preferred = 0  # the endpoint that answered last
        self.pools = urllib3.PoolManager(maxsize=8, block=False, retries=False)

    def call(self, path: str, body: dict[str, Any], timeout_s: float | None = None,
             attempt_timeout_s: float | None = None) -> dict[str, Any]:
        budget = self.timeout_s if timeout_s is None else timeout_s
        # A request a member accepted just before its leader died is never answered: give up on
        # it after a part of the budget and ask again (every request here is safe to repeat).
        attempt_timeout_s = attempt_timeout_s or max(ATTEMPT_MIN_S, budget / 3)
        deadline = time.monotonic() + budget
        last_error = "no endpoint tried"
        index = self.preferred
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OrderingUnavailable(
                    f"etcd ordering service: no quorum answered {path} within {budget:g} s "
                    f"(endpoints {', '.join(self.endpoints)}; last error: {last_error})")
            url = self.endpoints[index]
            attempt = min(remaining, attempt_timeout_s)
            try:
                response = self.pools.request("POST", url + path, body=json.dumps(body).encode(),
                                              headers={"content-type": "application/json"}, redirect=False,
                                              timeout=urllib3.Timeout(connect=attempt, read=attempt))
            except urllib3.exceptions.HTTPError as exc:
                last_error = f"{url}: {type(exc).__name__} {exc}".strip()
            else:
                if response.status == 200:
                    self.preferred = index
                    result: dict[str, Any] = json.loads(response.data)
                    return result
                code, message = _error_of(response.status, response.data)
                last_error = f"{url}: {message}"
                if code not in RETRIABLE_CODES and response.status not in (502, 503, 504):
                    raise _Refused(f"etcd ordering service refused {path}: {message}", code)
            index = (index + 1) % len(self.endpoints)
            if index == self.preferred:  # a full round failed: pause before the next one
                time.sleep(max(0.0, min(RETRY_PAUSE_S, deadline - time.monotonic())))

    def close(self) -> None:
        self.pools.clear()


@dataclass
class _Lease:
    id: int
    ttl: int
    deadline: float  # monotonic time before which etcd surely still holds the lease


class EtcdOrdering(OrderingServiceAPI):
    """One node's connection to the etcd ordering service (threads: watch, lease keep-alive)."""

    def __init__(self, endpoints: Sequence[str], chain_id: int, name: str = "node", lease_ttl_s: int = 2,
                 request_timeout_s: float = 3.0) -> None:
        self.name = name
        self.chain_id = chain_id
        self.lease_ttl_s = lease_ttl_s
        self.prefix = f"/privnet/{chain_id}/".encode()
        self._blocks_prefix = self.prefix + b"blocks/"
        self._submissions_prefix = self.prefix + b"submissions/"
        self._producer_key = self.prefix + b"producer"
        self._heads_prefix = self.prefix + b"heads/"
        self._gateway = _Gateway(endpoints, request_timeout_s)

        self._lock = threading.Lock()  # guards the state below
        self._lease: _Lease | None = None
        self._producing = False  # what is_producer last answered
        self._holder: tuple[str, int] | None = None  # (name, lease) in the producer key, as watched
        self._next_attempt_at = 0.0
        self._known_head = 0  # highest block key seen (watch, reads, appends)
        self._block_cache: dict[int, bytes] = {}
        # take_pending's cursor: everything created before `_taken_rev`, and `_taken_at_rev` at it, was handed out
        self._taken_rev = 0
        self._taken_at_rev: set[bytes] = set()
        self._watch_rev: int | None = None  # last revision the watch delivered; None: re-read first
        self._synced = False  # the watch is connected and current
        self._stream_generation = 0  # bumped to abandon the current watch stream
        self.resyncs = 0  # re-reads after a compacted revision (and the first read)

        self._reported_heads: dict[str, int] = {}  # as the watch delivered them
        self._head_to_report: int | None = None
        self._head_reported = threading.Event()
        self._acquire_lock = threading.Lock()
        self._activity = threading.Event()
        self._group = _GroupCommit(self._put_submissions)
        self._lease_changed = threading.Event()
        self._closed = threading.Event()
        self._watch_response: httpx.Response | None = None
        self._watch_client = httpx.Client()
        self._outage_logged = False
        self._watch_thread = threading.Thread(target=self._watch_loop, name=f"{name}-etcd-watch", daemon=True)
        self._keepalive_thread = threading.Thread(target=self._keepalive_loop, name=f"{name}-etcd-lease",
                                                  daemon=True)
        self._head_thread = threading.Thread(target=self._head_loop, name=f"{name}-etcd-head", daemon=True)
        self._watch_thread.start()
        self._keepalive_thread.start()
        self._head_thread.start()

    # -- keys --------------------------------------------------------------------------
    def _block_key(self, number: int) -> bytes:
        return self._blocks_prefix + str(number).zfill(BLOCK_DIGITS).encode()

    def _submission_key(self, tx_hash: bytes) -> bytes:
        return self._submissions_prefix + tx_hash.hex().encode()

    def _block_number_of(self, key: bytes) -> int | None:
        if key.startswith(self._blocks_prefix):
            try:
                return int(key[len(self._blocks_prefix):])
            except ValueError:
                return None
        return None

    # -- submissions -------------------------------------------------------------------
    def submit(self, raw_transactions: list[bytes]) -> None:
        """Durable once it returns. Concurrent calls share etcd transactions (group commit)."""
        if raw_transactions:
            self._group.submit(raw_transactions)
            self._activity.set()  # a producer in this process takes it at once

    def _put_submissions(self, raw_transactions: list[bytes]) -> None:
        """One etcd transaction per MAX_OPS_PER_TXN / MAX_BYTES_PER_TXN."""
        by_hash = {keccak(raw): raw for raw in raw_transactions}  # one put per key per transaction
        for chunk in _chunks(list(by_hash.items()), lambda item: len(item[1])):
            self._txn([], [{"request_put": {"key": _b64(self._submission_key(h)), "value": _b64(raw)}}
                           for h, raw in chunk])

    def take_pending(self, max_count: int) -> list[bytes]:
        if max_count <= 0:
            return []
        # Always a (linearizable) read: what any node's submit acknowledged is there, even before
        # this instance's watch reports it. The watch only wakes the producer.
        with self._lock:
            taken_rev, taken_at_rev = self._taken_rev, set(self._taken_at_rev)
        body: dict[str, Any] = {
            "key": _b64(self._submissions_prefix), "range_end": _b64(_prefix_end(self._submissions_prefix)),
            "sort_order": "ASCEND", "sort_target": "CREATE", "limit": str(max_count + len(taken_at_rev)),
        }
        if taken_rev:
            body["min_create_revision"] = str(taken_rev)
        response = self._gateway.call("/v3/kv/range", body)
        kvs = sorted(((int(kv["create_revision"]), _unb64(kv["key"]), _unb64(kv.get("value")))
                      for kv in response.get("kvs", [])), key=lambda item: (item[0], item[1]))
        fresh = [item for item in kvs if not (item[0] == taken_rev and item[1] in taken_at_rev)]
        handed = fresh[:max_count]
        with self._lock:
            if (self._taken_rev, self._taken_at_rev) != (taken_rev, taken_at_rev):
                return []  # the role changed meanwhile (cursor reset): the next call re-reads
            if handed:
                last = handed[-1][0]
                if last != self._taken_rev:
                    self._taken_rev, self._taken_at_rev = last, set()
                self._taken_at_rev.update(key for rev, key, _ in handed if rev == last)
        return [raw for _, _, raw in handed]

    def acknowledge(self, tx_hashes: list[bytes]) -> None:
        keys = sorted({self._submission_key(h) for h in tx_hashes})
        for start in range(0, len(keys), MAX_OPS_PER_TXN):
            self._txn([], [{"request_delete_range": {"key": _b64(k)}} for k in keys[start:start + MAX_OPS_PER_TXN]])

    # -- the producer role -------------------------------------------------------------
    def is_producer(self) -> bool:
        if self._closed.is_set():
            return False
        now = time.monotonic()
        with self._lock:
            lease = self._lease
            if lease is not None and now < lease.deadline:
                if not self._producing:
                    self._start_term()
                return True
            self._producing = False
            if lease is not None:
                return False  # not confirmed in time: the keep-alive thread resumes or drops the role
            if self._synced and self._holder is not None:
                return False  # someone holds the role (the watch reports when the key goes)
            if not self._synced and now < self._next_attempt_at:
                return False
        try:
            return self._try_acquire()
        except OrderingUnavailable as exc:
            self._log_outage(f"cannot contend for the producer role: {exc.message}")
            return False

    def _start_term(self) -> None:
        """This instance (re)became producer: its cursor restarts (caller holds `_lock`)."""
        self._producing = True
        self._taken_rev, self._taken_at_rev = 0, set()

    def _try_acquire(self) -> bool:
        with self._acquire_lock:
            if self._lease is not None or self._closed.is_set():
                return self.is_producer_now()
            sent = time.monotonic()
            grant = self._gateway.call("/v3/lease/grant", {"TTL": str(self.lease_ttl_s)})
            lease = _Lease(int(grant["ID"]), int(grant.get("TTL", self.lease_ttl_s)), 0.0)
            lease.deadline = sent + lease.ttl
            key = _b64(self._producer_key)
            response = self._txn(
                [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
                [{"request_put": {"key": key, "value": _b64(self.name.encode()), "lease": str(lease.id)}}],
                [{"request_range": {"key": key}}],
            )
            holder = None if response.get("succeeded") else self._holder_in(response["responses"][0])
            if holder is not None and holder[1] != lease.id:
                with self._lock:
                    self._holder = holder
                    self._next_attempt_at = time.monotonic() + lease.ttl / 3
                return False  # (the unused lease expires by itself)
            with self._lock:  # ours: this attempt's put, or an earlier try of it the gateway repeated
                self._lease = lease
                self._holder = (self.name, lease.id)
                self._start_term()
            self._lease_changed.set()
            logger.info("%s: holds the producer role (etcd lease %x, TTL %d s)", self.name, lease.id, lease.ttl)
            return True

    def is_producer_now(self) -> bool:
        """Does this instance hold a lease etcd surely still keeps (no request)?"""
        with self._lock:
            return self._lease is not None and time.monotonic() < self._lease.deadline

    def _holder_in(self, op_response: dict[str, Any]) -> tuple[str, int] | None:
        kvs = op_response.get("response_range", {}).get("kvs", [])
        if not kvs:
            return None
        return _unb64(kvs[0].get("value")).decode(errors="replace"), int(kvs[0].get("lease", 0))

    def resign(self) -> None:
        with self._lock:
            lease, self._lease, self._producing = self._lease, None, False
            if lease is not None and self._holder is not None and self._holder[1] == lease.id:
                self._holder = None
        if lease is None:
            return
        self._lease_changed.set()
        try:  # revoking deletes the producer key now; if etcd cannot hear it, the lease expires anyway
            self._gateway.call("/v3/lease/revoke", {"ID": str(lease.id)}, timeout_s=min(self._gateway.timeout_s, 2.0))
        except _Refused as exc:
            if exc.code != NOT_FOUND:
                logger.warning("%s: revoking the producer lease: %s", self.name, exc.message)
        except OrderingUnavailable as exc:
            logger.warning("%s: resigned; the producer lease expires within %d s (%s)",
                           self.name, lease.ttl, exc.message)

    def current_producer(self) -> str | None:
        if self.is_producer_now():
            return self.name
        response = self._gateway.call("/v3/kv/range", {"key": _b64(self._producer_key)})
        kvs = response.get("kvs", [])
        return _unb64(kvs[0].get("value")).decode(errors="replace") if kvs else None

    def _keepalive_loop(self) -> None:
        while not self._closed.is_set():
            with self._lock:
                lease = self._lease
            if lease is None:
                self._lease_changed.wait(1.0)
                self._lease_changed.clear()
                continue
            sent = time.monotonic()
            try:
                response = self._gateway.call("/v3/lease/keepalive", {"ID": str(lease.id)}, timeout_s=lease.ttl,
                                              attempt_timeout_s=max(0.2, lease.ttl / 3))
                ttl = int(response.get("result", {}).get("TTL", 0))
            except OrderingUnavailable as exc:
                self._log_outage(f"producer lease keep-alive failed: {exc.message}")
                ttl = None
            except Exception:  # the thread must outlive anything: without it the role lapses
                logger.exception("%s: producer lease keep-alive failed", self.name)
                ttl = None
            with self._lock:
                if self._lease is lease and ttl is not None:
                    if ttl > 0:
                        if sent >= lease.deadline:  # the role lapsed meanwhile and is back:
                            self._producing = False  # is_producer starts a new term
                            self._activity.set()  # and the node loop asks at once
                        lease.deadline = max(lease.deadline, sent + ttl)
                        self._outage_logged = False
                    else:
                        self._lease, self._producing = None, False
                        logger.warning("%s: lost the producer role: its etcd lease expired", self.name)
                        self._activity.set()
            self._closed.wait(max(0.0, lease.ttl / 3 - (time.monotonic() - sent)))

    def _log_outage(self, message: str) -> None:
        if not self._outage_logged:
            self._outage_logged = True
            logger.warning("%s: %s", self.name, message)

    # -- blocks ------------------------------------------------------------------------
    def append_block(self, number: int, block_rlp: bytes) -> bool:
        with self._lock:
            lease = self._lease
        if lease is None:
            return False  # not the producer
        key = _b64(self._block_key(number))
        producer = _b64(self._producer_key)
        response = self._txn(
            [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"},
             {"key": producer, "target": "LEASE", "result": "EQUAL", "lease": str(lease.id)}],
            [{"request_put": {"key": key, "value": _b64(block_rlp)}}],
            [{"request_range": {"key": key}}, {"request_range": {"key": producer}}],
        )
        if response.get("succeeded"):
            with self._lock:
                self._known_head = max(self._known_head, number)
            return True
        existing = response["responses"][0].get("response_range", {}).get("kvs", [])
        holder = self._holder_in(response["responses"][1])
        with self._lock:
            if existing:
                self._known_head = max(self._known_head, number)
            if (holder is None or holder[1] != lease.id) and self._lease is lease:
                self._lease, self._producing = None, False
                logger.warning("%s: lost the producer role (the producer key is %s)", self.name,
                               "gone" if holder is None else f"held by {holder[0]}")
        # an earlier try of this same append that the gateway repeated after a timeout
        return bool(existing) and _unb64(existing[0].get("value")) == block_rlp

    def get_block_rlp(self, number: int) -> bytes | None:
        with self._lock:
            for done in [n for n in self._block_cache if n < number]:
                del self._block_cache[done]  # the node reads in order: below `number` is imported
            cached = self._block_cache.get(number)
            if cached is not None:
                return cached
            if self._synced and number > self._known_head:
                return None  # the watch would have delivered it
        # Blocks never change once written: a serializable read (any member, no quorum round) is safe;
        # a member behind the others only answers "not yet".
        response = self._gateway.call("/v3/kv/range", {
            "key": _b64(self._block_key(number)), "range_end": _b64(self._block_key(number + BLOCK_READ_AHEAD)),
            "serializable": True,
        })
        found = None
        with self._lock:
            for kv in response.get("kvs", []):
                block_number = self._block_number_of(_unb64(kv["key"]))
                if block_number is None:
                    continue
                value = _unb64(kv.get("value"))
                self._cache_block(block_number, value)
                if block_number == number:
                    found = value
        return found

    def _cache_block(self, number: int, block_rlp: bytes) -> None:
        """Caller holds `_lock`."""
        self._known_head = max(self._known_head, number)
        self._block_cache[number] = block_rlp
        while len(self._block_cache) > BLOCK_CACHE_SIZE:
            del self._block_cache[max(self._block_cache)]  # far ahead: read again when the node gets there

    def head_number(self) -> int:
        response = self._gateway.call("/v3/kv/range", self._head_range())
        head = self._head_in(response)
        with self._lock:
            self._known_head = max(self._known_head, head)
        return head

    def _head_range(self) -> dict[str, Any]:
        return {"key": _b64(self._blocks_prefix), "range_end": _b64(_prefix_end(self._blocks_prefix)),
                "sort_order": "DESCEND", "sort_target": "KEY", "limit": "1", "keys_only": True}

    def _head_in(self, range_response: dict[str, Any]) -> int:
        kvs = range_response.get("kvs", [])
        return (self._block_number_of(_unb64(kvs[0]["key"])) or 0) if kvs else 0

    def wait_for_activity(self, timeout: float) -> None:
        if self._activity.wait(timeout):
            self._activity.clear()

    def wake(self) -> None:
        self._activity.set()

    # -- heads (pacing) ----------------------------------------------------------------
    def report_head(self, number: int) -> None:
        with self._lock:
            self._head_to_report = number
        self._head_reported.set()

    def reported_heads(self) -> dict[str, int]:
        with self._lock:
            return dict(self._reported_heads)

    def _head_loop(self) -> None:
        """Put the latest reported head; heights reported while a put is in flight are coalesced."""
        sent: int | None = None
        while not self._closed.is_set():
            self._head_reported.wait()
            self._head_reported.clear()
            with self._lock:
                number = self._head_to_report
            if number is None or number == sent or self._closed.is_set():
                continue
            try:
                self._gateway.call("/v3/kv/put", {"key": _b64(self._heads_prefix + self.name.encode()),
                                                  "value": _b64(str(number).encode())})
                sent = number
            except OrderingUnavailable as exc:  # advisory: the next import reports again
                logger.debug("%s: cannot report head %d: %s", self.name, number, exc.message)
            except Exception:  # the thread must outlive anything
                logger.exception("%s: reporting head %d failed", self.name, number)

    # -- the watch ---------------------------------------------------------------------
    def _watch_loop(self) -> None:
        pause = 0.025
        while not self._closed.is_set():
            try:
                if self._watch_rev is None:
                    self._resync()
                self._stream()
            except (OrderingUnavailable, httpx.HTTPError, ValueError, KeyError) as exc:
                if not self._closed.is_set():
                    logger.debug("%s: etcd watch interrupted: %s", self.name, exc)
            except Exception:  # the thread must outlive anything: readers rely on it
                if not self._closed.is_set():
                    logger.exception("%s: etcd watch failed; reconnecting", self.name)
            with self._lock:
                was_live, self._synced = self._synced, False
            self._activity.set()  # readers fall back to requests until the watch is back
            pause = 0.05 if was_live else min(1.0, pause * 2)  # reconnect at once after a live stream
            self._closed.wait(pause)

    def _restart_watch(self, last_seen_revision: int) -> None:
        """Reconnect the watch as if it had last seen `last_seen_revision` (tests: a long disconnection)."""
        with self._lock:
            self._watch_rev = last_seen_revision
            self._stream_generation += 1
        _shut_stream(self._watch_response)

    def _resync(self) -> None:
        """Read the head, the producer key and the nodes' reported heads at one revision; the
        watch continues from there."""
        self.resyncs += 1
        producer = _b64(self._producer_key)
        heads = {"key": _b64(self._heads_prefix), "range_end": _b64(_prefix_end(self._heads_prefix))}
        response = self._txn([], [{"request_range": self._head_range()}, {"request_range": {"key": producer}},
                                  {"request_range": heads}])
        revision = int(response["header"]["revision"])
        head = self._head_in(response["responses"][0].get("response_range", {}))
        holder = self._holder_in(response["responses"][1])
        with self._lock:
            self._known_head = max(self._known_head, head)
            self._holder = holder
            self._watch_rev = revision
            for kv in response["responses"][2].get("response_range", {}).get("kvs", []):
                self._note_head(_unb64(kv["key"])[len(self._heads_prefix):], kv.get("value"))

    def _stream(self) -> None:
        """Follow one watch stream until it ends; raises on transport errors."""
        gateway = self._gateway
        index = gateway.preferred
        url = gateway.endpoints[index]
        with self._lock:
            generation = self._stream_generation
            start = (self._watch_rev or 0) + 1
        body = {"create_request": {
            "key": _b64(self.prefix), "range_end": _b64(_prefix_end(self.prefix)),
            "start_revision": str(start), "progress_notify": True,
        }}
        timeout = httpx.Timeout(gateway.timeout_s, read=WATCH_IDLE_S)
        try:
            # hasleader: the member ends the stream when it loses its leader (no silent stall)
            with self._watch_client.stream("POST", url + "/v3/watch", json=body, timeout=timeout,
                                           headers={"Grpc-Metadata-hasleader": "true"}) as response:
                self._watch_response = response
                if self._closed.is_set():
                    return
                if response.status_code != 200:
                    raise OrderingUnavailable(f"watch on {url}: {_error_of(response.status_code, response.read())[1]}")
                for line in response.iter_lines():
                    if line.strip() and not self._on_watch_message(line, generation):
                        return
        except (httpx.TransportError, OrderingUnavailable):
            gateway.preferred = (index + 1) % len(gateway.endpoints)  # try another member next
            raise
        finally:
            self._watch_response = None

    def _on_watch_message(self, line: str, generation: int) -> bool:
        """Apply one watch response; False when the stream must be re-created."""
        message = json.loads(line)
        if "error" in message:
            raise OrderingUnavailable(f"watch: {_error_of_dict(message['error'])}")
        result = message.get("result", {})
        events = result.get("events", [])
        wake = False
        with self._lock:
            if generation != self._stream_generation:
                return False  # abandoned: what it still delivers must not move `_watch_rev`
            if result.get("canceled"):
                if int(result.get("compact_revision", 0)):
                    self._watch_rev = None  # compacted past us: re-read, then watch from now
                return False
            if result.get("created"):
                self._synced = True
                self._outage_logged = False
                wake = True
            for event in events:
                kv = event["kv"]
                key = _unb64(kv["key"])
                deleted = event.get("type") == "DELETE"
                number = self._block_number_of(key)
                if number is not None and not deleted:
                    self._cache_block(number, _unb64(kv.get("value")))
                    wake = True
                elif key.startswith(self._submissions_prefix) and not deleted:
                    wake = wake or self._producing
                elif key.startswith(self._heads_prefix) and not deleted:
                    self._note_head(key[len(self._heads_prefix):], kv.get("value"))
                elif key == self._producer_key:
                    self._holder = None if deleted else (_unb64(kv.get("value")).decode(errors="replace"),
                                                         int(kv.get("lease", 0)))
                    wake = wake or deleted
                self._watch_rev = max(self._watch_rev or 0, int(kv.get("mod_revision", 0)))
            if not events and not result.get("created") and "header" in result:  # progress notification
                self._watch_rev = max(self._watch_rev or 0, int(result["header"].get("revision", 0)))
        if wake:
            self._activity.set()
        return True

    def _note_head(self, name: bytes, value: str | None) -> None:
        """Caller holds `_lock`."""
        try:
            self._reported_heads[name.decode(errors="replace")] = int(_unb64(value))
        except ValueError:
            pass  # not ours to judge: pacing ignores what it cannot read

    # -- requests ----------------------------------------------------------------------
    def _txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
             failure: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"compare": compare, "success": success}
        if failure:
            body["failure"] = failure
        return self._gateway.call("/v3/kv/txn", body)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._lease_changed.set()
        self._head_reported.set()
        self.resign()
        _shut_stream(self._watch_response)
        self._watch_thread.join(timeout=5)
        self._keepalive_thread.join(timeout=5)
        self._head_thread.join(timeout=5)
        self._watch_client.close()
        self._gateway.close()


def _error_of_dict(error: Any) -> str:
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


def _shut_stream(response: httpx.Response | None) -> None:
    """Wake a thread blocked reading a streamed response (closing from another thread would not)."""
    if response is None:
        return
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _chunks(items: list[Any], size_of: Callable[[Any], int]) -> list[list[Any]]:
    """Split into etcd-sized transactions: at most MAX_OPS_PER_TXN items and MAX_BYTES_PER_TXN bytes each."""
    chunks: list[list[Any]] = []
    current: list[Any] = []
    current_bytes = 0
    for item in items:
        size = size_of(item)
        if current and (len(current) >= MAX_OPS_PER_TXN or current_bytes + size > MAX_BYTES_PER_TXN):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        chunks.append(current)
    return chunks
