"""The shared-state snapshot: its encoding round-trips and refuses malformed input, and a state
taken from one private state installs into another as the very same account (same storage root)."""

from __future__ import annotations

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.extension.applier import install
from engine.extension.snapshot import (
    ContractSnapshot,
    SnapshotInvalid,
    build_storage,
    decode_snapshot,
    take_snapshot,
)
from engine.privacy.state import DualPrivateState
from tests.unit.engine.privacy.kit import DictManagerClient, PrivateChain

ADDRESS = bytes.fromhex("5a" * 20)
words = st.integers(min_value=1, max_value=2**256 - 1)
snapshots = st.builds(
    ContractSnapshot,
    address=st.binary(min_size=20, max_size=20),
    nonce=st.integers(min_value=0, max_value=2**64 - 1),
    balance=st.integers(min_value=0, max_value=2**256 - 1),
    code=st.binary(max_size=256),
    storage_root=st.binary(min_size=32, max_size=32),
    storage=st.dictionaries(st.binary(min_size=32, max_size=32), words, max_size=12).map(
        lambda d: tuple(sorted(d.items()))),
)


@settings(max_examples=200, deadline=None)
@given(snapshots)
def test_encoding_round_trips(snapshot: ContractSnapshot) -> None:
    assert decode_snapshot(snapshot.encode()) == snapshot


def _fields(snapshot: ContractSnapshot) -> list[object]:
    return list(rlp.decode(snapshot.encode()))


SAMPLE = ContractSnapshot(ADDRESS, 1, 0, b"\x60\x00", b"\x11" * 32, ((b"\x01" * 32, 5), (b"\x02" * 32, 7)))


@pytest.mark.parametrize("mutate, why", [
    (lambda f: [b"\x02", *f[1:]], "unknown version"),
    (lambda f: [*f[:1], b"\x00" * 19, *f[2:]], "address"),
    (lambda f: [*f[:2], b"\x00\x01", *f[3:]], "not a minimal integer"),
    (lambda f: [*f[:5], b"\x11" * 31, f[6]], "storage root"),
    (lambda f: [*f[:6], [f[6][1], f[6][0]]], "not strictly ascending"),
    (lambda f: [*f[:6], [f[6][0], f[6][0]]], "not strictly ascending"),
    (lambda f: [*f[:6], [[b"\x01" * 32, b""]]], "zero slots are not stored"),
    (lambda f: [*f[:6], [[b"\x01" * 32]]], "expected [key, value]"),
    (lambda f: f[:6], "expected 7 fields"),
])
def test_decoding_refuses_malformed_snapshots(mutate: object, why: str) -> None:
    encoded = rlp.encode(mutate(_fields(SAMPLE)))  # type: ignore[operator]
    with pytest.raises(SnapshotInvalid, match=why.replace("[", r"\[")):
        decode_snapshot(encoded)


def test_decoding_refuses_non_rlp_and_trailing_bytes() -> None:
    with pytest.raises(SnapshotInvalid):
        decode_snapshot(b"\xff\xff")
    with pytest.raises(SnapshotInvalid):
        decode_snapshot(SAMPLE.encode() + b"\x00")


def _private_state(chain: PrivateChain, db: AtomicDB, root: bytes = BLANK_ROOT_HASH) -> DualPrivateState:
    public = chain.chain.get_vm().state
    return DualPrivateState(db, public.execution_context, root).attach_public(public)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.integers(min_value=0, max_value=2**256 - 1), words, max_size=20),
       st.binary(min_size=1, max_size=64))
def test_a_taken_state_installs_as_the_same_account(storage: dict[int, int], code: bytes) -> None:
    chain = PrivateChain(DictManagerClient())
    source_db = AtomicDB()
    source = _private_state(chain, source_db)
    source.set_code(ADDRESS, code)
    source.set_nonce(ADDRESS, 1)
    for slot, value in storage.items():
        source.set_storage(ADDRESS, slot, value)
    source.persist()

    taken = take_snapshot(source_db, source.state_root, ADDRESS)
    assert taken is not None
    assert dict(taken.storage) == {keccak(slot.to_bytes(32, "big")): v for slot, v in storage.items()}

    target_db = AtomicDB()
    target = _private_state(chain, target_db)
    install(target, target_db, decode_snapshot(taken.encode()))
    target.persist()
    assert target.get_code(ADDRESS) == code
    assert target.get_nonce(ADDRESS) == 1
    for slot, value in storage.items():
        assert target.get_storage(ADDRESS, slot) == value
    assert take_snapshot(target_db, target.state_root, ADDRESS) == taken
    # and the account keeps working: a later write changes it as on the source
    target.set_storage(ADDRESS, 7, 42)
    source.set_storage(ADDRESS, 7, 42)
    target.persist()
    source.persist()
    assert take_snapshot(target_db, target.state_root, ADDRESS) == take_snapshot(source_db, source.state_root,
                                                                                 ADDRESS)


def test_storage_that_does_not_make_its_root_is_refused() -> None:
    forged = ContractSnapshot(ADDRESS, 1, 0, b"\x00", keccak(b"another root"), ((b"\x01" * 32, 5),))
    with pytest.raises(SnapshotInvalid, match="does not match its root"):
        build_storage(AtomicDB(), forged)


def test_an_absent_account_has_no_snapshot() -> None:
    assert take_snapshot(AtomicDB(), BLANK_ROOT_HASH, ADDRESS) is None
