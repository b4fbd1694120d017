"""PrivnetVM's deviations from Prague, and build_block → import_block agreement between two chains."""

from __future__ import annotations

import pytest
from eth_keys import keys
from eth_utils import ValidationError

from engine.chain.marker import sign_private_marker
from engine.chain.vm import PrivnetVM
from engine.types import PRIVATE_V_VALUES

from .kit import ACCOUNTS, CHAIN_ID, build_on_head, decode, genesis_spec, new_chain, over_the_wire, sign

A, B = ACCOUNTS[0], ACCOUNTS[1]
PAYLOAD_HASH = bytes(range(64))
RECIPIENT = b"\x22" * 20


def marker(key: bytes, nonce: int, gas: int = 100_000) -> bytes:
    return sign_private_marker(key, nonce, gas, RECIPIENT, PAYLOAD_HASH)


@pytest.fixture
def pair():
    """Two chains from one genesis: `producer` builds, `follower` imports."""
    spec = genesis_spec()
    return new_chain(spec), new_chain(spec)


def import_and_compare(producer, follower, built):
    """Persist on the producer, import the wire bytes on the follower; both must agree on the result."""
    producer.persist_block(built.block)
    imported = follower.import_block(over_the_wire(built.block)).imported_block
    assert imported.hash == built.block.hash
    assert imported.header.state_root == built.block.header.state_root
    assert imported.header.receipt_root == built.block.header.receipt_root
    assert follower.get_canonical_head() == producer.get_canonical_head()
    return imported


# -- private markers ---------------------------------------------------------------------------
@pytest.mark.parametrize(("nonce", "v"), [(0, 38), (5, 37)])  # both recovery ids, 27/28 + 10
def test_private_marker_decodes_and_recovers_its_sender(nonce, v):
    tx = decode(marker(A.private_key, nonce))
    assert tx.v == v
    assert tx.is_private
    assert tx.chain_id is None
    assert tx.sender == A.address
    assert tx.y_parity == tx.v - 37
    assert bytes(tx.data) == PAYLOAD_HASH and tx.to == RECIPIENT and tx.gas_price == 0
    tx.check_signature_validity()


def test_private_marker_sender_comes_from_the_homestead_signature():
    tx = decode(marker(B.private_key, 0))
    signature = keys.Signature(vrs=(tx.y_parity, tx.r, tx.s))
    assert signature.recover_public_key_from_msg(tx.get_message_for_signing()).to_canonical_address() == B.address
    ordinary = sign(B.private_key, 0)
    assert not ordinary.is_private and ordinary.chain_id == CHAIN_ID and ordinary.v not in PRIVATE_V_VALUES


def test_private_marker_public_side_moves_the_nonce_and_imports_identically(pair):
    producer, follower = pair
    built = build_on_head(producer, [decode(marker(A.private_key, 0)), sign(A.private_key, 1)])
    assert built.rejected == [] and len(built.block.transactions) == 2
    marker_tx = built.block.transactions[0]
    assert built.receipts[0].state_root == b"\x01"  # status 1
    # No EVM ran on the public side: the gas used is the intrinsic gas, or Prague's calldata floor
    # (EIP-7623: 21,000 + 10 per token, a zero byte 1 token, another byte 4) when that is higher.
    tokens = sum(1 if byte == 0 else 4 for byte in PAYLOAD_HASH)
    assert built.receipts[0].gas_used == max(marker_tx.intrinsic_gas, 21_000 + 10 * tokens)
    import_and_compare(producer, follower, built)
    state = follower.get_vm().state
    assert state.get_nonce(A.address) == 2
    assert state.get_code(RECIPIENT) == b""


def test_private_marker_with_value_is_rejected_by_the_vm(pair):
    producer, _ = pair
    raw = sign_private_marker(A.private_key, 0, 100_000, RECIPIENT, PAYLOAD_HASH)
    tx = decode(raw).copy(value=1)  # the signature no longer matters: the value check comes first
    built = build_on_head(producer, [tx])
    assert len(built.rejected) == 1 and built.block.transactions == ()


# -- chain id ------------------------------------------------------------------------------------
def test_transaction_for_another_chain_id_is_dropped_by_the_builder(pair):
    producer, follower = pair
    foreign = sign(A.private_key, 0, chain_id=CHAIN_ID + 1)
    assert foreign.chain_id == CHAIN_ID + 1
    built = build_on_head(producer, [foreign])
    assert [reason for _, reason in built.rejected] and built.block.transactions == ()
    import_and_compare(producer, follower, built)


# -- base fee ------------------------------------------------------------------------------------
def test_base_fee_stays_zero_for_blocks_above_the_gas_target():
    gas_limit = 100_000  # target 50,000: four transfers (84,000 gas) exceed it
    spec = genesis_spec(gas_limit)
    producer, follower = new_chain(spec), new_chain(spec)
    nonce = 0
    for _ in range(3):
        txs = [sign(A.private_key, nonce + i) for i in range(4)]
        built = build_on_head(producer, txs)
        nonce += 4
        assert built.block.header.gas_used == 84_000 > gas_limit // 2
        assert built.block.header.base_fee_per_gas == 0
        import_and_compare(producer, follower, built)
    assert producer.create_header_from_parent(producer.get_canonical_head()).base_fee_per_gas == 0


def test_block_with_a_non_zero_base_fee_is_rejected():
    parent = new_chain(genesis_spec()).get_canonical_head()
    header = PrivnetVM.create_header_from_parent(parent, timestamp=parent.timestamp, gas_limit=parent.gas_limit)
    PrivnetVM.validate_header(header, parent)
    with pytest.raises(ValidationError, match="base fee must be 0"):
        PrivnetVM.validate_header(header.copy(base_fee_per_gas=1), parent)


# -- timestamps ----------------------------------------------------------------------------------
def test_equal_timestamp_is_accepted_and_an_earlier_one_rejected(pair):
    producer, follower = pair
    parent = producer.get_canonical_head()
    same = build_on_head(producer, [sign(A.private_key, 0)], timestamp=parent.timestamp)
    assert same.block.header.timestamp == parent.timestamp
    import_and_compare(producer, follower, same)

    head = producer.get_canonical_head()
    with pytest.raises(ValidationError, match="timestamp must not be earlier than the parent's"):
        build_on_head(producer, [sign(A.private_key, 1)], timestamp=head.timestamp - 1)  # sealing checks it
    valid = build_on_head(producer, [sign(A.private_key, 1)]).block
    earlier = valid.copy(header=valid.header.copy(timestamp=head.timestamp - 1))
    with pytest.raises(ValidationError, match="timestamp must not be earlier than the parent's"):
        follower.import_block(over_the_wire(earlier))
    assert follower.get_canonical_head() == head
    import_and_compare(producer, follower, build_on_head(producer, [sign(A.private_key, 1)]))


# -- build → import ------------------------------------------------------------------------------
def test_block_built_on_one_chain_imports_on_another(pair, contract):
    producer, follower = pair
    artifact = contract("SimpleStorage")
    deploy = sign(A.private_key, 0, to=None, gas=1_000_000,
                  data=bytes.fromhex(artifact.bytecode.removeprefix("0x")) + (7).to_bytes(32, "big"))
    txs = [deploy, sign(B.private_key, 0, value=5), sign(B.private_key, 1, value=6, max_fee=0, tip=0)]
    built = build_on_head(producer, txs)
    assert built.rejected == [] and built.deferred == []
    assert [r.state_root for r in built.receipts] == [b"\x01"] * 3
    import_and_compare(producer, follower, built)
    assert follower.get_vm().state.get_balance(b"\x11" * 20) == 11


def test_block_with_an_invalid_transaction_dropped_imports_on_another(pair):
    producer, follower = pair
    poor_key = b"\x42" * 32
    txs = [
        sign(A.private_key, 0, value=1),
        sign(A.private_key, 5, value=1),  # nonce gap: invalid at this point
        sign(poor_key, 0, value=1),  # no balance
        sign(B.private_key, 0, value=1),
    ]
    built = build_on_head(producer, txs)
    assert [tx.hash for tx, _ in built.rejected] == [txs[1].hash, txs[2].hash]
    assert [tx.hash for tx in built.block.transactions] == [txs[0].hash, txs[3].hash]
    import_and_compare(producer, follower, built)


def test_a_block_with_the_invalid_transaction_kept_is_refused(pair):
    producer, follower = pair
    good = sign(A.private_key, 0)
    built = build_on_head(producer, [good])
    forged = built.block.copy(transactions=(good, sign(A.private_key, 5)))
    with pytest.raises(ValidationError):
        follower.import_block(over_the_wire(forged))


def test_transactions_that_do_not_fit_are_deferred_with_the_later_nonces_of_their_sender():
    spec = genesis_spec(100_000)
    producer, follower = new_chain(spec), new_chain(spec)
    txs = [
        sign(A.private_key, 0),  # 21,000 used, 79,000 left
        sign(A.private_key, 1, gas=90_000),  # does not fit this block
        sign(A.private_key, 2),  # would fit, but cannot run before nonce 1
        sign(B.private_key, 0),
    ]
    built = build_on_head(producer, txs)
    assert built.rejected == []
    assert [tx.hash for tx in built.deferred] == [txs[1].hash, txs[2].hash]
    assert [tx.hash for tx in built.block.transactions] == [txs[0].hash, txs[3].hash]
    import_and_compare(producer, follower, built)

    second = build_on_head(producer, built.deferred)
    assert second.rejected == [] and len(second.block.transactions) == 2
    import_and_compare(producer, follower, second)


def test_later_nonces_of_a_rejected_sender_are_deferred_not_rejected(pair):
    producer, _ = pair
    poor_key = b"\x42" * 32
    poor = keys.PrivateKey(poor_key).public_key.to_canonical_address()
    built = build_on_head(producer, [sign(poor_key, 0, value=1), sign(poor_key, 1)])
    assert [tx.nonce for tx, _ in built.rejected] == [0]
    assert [(tx.sender, tx.nonce) for tx in built.deferred] == [(poor, 1)]


# -- header copies -------------------------------------------------------------------------------
def test_header_with_equals_rlp_copy_and_drops_the_cached_encoding():
    from engine.chain.vm import header_with

    header = new_chain(genesis_spec()).get_canonical_head()
    _ = header.hash  # caches the original's encoding
    fast, slow = header_with(header, gas_used=21_000, bloom=5), header.copy(gas_used=21_000, bloom=5)
    assert fast == slow and fast.hash == slow.hash != header.hash
    assert (fast.gas_used, fast.bloom, fast.state_root) == (21_000, 5, header.state_root)
    with pytest.raises(AttributeError, match="no header field"):
        header_with(header, gas_usd=1)
