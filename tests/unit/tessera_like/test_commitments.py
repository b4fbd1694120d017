"""State commitments: the canonical statement, its MAC, and their SQL tables on every backend."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera_like.commitment_wire import encode_sides
from tessera_like.crypto.commitment import (
    CommitmentStatement,
    commitment_mac,
    decode_statement,
    encode_statement,
    verify_commitment_mac,
)
from tessera_like.errors import InvalidRequest
from tessera_like.store.commitments import (
    OutboxEntry,
    SqlCommitmentStore,
    StoredCommitment,
    join_hashes,
    split_hashes,
)
from tessera_like.store.sql import SqlPayloadStore
from tessera_like.types import KeyPair, PayloadHash, PublicKey

keys32 = st.binary(min_size=32, max_size=32).map(PublicKey)


@st.composite
def statements(draw: st.DrawFn) -> CommitmentStatement:
    return CommitmentStatement(
        author=draw(keys32), recipient=draw(keys32), block_number=draw(st.integers(0, 2**64 - 1)),
        block_hash=draw(st.binary(min_size=32, max_size=32)), contract=draw(st.binary(min_size=20, max_size=20)),
        storage_root=draw(st.binary(min_size=32, max_size=32)),
        payload_hashes=tuple(draw(st.lists(st.binary(min_size=64, max_size=64).map(PayloadHash), min_size=1,
                                           max_size=4))),
        parties=tuple(draw(st.lists(keys32, max_size=5))))


@given(statements())
def test_the_encoding_round_trips(statement: CommitmentStatement) -> None:
    assert decode_statement(encode_statement(statement)) == statement


@given(statements(), statements())
def test_distinct_statements_encode_differently(one: CommitmentStatement, other: CommitmentStatement) -> None:
    assert (encode_statement(one) == encode_statement(other)) == (one == other)


@given(statements(), st.integers(0, 400), st.binary(min_size=1, max_size=8))
def test_anything_but_an_exact_encoding_is_refused(statement: CommitmentStatement, cut: int, extra: bytes) -> None:
    data = encode_statement(statement)
    for bad in (data[:min(cut, len(data) - 1)], data + extra, b"\x02" + data[1:]):
        with pytest.raises(InvalidRequest):
            decode_statement(bad)


def test_fields_of_the_wrong_size_are_refused() -> None:
    good = CommitmentStatement(PublicKey(b"a" * 32), PublicKey(b"b" * 32), 1, b"h" * 32, b"c" * 20, b"r" * 32,
                               (PayloadHash(b"p" * 64),))
    for field, value in (("contract", b"c" * 32), ("storage_root", b"r"), ("author", b"a" * 31),
                         ("payload_hashes", (b"p" * 32,)), ("payload_hashes", ()), ("block_number", -1),
                         ("parties", (b"k" * 33,))):
        with pytest.raises(InvalidRequest):
            dataclasses.replace(good, **{field: value})


# -- the MAC ----------------------------------------------------------------------------

A, B, C = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()


def _statement(author: KeyPair, recipient: KeyPair, root: bytes = b"\x11" * 32) -> CommitmentStatement:
    return CommitmentStatement(author.public, recipient.public, 5, b"\x01" * 32, b"\x5a" * 20, root,
                               (PayloadHash(b"\x07" * 64), PayloadHash(b"\x09" * 64)), (A.public, B.public, C.public))


def test_the_recipient_verifies_what_the_author_macd() -> None:
    statement = _statement(A, B)
    assert verify_commitment_mac(B, statement, commitment_mac(A, statement))


@settings(max_examples=50)
@given(st.sampled_from(["author", "recipient", "block_number", "block_hash", "contract", "storage_root",
                        "payload_hashes", "parties"]))
def test_a_mac_binds_every_field(field: str) -> None:
    statement = _statement(A, B)
    mac = commitment_mac(A, statement)
    changed = {"author": C.public, "recipient": C.public, "block_number": 6, "block_hash": b"\x02" * 32,
               "contract": b"\x5b" * 20, "storage_root": b"\x22" * 32,
               "payload_hashes": (PayloadHash(b"\x07" * 64),),
               "parties": (A.public, B.public)}[field]
    altered = dataclasses.replace(statement, **{field: changed})
    for verifier in (B, C):
        assert not verify_commitment_mac(verifier, altered, mac)


def test_a_mac_is_for_one_direction_and_one_recipient() -> None:
    statement = _statement(A, B)
    mac = commitment_mac(A, statement)
    reflected = dataclasses.replace(statement, author=B.public, recipient=A.public)
    assert not verify_commitment_mac(A, reflected, mac)  # the B→A key is not the A→B key
    assert not verify_commitment_mac(C, dataclasses.replace(statement, recipient=C.public), mac)
    forged = commitment_mac(C, dataclasses.replace(statement, author=C.public))  # C cannot speak for A
    assert not verify_commitment_mac(B, statement, forged)
    with pytest.raises(ValueError):
        commitment_mac(C, statement)


# -- the SQL tables, on SQLite (file and memory) and PostgreSQL ------------------------------


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgresql"])
def tables(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlCommitmentStore]:
    if request.param == "sqlite-file":
        store = SqlPayloadStore(f"sqlite:///{tmp_path / 'manager.db'}")
    elif request.param == "sqlite-memory":
        store = SqlPayloadStore("sqlite:///:memory:")
    else:
        store = SqlPayloadStore(request.getfixturevalue("postgres_url")())
    yield SqlCommitmentStore(store)
    store.close()


P1, P2 = PayloadHash(b"\x01" * 64), PayloadHash(b"\x02" * 64)
KA, KB, KC = PublicKey(b"\xaa" * 32), PublicKey(b"\xbb" * 32), PublicKey(b"\xcc" * 32)
BLOCK, CONTRACT = b"\x0b" * 32, b"\x0c" * 20


def test_commitments_are_stored_once_per_block_contract_and_party(tables: SqlCommitmentStore) -> None:
    own = StoredCommitment(3, BLOCK, CONTRACT, KA, b"\x11" * 32, own=True, payload_hashes=(P1, P2))
    assert tables.add(own) is True
    again = dataclasses.replace(own, storage_root=b"\x22" * 32, payload_hashes=(P2,))
    assert tables.add(again) is False  # the first one stands
    peer = StoredCommitment(3, BLOCK, CONTRACT, KB, b"\x22" * 32, own=False, payload_hashes=(P1,))
    assert tables.add(peer) is True
    assert sorted(tables.for_contract(BLOCK, CONTRACT), key=lambda c: c.party) == [own, peer]
    assert tables.for_contract(BLOCK, b"\x0d" * 20) == []
    assert tables.own(BLOCK, CONTRACT, KA) == own and tables.own(BLOCK, CONTRACT, KB) is None
    other = StoredCommitment(3, BLOCK, b"\x0d" * 20, KA, b"\x33" * 32, own=True, payload_hashes=(P2,))
    queued = OutboxEntry(3, BLOCK, CONTRACT, P2, KA, KB)
    assert tables.add_many([other, own], [queued], 10) == 1
    assert sorted(tables.own_in_block(BLOCK), key=lambda c: c.contract) == [own, other]
    assert tables.own_in_block(b"\x0e" * 32) == []
    assert tables.due(10) == [queued] and tables.count() == 3


def test_payloads_and_their_vouched_parties_are_read_many_at_once(tables: SqlCommitmentStore) -> None:
    payloads = tables.payload_store
    held = [PayloadHash(i.to_bytes(64, "big")) for i in range(1, 1201)]  # more than one IN list
    for h in held[::2]:
        payloads.put(h, b"encoded " + h[-2:])
    tables.add_parties(held[0], [KB, KC])
    tables.add_parties(held[1], [KC])  # vouched for, but the payload itself is not held
    encoded, vouched = tables.payloads_and_parties([*held, held[0]])
    assert encoded == {bytes(h): b"encoded " + h[-2:] for h in held[::2]}
    assert vouched == {bytes(held[0]): {KB, KC}, bytes(held[1]): {KC}}
    assert tables.payloads_and_parties([]) == ({}, {})


def test_vouched_parties_are_recorded_once(tables: SqlCommitmentStore) -> None:
    assert tables.add_parties(P1, [KB, KC, KB]) == [KB, KC]
    assert tables.add_parties(P1, [KC, KA]) == [KA]
    assert tables.parties(P1) == {KA, KB, KC} and tables.parties(P2) == set()


def test_the_outbox_hands_out_due_entries_until_delivered(tables: SqlCommitmentStore) -> None:
    entry = OutboxEntry(3, BLOCK, CONTRACT, P1, KA, KB)
    other = OutboxEntry(3, BLOCK, CONTRACT, P1, KA, KC)
    tables.enqueue([entry, other, entry], now_ms=1000)
    assert sorted(tables.due(1000), key=lambda e: e.recipient) == [entry, other]
    assert tables.due(999) == [] and tables.next_due() == 1000
    tables.retry_at(1, 5000, entry)
    assert tables.due(4999) == [other]
    assert tables.due(5000)[-1] == dataclasses.replace(entry, attempts=1)
    tables.delivered(other, entry)
    assert tables.outbox_size() == 0 and tables.next_due() is None


def test_payload_hash_lists_pack_into_one_column() -> None:
    assert split_hashes(join_hashes((P1, P2))) == (P1, P2) and split_hashes(b"") == ()


def test_a_divergence_is_new_once_then_only_when_its_sides_change(tables: SqlCommitmentStore) -> None:
    two = encode_sides([(b"\x11" * 32, [KA]), (b"\x22" * 32, [KB])])
    three = encode_sides([(b"\x22" * 32, [KB]), (b"\x11" * 32, [KC, KA])])
    assert tables.record_divergence(3, BLOCK, CONTRACT, two) is True
    assert tables.record_divergence(3, BLOCK, CONTRACT, two) is False
    assert tables.record_divergence(3, BLOCK, CONTRACT, three) is True
    tables.record_divergence(9, b"\x0e" * 32, CONTRACT, two)
    (first, later) = tables.divergences()
    assert (first.block_number, first.block_hash, first.contract) == (3, BLOCK, CONTRACT)
    assert json.loads(first.sides) == json.loads(three) and later.block_number == 9
    assert [d.block_number for d in tables.divergences(from_block=4)] == [9]


def test_sides_encode_canonically() -> None:
    one = encode_sides([(b"\x11" * 32, [KC, KA]), (b"\x22" * 32, [KB])])
    assert one == encode_sides([(b"\x22" * 32, [KB]), (b"\x11" * 32, [KA, KC])])
