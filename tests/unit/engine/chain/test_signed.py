"""Transactions do their expensive work once per node, and still refuse every bad signature."""

from __future__ import annotations

import copy
from collections import Counter

import pytest
import rlp
from eth.constants import SECPK1_N
from eth_keys import datatypes
from eth_utils import ValidationError, keccak

from engine.chain.marker import sign_private_marker

from .kit import ACCOUNTS, build_on_head, decode, genesis_spec, new_chain, over_the_wire, sign_raw

A, B = ACCOUNTS[0], ACCOUNTS[1]


def _workload() -> list[bytes]:
    return [
        sign_raw(A.private_key, 0),                         # legacy, EIP-155
        sign_raw(A.private_key, 1, max_fee=0, tip=0),       # type 2
        sign_private_marker(B.private_key, 0, 100_000, b"\x22" * 20, bytes(range(64))),  # private marker
    ]


@pytest.fixture
def recoveries(monkeypatch):
    counts: Counter[str] = Counter()
    recover = datatypes.Signature.recover_public_key_from_msg

    def counting(self, message):
        counts["recover"] += 1
        return recover(self, message)

    monkeypatch.setattr(datatypes.Signature, "recover_public_key_from_msg", counting)
    return counts


def test_a_follower_recovers_each_sender_once_and_keeps_the_decoded_objects(recoveries):
    spec = genesis_spec()
    producer, follower = new_chain(spec), new_chain(spec)
    built = build_on_head(producer, [decode(raw) for raw in _workload()])
    assert not built.rejected
    producer.persist_block(built.block)
    received = over_the_wire(built.block)
    recoveries.clear()

    imported = follower.import_block(received).imported_block

    assert imported.hash == built.block.hash
    assert [tx is original for tx, original in zip(imported.transactions, received.transactions, strict=True)] \
        == [True, True, True]
    assert [tx.sender for tx in imported.transactions] == [A.address, A.address, B.address]
    assert recoveries["recover"] == 3  # py-evm alone: 6 recoveries, 3 verifications, 3 more after its copy


@pytest.mark.parametrize("raw", _workload(), ids=["legacy", "type2", "marker"])
def test_a_copy_is_the_transaction_itself_and_its_hash_is_the_hash_of_its_bytes(raw):
    tx = decode(raw)
    assert copy.deepcopy(tx) is tx and copy.copy(tx) is tx
    assert tx.hash == keccak(raw) == tx.hash


def _legacy_fields(raw: bytes) -> list:
    return rlp.decode(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.__setitem__(8, (SECPK1_N - int.from_bytes(f[8], "big")).to_bytes(32, "big")), "low s"),
        (lambda f: f.__setitem__(7, b""), "r or s out of range"),
        (lambda f: f.__setitem__(6, bytes([29])), "v"),  # neither 27/28 nor an EIP-155 value
    ],
    ids=["high-s", "r-zero", "bad-v"],
)
def test_a_bad_signature_still_fails_the_signature_check(change, message):
    fields = _legacy_fields(sign_raw(A.private_key, 0))
    change(fields)
    tx = decode(rlp.encode(fields))
    with pytest.raises(ValidationError, match=message):
        tx.check_signature_validity()


def test_a_signature_of_no_key_is_a_validation_error():
    fields = _legacy_fields(sign_raw(A.private_key, 0))
    fields[7] = (SECPK1_N - 1).to_bytes(32, "big")  # r above the field's x range: recovery finds no point
    tx = decode(rlp.encode(fields))
    with pytest.raises(ValidationError):
        tx.check_signature_validity()


def test_a_block_with_a_forged_signature_is_refused_by_the_follower():
    spec = genesis_spec()
    producer, follower = new_chain(spec), new_chain(spec)
    built = build_on_head(producer, [decode(sign_raw(A.private_key, 0))])
    fields = _legacy_fields(sign_raw(A.private_key, 0))
    fields[8] = (SECPK1_N - int.from_bytes(fields[8], "big")).to_bytes(32, "big")  # the malleable twin
    forged = built.block.copy(transactions=[decode(rlp.encode(fields))])
    with pytest.raises(ValidationError):
        follower.import_block(over_the_wire(forged))
