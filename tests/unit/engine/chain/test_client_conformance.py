"""Chain-side fixes for "every Ethereum client works unchanged": geth's replacement rule,
log topic matching, a genesis whose base fee agrees with every later block, EIP-7702 views
and blocks on a clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from engine.chain.genesis import LEGACY_GENESIS_BASE_FEE, GenesisSpec, derive_dev_accounts, dev_genesis
from engine.chain.node import Node
from engine.chain.reads import _log_matches
from engine.chain.txpool import TxPool
from engine.chain.views import transaction_view
from engine.config import NodeSettings
from engine.errors import TransactionRejected
from engine.types import Address, Hash32, LogFilter, LogView, SignedAuthorization

from .kit import ACCOUNTS, decode, genesis_spec, head_reader, new_chain, sign_raw

A = ACCOUNTS[0]
T1, T2 = Hash32(b"\x01" * 32), Hash32(b"\x02" * 32)


def open_node(data_dir: Path, **settings) -> Node:
    return Node.open(NodeSettings(data_dir=data_dir, chain_id=1337, **settings))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = open_node(tmp_path)
    try:
        yield node
    finally:
        node.stop()


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- logs ------------------------------------------------------------------------------


def log_with(*topics: Hash32) -> LogView:
    return LogView(address=Address(b"\x11" * 20), topics=topics, data=b"", block_number=1,
                   block_hash=Hash32(b"\x00" * 32), transaction_hash=Hash32(b"\x00" * 32), transaction_index=0,
                   log_index=0)


@pytest.mark.parametrize(("topics", "matches"), [
    ((), True),
    (((T1,),), True),
    (((T1,), None), False),  # geth: more filter positions than the log has topics never match
    ((None, None), False),
    ((None,), True),
    (((T2,),), False),
])
def test_a_null_topic_position_beyond_the_logs_topics_does_not_match(topics, matches):
    assert _log_matches(log_with(T1), LogFilter(from_block=0, to_block=1, topics=topics)) is matches


# -- replacement ---------------------------------------------------------------------------


def pool_with(raw: bytes) -> TxPool:
    pool = TxPool(head_reader(new_chain(genesis_spec())), 30_000_000)
    tx = decode(raw)
    assert pool.add(tx, raw, tx.sender)
    return pool


@pytest.mark.parametrize("fees", [{"gas_price": 0}, {"max_fee": 0, "tip": 0}], ids=["legacy", "type2"])
def test_a_zero_fee_transaction_cannot_be_replaced_at_the_same_fee(fees):
    pool = pool_with(sign_raw(A.private_key, 0, **fees))
    again = decode(sign_raw(A.private_key, 0, value=1, **fees))
    with pytest.raises(TransactionRejected, match="^replacement transaction underpriced$"):
        pool.add(again, b"", again.sender)


def test_a_replacement_must_be_strictly_higher_even_where_ten_percent_rounds_to_nothing():
    pool = pool_with(sign_raw(A.private_key, 0, gas_price=1))
    same = decode(sign_raw(A.private_key, 0, value=1, gas_price=1))  # 1 * 110 // 100 == 1
    with pytest.raises(TransactionRejected, match="replacement transaction underpriced"):
        pool.add(same, b"", same.sender)
    first = pool.ready_batch(1)[0].tx.hash
    higher = sign_raw(A.private_key, 0, value=2, gas_price=2)
    admission = pool.admit(decode(higher), higher, decode(higher).sender)
    assert admission.added and admission.replaced == first


def test_an_accepted_replacement_is_withdrawn_from_the_ordering_service_and_only_it_is_mined(node: Node):
    address, key = node.dev_accounts[0]
    old = node.send_raw_transaction(sign_raw(key, 0, gas_price=10))
    new = node.send_raw_transaction(sign_raw(key, 0, gas_price=11, value=1))
    with pytest.raises(TransactionRejected, match="replacement transaction underpriced"):
        node.send_raw_transaction(sign_raw(key, 0, gas_price=11, value=2))
    assert [Account.recover_transaction(raw) for raw in node.ordering.take_pending(10)] == [
        Account.recover_transaction(sign_raw(key, 0, gas_price=11, value=1))]  # the replaced one is gone
    node.start()
    wait_for(lambda: node.get_receipt(new) is not None)
    assert node.get_receipt(old) is None and node.get_nonce(address, "latest") == 1


def test_a_producer_drops_a_replaced_submission_it_pulled_with_its_replacement(tmp_path: Path):
    """Both forms submitted elsewhere (another node's ordering log entries): one block, the replacement."""
    settings = NodeSettings(data_dir=tmp_path, chain_id=1337)
    node = Node.open(settings)
    try:
        address, key = node.dev_accounts[0]
        node.start()
        old, new = sign_raw(key, 0, gas_price=10), sign_raw(key, 0, gas_price=20, value=1)
        node.ordering.submit([old, new])
        new_hash = Hash32(decode(new).hash)
        wait_for(lambda: node.get_receipt(new_hash) is not None)
        assert node.get_receipt(Hash32(decode(old).hash)) is None
        assert node.get_nonce(address, "latest") == 1
        wait_for(lambda: node.ordering.take_pending(10) == [] and len(node.pool) == 0)
    finally:
        node.stop()


# -- genesis base fee ------------------------------------------------------------------------


def test_a_new_genesis_says_base_fee_zero_like_every_later_block(node: Node):
    node.start()
    genesis = node.get_block(0, False)
    assert genesis is not None and genesis.base_fee_per_gas == 0
    _, key = node.dev_accounts[0]
    tx_hash = node.send_raw_transaction(sign_raw(key, 0))
    wait_for(lambda: node.get_receipt(tx_hash) is not None)
    assert node.get_block(1, False).base_fee_per_gas == 0  # type: ignore[union-attr]
    assert node.fee_history(2, "latest", None).base_fee_per_gas == (0, 0, 0)
    assert node.gas_price() == 0 and node.max_priority_fee() == 0


def test_a_genesis_file_without_a_base_fee_keeps_its_hash_and_one_written_now_says_zero(tmp_path: Path):
    spec = dev_genesis(1337, 100_000_000, derive_dev_accounts("privnet", 2))
    assert spec.to_json()["baseFeePerGas"] == "0x0"
    assert GenesisSpec.from_json(spec.to_json()) == spec
    old_file = spec.to_json()
    del old_file["baseFeePerGas"]  # as `privnet up` wrote it before
    legacy = GenesisSpec.from_json(old_file)
    assert legacy.base_fee_per_gas == LEGACY_GENESIS_BASE_FEE
    path = tmp_path / "genesis.json"
    legacy.write(path)
    node = open_node(tmp_path / "node", genesis_file=path)
    try:
        genesis = node.get_block(0, False)
        assert genesis is not None and genesis.base_fee_per_gas == LEGACY_GENESIS_BASE_FEE
    finally:
        node.stop()


def test_a_database_made_from_the_old_built_in_dev_genesis_still_opens(tmp_path: Path):
    settings = NodeSettings(data_dir=tmp_path, chain_id=1337)
    accounts = derive_dev_accounts(settings.dev_account_seed, settings.dev_accounts)
    old_spec = GenesisSpec(**{**dev_genesis(1337, settings.block_gas_limit, accounts).__dict__,
                              "base_fee_per_gas": LEGACY_GENESIS_BASE_FEE})
    path = tmp_path / "old-genesis.json"
    old_spec.write(path)
    made_then = Node.open(settings.model_copy(update={"genesis_file": path}))
    old_hash = made_then.get_block(0, False).hash  # type: ignore[union-attr]
    made_then.stop()
    reopened = Node.open(settings)  # built-in dev genesis, now base fee 0
    try:
        assert reopened.get_block(0, False).hash == old_hash  # type: ignore[union-attr]
    finally:
        reopened.stop()


# -- EIP-7702 ------------------------------------------------------------------------------


def test_a_type4_transaction_view_carries_its_authorization_list():
    auth = Account.sign_authorization({"chainId": 1337, "address": "0x" + "22" * 20, "nonce": 0}, A.private_key)
    signed = Account.sign_transaction({
        "type": 4, "chainId": 1337, "nonce": 1, "gas": 100_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
        "to": "0x" + "33" * 20, "value": 0, "data": b"", "authorizationList": [auth]}, A.private_key)
    view = transaction_view(decode(bytes(signed.raw_transaction)))
    assert view.tx_type == 4
    assert view.authorization_list == (SignedAuthorization(1337, Address(b"\x22" * 20), 0, auth.y_parity,
                                                            auth.r, auth.s),)
    legacy = transaction_view(decode(sign_raw(A.private_key, 0)))
    assert legacy.authorization_list is None


# -- blocks on a clock ---------------------------------------------------------------------------


def test_an_idle_producer_makes_empty_blocks_at_the_interval(tmp_path: Path):
    node = open_node(tmp_path, empty_block_interval_s=0.2)
    try:
        node.start()
        wait_for(lambda: node.block_number() >= 3, timeout=10)
        block = node.get_block(1, False)
        assert block is not None and block.transactions == () and block.base_fee_per_gas == 0
    finally:
        node.stop()


def test_without_the_interval_an_idle_chain_does_not_grow(tmp_path: Path):
    node = open_node(tmp_path)
    try:
        node.start()
        time.sleep(0.5)
        assert node.block_number() == 0
    finally:
        node.stop()
