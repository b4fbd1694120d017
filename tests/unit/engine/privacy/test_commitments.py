"""The node's side of divergence detection: roots taken in `finish_block`, released on commit,
delivered to the real manager Q2T app (in process) and kept while the manager cannot be reached."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth._utils.address import generate_contract_address
from eth.db.account import AccountDB

from engine.chain.views import block_view
from engine.errors import PrivacyManagerUnavailable
from engine.privacy.client import HttpPrivacyManagerClient
from engine.privacy.commitments import CommitmentReporter
from tessera_like.api.app import create_q2t_app
from tessera_like.commitments import CommitmentService
from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.crypto.keys import InMemoryKeyStore
from tessera_like.manager import TransactionManager
from tessera_like.store.commitments import SqlCommitmentStore
from tessera_like.store.sql import SqlPayloadStore
from tessera_like.types import KeyPair
from tests.unit.engine.chain.kit import ACCOUNTS

from .kit import RECORDER_INIT, PrivateChain, marker, word
from .test_manager_client import InProcessTransport

A = ACCOUNTS[0]


class Manager:
    """A real manager (one key, SQLite) serving Q2T with the commitment routes, in process."""

    def __init__(self, directory: Path) -> None:
        self.store = SqlPayloadStore(f"sqlite:///{directory / 'manager.db'}")
        keys = InMemoryKeyStore([KeyPair.generate()])
        self.commitments = CommitmentService(keys, self.store, SqlCommitmentStore(self.store))
        app = create_q2t_app(TransactionManager(keys, self.store, X25519Encryptor()), commitments=self.commitments)
        self.transport = InProcessTransport(app)
        self.client = HttpPrivacyManagerClient("http://manager", retries=0, retry_delay_s=0.01,
                                               transport=self.transport)

    def committed_blocks(self) -> list[int]:
        rows = self.store.run(lambda cur: cur.execute("SELECT block_number FROM state_commitment").fetchall())
        return sorted(int(r[0]) for r in rows)

    def close(self) -> None:
        self.client.close()
        self.transport.close()
        self.store.close()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    manager = Manager(tmp_path)
    yield manager
    manager.close()


def storage_root(chain: PrivateChain, block_hash: bytes, contract: bytes) -> bytes:
    """The contract's storage root in the private state the node stored for that block."""
    root = chain.private.private_root(chain.chain.get_block_header_by_hash(block_hash))
    return bytes(AccountDB(chain.db, root)._get_storage_root(contract))


def deploy(chain: PrivateChain, manager: Manager, reporter: CommitmentReporter, nonce: int) -> tuple[bytes, bytes]:
    """A recorder contract created by A; (its address, the committed block's hash)."""
    built = chain.build([marker(A.private_key, nonce, manager.client.send(RECORDER_INIT, None, ()))])
    reporter.on_committed(block_view(built.block, full=False))
    return bytes(generate_contract_address(A.address, nonce)), bytes(built.block.hash)


def test_a_committed_blocks_roots_reach_the_manager(manager: Manager) -> None:
    chain = PrivateChain(manager.client)  # type: ignore[arg-type]  (the real client over the real app)
    reporter = CommitmentReporter(manager.client)
    chain.private.block_observer = reporter.observe_block
    built = chain.build([marker(A.private_key, 0, create := manager.client.send(RECORDER_INIT, None, ()))])
    contract = bytes(generate_contract_address(A.address, 0))
    assert reporter._pending and not reporter._queue  # parked until the block is committed
    reporter.on_committed(block_view(built.block, full=False))
    assert reporter._send_batch() is True and not reporter._queue
    (own,) = manager.commitments.store.for_contract(bytes(built.block.hash), contract)
    assert own.own and own.block_number == built.block.number and own.payload_hashes == (bytes(create),)
    assert own.storage_root == storage_root(chain, bytes(built.block.hash), contract)

    call = manager.client.send(word(7), None, ())
    second = chain.build([marker(A.private_key, 1, call, to=contract)])
    reporter.on_committed(block_view(second.block, full=False))
    reporter._send_batch()
    (after,) = manager.commitments.store.for_contract(bytes(second.block.hash), contract)
    assert after.payload_hashes == (bytes(call),)
    assert after.storage_root == storage_root(chain, bytes(second.block.hash), contract) != own.storage_root
    assert manager.client.state_divergences() == []  # one party agrees with itself


def test_a_block_that_is_never_committed_commits_nothing(manager: Manager) -> None:
    chain = PrivateChain(manager.client)  # type: ignore[arg-type]
    reporter = CommitmentReporter(manager.client)
    chain.private.block_observer = reporter.observe_block
    built = chain.build([marker(A.private_key, 0, manager.client.send(RECORDER_INIT, None, ()))])
    assert reporter._pending
    # another producer's block took that height: ours was rolled back, and is forgotten
    other = built.block.copy(header=built.block.header.copy(extra_data=b"another producer"))
    reporter.on_committed(block_view(other, full=False))
    assert not reporter._pending and not reporter._queue
    assert reporter._send_batch() is False
    assert manager.committed_blocks() == []


def test_commitments_wait_while_the_manager_is_down_and_the_queue_is_bounded(manager: Manager,
                                                                              tmp_path: Path) -> None:
    chain = PrivateChain(manager.client)  # type: ignore[arg-type]
    down = HttpPrivacyManagerClient(f"unix://{tmp_path / 'nobody-listens.ipc'}", retries=0)
    reporter = CommitmentReporter(down, max_queue=2)
    chain.private.block_observer = reporter.observe_block
    numbers = [chain.head.block_number + 1 + nonce for nonce in range(3)]
    for nonce in range(3):  # a contract per block
        deploy(chain, manager, reporter, nonce)
    assert len(reporter._queue) == 2  # the oldest was dropped
    with pytest.raises(PrivacyManagerUnavailable):
        reporter._send_batch()
    assert len(reporter._queue) == 2  # kept for the next attempt
    reporter.channel = manager.client  # the manager answers again
    assert reporter._send_batch() is True and not reporter._queue
    assert manager.committed_blocks() == numbers[1:]
    down.close()


def test_the_reporter_thread_delivers_on_its_own(manager: Manager) -> None:
    chain = PrivateChain(manager.client)  # type: ignore[arg-type]
    reporter = CommitmentReporter(manager.client)
    chain.private.block_observer = reporter.observe_block
    reporter.start()
    try:
        deploy(chain, manager, reporter, 0)
    finally:
        reporter.stop()  # delivers what is queued first
    assert manager.committed_blocks() == [chain.head.block_number]


class CountingChannel:
    """The real client, counting the requests that deliver commitments."""

    def __init__(self, client: HttpPrivacyManagerClient) -> None:
        self.client = client
        self.requests: list[int] = []

    def submit_state_commitments(self, batch: list) -> bool:  # type: ignore[type-arg]
        self.requests.append(len(batch))
        return self.client.submit_state_commitments(batch)

    def state_divergences(self, from_block: int = 0) -> list:  # type: ignore[type-arg]
        return self.client.state_divergences(from_block)


def test_the_reporter_thread_sends_the_blocks_committed_within_its_wait_in_one_request(manager: Manager) -> None:
    chain = PrivateChain(manager.client)  # type: ignore[arg-type]
    channel = CountingChannel(manager.client)
    reporter = CommitmentReporter(channel, coalesce_s=0.5)  # type: ignore[arg-type]
    chain.private.block_observer = reporter.observe_block
    reporter.start()
    try:
        for nonce in range(3):  # three blocks, a contract each, well within the wait
            deploy(chain, manager, reporter, nonce)
        deadline = time.monotonic() + 10
        while len(manager.committed_blocks()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        reporter.stop()
    assert len(manager.committed_blocks()) == 3
    assert channel.requests == [3]  # one request, not one per block


def test_stopping_delivers_at_once_without_waiting_for_more_blocks(manager: Manager) -> None:
    chain = PrivateChain(manager.client)  # type: ignore[arg-type]
    reporter = CommitmentReporter(manager.client, coalesce_s=60.0)
    chain.private.block_observer = reporter.observe_block
    reporter.start()
    deploy(chain, manager, reporter, 0)
    reporter.stop(flush_s=5.0)  # far less than the wait: only a flush delivers within it
    assert manager.committed_blocks() == [chain.head.block_number] and not reporter._queue


def test_a_manager_without_commitment_routes_turns_detection_off(manager: Manager) -> None:
    plain = InProcessTransport(create_q2t_app(TransactionManager(
        InMemoryKeyStore([KeyPair.generate()]), manager.store, X25519Encryptor())))  # no commitments served
    client = HttpPrivacyManagerClient("http://plain", retries=0, transport=plain)
    try:
        chain = PrivateChain(manager.client)  # type: ignore[arg-type]
        reporter = CommitmentReporter(client)
        chain.private.block_observer = reporter.observe_block
        deploy(chain, manager, reporter, 0)
        assert reporter._send_batch() is False and not reporter._queue and not reporter._enabled
        deploy(chain, manager, reporter, 1)  # nothing is collected any more
        assert not reporter._pending and not reporter._queue
    finally:
        client.close()
        plain.close()


def test_divergence_questions_back_off_after_the_last_delivery_and_then_stop(manager: Manager) -> None:
    """An idle node asks its manager four times in the 15 s after its last delivery, then never;
    each delivery brings the next question to at most 2 s away (every 2 s under load)."""
    channel = CountingChannel(manager.client)
    asked: list[float] = []
    channel.state_divergences = lambda from_block=0: asked.append(now) or []  # type: ignore[method-assign]
    reporter = CommitmentReporter(channel)  # type: ignore[arg-type]
    now = 100.0
    reporter._delivered(7, now)
    schedule = []
    while (wait := reporter._watch_if_due(now)) is not None:
        schedule.append(wait)
        now += wait
    assert [t - 100.0 for t in asked] == [2.0, 4.0, 8.0, 15.0]  # 2, then 2 and 4 apart, and at the window's end
    assert reporter._watch_if_due(now + 60) is None and len(asked) == 4  # nothing more while idle

    asked.clear()
    start = now = 1_000.0
    for second in range(10):  # a delivery every second: a question every 2 s
        now = start + second
        reporter._delivered(8, now)
        reporter._watch_if_due(now)
    assert [t - start for t in asked] == [2.0, 4.0, 6.0, 8.0]
