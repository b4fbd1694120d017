"""The client's marker signing against the node's own rules (engine/chain/marker.py, engine/chain/intake.py).

The node makes the unsigned marker (engine's `encode_unsigned_marker`, as `eth_fillTransaction`
does); the client checks and signs it; the node's decoder must read it as private (v 37/38) and
recover the signer, byte for byte what the engine's own signer makes.
"""

from __future__ import annotations

import pytest
import rlp
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.chain.intake import decode_raw_transaction
from engine.chain.marker import is_private_marker, sign_private_marker
from engine.chain.unsigned import encode_unsigned_marker
from engine.chain.vm import PrivnetTransactionBuilder
from privnet_client import marker as mk

CHAIN_ID = 1337
MAX_TX_BYTES = 128 * 1024

private_keys = st.binary(min_size=32, max_size=32).filter(
    lambda k: 0 < int.from_bytes(k, "big") < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141)
nonces = st.integers(min_value=0, max_value=2**64 - 2)
gases = st.integers(min_value=24_000, max_value=30_000_000)
recipients = st.one_of(st.none(), st.binary(min_size=20, max_size=20))
payload_hashes = st.binary(min_size=64, max_size=64)


@settings(max_examples=60, deadline=None)
@given(private_keys, nonces, gases, recipients, payload_hashes)
def test_signed_marker_is_private_and_recovers_the_signer(key: bytes, nonce: int, gas: int, to: bytes | None,
                                                          payload_hash: bytes) -> None:
    unsigned = encode_unsigned_marker(PrivnetTransactionBuilder, nonce, gas, to, payload_hash)
    marker = mk.decode_unsigned(unsigned)
    signed = mk.sign(marker, key)

    v = int.from_bytes(rlp.decode(signed)[6], "big")
    assert v in (37, 38)
    signer = Account.from_key(key).address
    assert mk.recover_sender(signed) == signer
    # the node reads it as a private marker from the same sender, with the fields it filled
    tx = decode_raw_transaction(PrivnetTransactionBuilder, signed, CHAIN_ID, MAX_TX_BYTES)
    assert is_private_marker(tx)
    assert tx.sender == bytes.fromhex(signer[2:])
    assert (tx.nonce, tx.gas, tx.gas_price, tx.value, bytes(tx.to), bytes(tx.data)) == (
        nonce, gas, 0, 0, to or b"", payload_hash)
    # and it is exactly what the engine's own signer makes (deterministic RFC 6979 signatures)
    assert signed == sign_private_marker(key, nonce, gas, to, payload_hash)


@settings(max_examples=30, deadline=None)
@given(private_keys, nonces, gases, payload_hashes)
def test_a_tampered_marker_recovers_someone_else(key: bytes, nonce: int, gas: int, payload_hash: bytes) -> None:
    signed = mk.sign(mk.Marker(nonce=nonce, gas=gas, to=b"", payload_hash=payload_hash), key)
    items = rlp.decode(signed)
    items[0] = (nonce + 1).to_bytes(8, "big").lstrip(b"\x00")  # another nonce, same signature
    assert mk.recover_sender(rlp.encode(items)) != Account.from_key(key).address


def _unsigned(**changes: object) -> bytes:
    fields = {"nonce": 1, "gas_price": 0, "gas": 50_000, "to": b"\x11" * 20, "value": 0, "data": b"\x22" * 64,
              "v": 37, "r": 0, "s": 0}
    fields.update(changes)
    return rlp.encode(list(fields.values()))


@pytest.mark.parametrize(("changes", "reason"), [
    ({"gas_price": 1}, "gas price must be 0"),
    ({"value": 5}, "value must be 0"),
    ({"data": b"\x22" * 32}, "64-byte payload hash"),
    ({"to": b"\x11" * 19}, "`to` must be empty or 20 bytes"),
    ({"v": 38}, "must be unsigned"),
    ({"r": 7}, "must be unsigned"),
])
def test_a_marker_breaking_the_rules_is_not_signed(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(mk.MarkerError, match=reason):
        mk.decode_unsigned(_unsigned(**changes))


def test_a_marker_that_is_not_a_legacy_transaction_is_refused() -> None:
    with pytest.raises(mk.MarkerError, match="9 RLP byte strings"):
        mk.decode_unsigned(rlp.encode([1, 2, 3]))
    with pytest.raises(mk.MarkerError, match="not RLP"):
        mk.decode_unsigned(b"\xff\x00")


def test_a_marker_other_than_the_one_asked_for_is_refused() -> None:
    marker = mk.decode_unsigned(_unsigned())
    mk.check_matches(marker, nonce=1, to="0x" + "11" * 20)
    with pytest.raises(mk.MarkerError, match="nonce 1, asked for 2"):
        mk.check_matches(marker, nonce=2, to="0x" + "11" * 20)
    with pytest.raises(mk.MarkerError, match="asked for 0x3333"):
        mk.check_matches(marker, nonce=1, to="0x" + "33" * 20)
    with pytest.raises(mk.MarkerError, match="asked for a contract creation"):
        mk.check_matches(marker, nonce=1, to=None)
    creation = mk.decode_unsigned(_unsigned(to=b""))
    with pytest.raises(mk.MarkerError, match="filled `to` a contract creation"):
        mk.check_matches(creation, nonce=1, to="0x" + "11" * 20)
