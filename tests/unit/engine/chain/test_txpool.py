"""TxPool admission and batching, with account state read from a real py-evm chain."""

from __future__ import annotations

import pytest
from eth_keys import keys

from engine.chain.txpool import RECENT_BLOCKS, AccountView, TxPool
from engine.errors import TransactionRejected

from .kit import ACCOUNTS, build_on_head, decode, genesis_spec, head_reader, new_chain, sign, sign_raw

GAS_LIMIT = 30_000_000
A, B, C = ACCOUNTS[0], ACCOUNTS[1], ACCOUNTS[2]
POOR_KEY = b"\x42" * 32
POOR = keys.PrivateKey(POOR_KEY).public_key.to_canonical_address()


@pytest.fixture
def chain():
    return new_chain(genesis_spec(GAS_LIMIT))


def make_pool(chain, **kwargs) -> TxPool:
    return TxPool(head_reader(chain), kwargs.pop("block_gas_limit", GAS_LIMIT), **kwargs)


def add(pool: TxPool, key: bytes, nonce: int, **kwargs) -> bytes:
    raw = sign_raw(key, nonce, **kwargs)
    tx = decode(raw)
    assert pool.add(tx, raw, tx.sender) is True
    return tx.hash


def nonces(batch) -> list[tuple[bytes, int]]:
    return [(p.sender, p.tx.nonce) for p in batch]


def test_ready_batch_is_nonce_ordered_and_a_gap_holds_later_nonces_back(chain):
    pool = make_pool(chain)
    add(pool, A.private_key, 0)
    add(pool, A.private_key, 2)
    assert nonces(pool.ready_batch(10)) == [(A.address, 0)]
    assert pool.pending_nonce(A.address, 0) == 1

    add(pool, A.private_key, 1)  # fills the gap: nonce 2 becomes executable
    assert nonces(pool.ready_batch(10)) == [(A.address, 0), (A.address, 1), (A.address, 2)]
    assert pool.pending_nonce(A.address, 0) == 3


def test_only_queued_transactions_are_not_ready(chain):
    pool = make_pool(chain)
    add(pool, A.private_key, 1)
    assert len(pool) == 1
    assert not pool.has_ready()
    assert pool.ready_batch(10) == []
    add(pool, A.private_key, 0)
    assert pool.has_ready()


def test_nonce_too_low(chain):
    build = build_on_head(chain, [sign(A.private_key, 0), sign(A.private_key, 1)])
    chain.import_block(build.block)
    pool = make_pool(chain)
    with pytest.raises(TransactionRejected, match="nonce too low: next nonce 2, tx nonce 1"):
        add(pool, A.private_key, 1)
    add(pool, A.private_key, 2)


def test_nonce_too_high_beyond_the_max_gap(chain):
    pool = make_pool(chain, max_gap=2)
    with pytest.raises(TransactionRejected, match="nonce too high"):
        add(pool, A.private_key, 3)
    add(pool, A.private_key, 2)  # exactly at the gap limit
    add(pool, A.private_key, 0)
    add(pool, A.private_key, 1)
    # The gap counts from the first nonce missing from the pool (3 here), not from the state nonce.
    add(pool, A.private_key, 5)
    with pytest.raises(TransactionRejected, match="nonce too high"):
        add(pool, A.private_key, 6)


def test_insufficient_funds(chain):
    pool = make_pool(chain)
    with pytest.raises(TransactionRejected, match="insufficient funds for gas \\* price \\+ value"):
        add(pool, POOR_KEY, 0, value=1)
    with pytest.raises(TransactionRejected, match="insufficient funds"):
        add(pool, POOR_KEY, 0, gas_price=1)
    add(pool, POOR_KEY, 0)  # gas-free network: an empty account can still send a zero-value call
    assert len(pool) == 1


def test_intrinsic_gas_too_low(chain):
    pool = make_pool(chain)
    with pytest.raises(TransactionRejected, match="intrinsic gas too low: have 20999, want 21000"):
        add(pool, A.private_key, 0, gas=20_999)
    with pytest.raises(TransactionRejected, match="intrinsic gas too low"):
        add(pool, A.private_key, 0, gas=21_000, data=b"\x01" * 10)  # calldata costs gas too
    assert len(pool) == 0


def test_exceeds_block_gas_limit(chain):
    pool = make_pool(chain, block_gas_limit=100_000)
    with pytest.raises(TransactionRejected, match="exceeds block gas limit"):
        add(pool, A.private_key, 0, gas=100_001)
    add(pool, A.private_key, 0, gas=100_000)


def test_priority_fee_above_max_fee(chain):
    pool = make_pool(chain)
    with pytest.raises(TransactionRejected, match="max priority fee per gas higher than max fee per gas"):
        add(pool, A.private_key, 0, max_fee=1, tip=2)


@pytest.mark.parametrize("fees", [{"gas_price": 100}, {"max_fee": 100, "tip": 100}], ids=["legacy", "type2"])
def test_replacement_needs_a_ten_percent_higher_fee(chain, fees):
    pool = make_pool(chain)
    first = add(pool, A.private_key, 0, **fees)
    bumped = {k: v * 109 // 100 for k, v in fees.items()}
    with pytest.raises(TransactionRejected, match="replacement transaction underpriced"):
        add(pool, A.private_key, 0, value=1, **bumped)
    assert pool.get(first) is not None

    ten_percent = {k: v * 110 // 100 for k, v in fees.items()}
    second = add(pool, A.private_key, 0, value=2, **ten_percent)
    assert pool.get(first) is None
    assert pool.get(second) is not None
    assert len(pool) == 1
    assert [p.tx.hash for p in pool.ready_batch(10)] == [second]


def test_replacement_of_a_type2_needs_both_fee_cap_and_tip_bumped(chain):
    pool = make_pool(chain)
    add(pool, A.private_key, 0, max_fee=100, tip=10)
    with pytest.raises(TransactionRejected, match="replacement transaction underpriced"):
        add(pool, A.private_key, 0, max_fee=200, tip=10)
    add(pool, A.private_key, 0, max_fee=200, tip=11)


def test_already_known_is_idempotent(chain):
    pool = make_pool(chain)
    raw = sign_raw(A.private_key, 0)
    tx = decode(raw)
    assert pool.add(tx, raw, tx.sender) is True
    assert pool.add(decode(raw), raw, tx.sender) is False
    assert len(pool) == 1
    assert nonces(pool.ready_batch(10)) == [(A.address, 0)]


def test_pool_full(chain):
    pool = make_pool(chain, max_size=2)
    add(pool, A.private_key, 0, gas_price=10)
    add(pool, B.private_key, 0)
    with pytest.raises(TransactionRejected, match="txpool is full"):
        add(pool, C.private_key, 0)
    add(pool, A.private_key, 0, gas_price=11)  # a replacement does not grow the pool
    assert len(pool) == 2


def test_ready_batch_follows_arrival_order_across_senders(chain):
    pool = make_pool(chain)
    add(pool, A.private_key, 1)  # arrives first but waits for A's nonce 0
    add(pool, B.private_key, 0)
    add(pool, A.private_key, 0)
    add(pool, C.private_key, 0)
    add(pool, B.private_key, 1)
    batch = nonces(pool.ready_batch(10))
    assert batch == [(A.address, 0), (B.address, 0), (A.address, 1), (C.address, 0), (B.address, 1)]
    assert nonces(pool.ready_batch(3)) == batch[:3]


def test_remove_mined_drops_the_nonce_and_everything_below(chain):
    pool = make_pool(chain)
    for nonce in range(3):
        add(pool, A.private_key, nonce)
    kept = add(pool, B.private_key, 0)
    chain.import_block(build_on_head(chain, [p.tx for p in pool.ready_batch(2)]).block)  # A's 0 and 1

    pool.remove_mined([(A.address, 1)])
    assert len(pool) == 2
    assert nonces(pool.ready_batch(10)) == [(A.address, 2), (B.address, 0)]
    pool.remove_mined([(A.address, 2), (C.address, 0)])  # a sender the pool never saw is ignored
    assert pool.get(kept) is not None
    assert nonces(pool.ready_batch(10)) == [(B.address, 0)]


def test_remove_by_hash(chain):
    pool = make_pool(chain)
    first = add(pool, A.private_key, 0)
    add(pool, A.private_key, 1)
    pool.remove(first)
    pool.remove(first)  # removing twice is harmless
    assert pool.get(first) is None
    assert not pool.has_ready()  # nonce 1 is queued again behind the missing 0


def test_pending_nonce_never_goes_back_below_what_the_pool_saw_mined(chain):
    """A reader may take the state nonce from the head just before the block that mined the
    sender's transactions was committed, after the pool dropped them: the answer stays at the
    next nonce, not the mined one (which the node would then refuse as "nonce too low")."""
    pool = TxPool(head_reader(chain), 30_000_000)
    a = ACCOUNTS[0]
    for nonce in (0, 1):
        raw = sign_raw(a.private_key, nonce)
        pool.add(decode(raw), raw, a.address)
    assert pool.pending_nonce(a.address, 0) == 2
    pool.remove_mined([(a.address, 1)])  # the block with nonces 0 and 1 was committed
    assert pool.pending_nonce(a.address, 0) == 2  # the stale head's nonce
    assert pool.pending_nonce(a.address, 2) == 2  # the new head's: caught up
    for _ in range(RECENT_BLOCKS):
        pool.remove_mined([])  # later blocks
    assert pool.pending_nonce(a.address, 0) == 0  # and the pool forgot it (bounded memory)


def test_admission_with_a_stale_account_read_counts_the_nonces_the_pool_saw_mined(chain):
    """The pool reads the account without its lock; a block mining more than `max_gap` of the
    sender's pooled transactions may be committed (and the pool emptied of them) in between:
    the next send must still be admitted, and a mined nonce still refused as too low."""
    stale = AccountView(nonce=0, balance=10**24)
    pool = TxPool(lambda _address: stale, 30_000_000, max_gap=4)
    a = ACCOUNTS[0]
    for nonce in range(4):
        raw = sign_raw(a.private_key, nonce)
        pool.add(decode(raw), raw, a.address)
    pool.remove_mined([(a.address, n) for n in range(4)])  # mined; the reader still sees nonce 0
    raw = sign_raw(a.private_key, 8)  # 4 above the stale nonce + gap, at the gap of the real one
    assert pool.add(decode(raw), raw, a.address)
    raw = sign_raw(a.private_key, 3)
    with pytest.raises(TransactionRejected, match="nonce too low: next nonce 4, tx nonce 3"):
        pool.add(decode(raw), raw, a.address)
