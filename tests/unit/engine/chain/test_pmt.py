"""Privacy marker transactions, the chain's part: the precompile address, the PMT's gas, the inner
transaction's JSON (geth's `txJSON`) and the checks a party makes before running it."""

from __future__ import annotations

import json

import pytest
import rlp
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth_keys import keys
from eth_utils import keccak

from engine.chain.marker import sign_private_marker
from engine.chain.pmt import (
    MAX_INNER_JSON_BYTES,
    PRIVACY_PRECOMPILE_ADDRESS,
    InvalidInnerTransaction,
    decode_inner_transaction,
    encode_inner_transaction,
    inner_problem,
    is_privacy_marker,
    precompile_active,
    privacy_marker_gas,
)
from engine.chain.vm import PrivnetTransactionBuilder

from .kit import ACCOUNTS, build_on_head, decode, genesis_spec, new_chain, sign

A, B = ACCOUNTS[0], ACCOUNTS[1]
HASH = bytes(range(1, 65))  # a 64-byte manager hash without zero bytes
CONTRACT = b"\x42" * 20


def inner_marker(key: bytes = A.private_key, nonce: int = 0, to: bytes | None = CONTRACT, gas: int = 200_000,
                 payload_hash: bytes = HASH):  # noqa: ANN201 - py-evm's transaction type
    return PrivnetTransactionBuilder.decode(sign_private_marker(key, nonce, gas, to, payload_hash))


def pmt(key: bytes = A.private_key, nonce: int = 0, data: bytes = HASH, gas: int | None = None):  # noqa: ANN201
    return sign(key, nonce, to=PRIVACY_PRECOMPILE_ADDRESS, data=data,
                gas=privacy_marker_gas(data) if gas is None else gas)


def test_the_precompile_address_is_goquorums():
    assert "0x" + PRIVACY_PRECOMPILE_ADDRESS.hex() == "0x000000000000000000000000000000000000007a"


def test_only_a_public_transaction_to_the_precompile_is_a_pmt():
    assert is_privacy_marker(pmt())
    assert not is_privacy_marker(inner_marker(to=PRIVACY_PRECOMPILE_ADDRESS))  # a private marker never is
    assert not is_privacy_marker(sign(A.private_key, 0, to=CONTRACT, data=HASH, gas=30_000))
    assert not is_privacy_marker(sign(A.private_key, 0, to=None, data=HASH, gas=100_000))


def test_the_precompile_is_on_from_its_block_and_off_without_one():
    assert not precompile_active(10, None)
    assert not precompile_active(4, 5)
    assert precompile_active(5, 5) and precompile_active(6, 5)
    assert precompile_active(0, 0)


@pytest.mark.parametrize("data", [HASH, b"\x00" * 64, b"\x00" * 32 + HASH[:32]],
                         ids=["no-zero-bytes", "all-zero", "half-zero"])
def test_pmt_gas_is_exactly_what_the_chain_charges(data):
    """The PMT carries its intrinsic gas raised to Prague's calldata floor: enough, and all used."""
    tx = pmt(data=data)
    assert privacy_marker_gas(data) == max(tx.intrinsic_gas, PragueTransactionExecutor.calc_data_floor_gas(tx, 0, 0))
    built = build_on_head(new_chain(genesis_spec()), [tx])
    assert not built.rejected
    assert built.receipts[0].gas_used == privacy_marker_gas(data) == tx.gas


def test_inner_json_has_geths_shape_and_round_trips():
    inner = inner_marker(nonce=7)
    payload = encode_inner_transaction(inner)
    fields = json.loads(payload)
    assert list(fields) == ["type", "nonce", "gasPrice", "gas", "value", "input", "v", "r", "s", "to", "hash"]
    assert fields["type"] == "0x0" and fields["nonce"] == "0x7" and fields["gasPrice"] == "0x0"
    assert fields["v"] in ("0x25", "0x26")
    assert fields["input"] == "0x" + HASH.hex()
    assert fields["to"] == "0x" + CONTRACT.hex()
    assert fields["hash"] == "0x" + bytes(inner.hash).hex()

    decoded = decode_inner_transaction(payload)
    assert bytes(decoded.hash) == bytes(inner.hash)
    assert bytes(decoded.sender) == A.address
    assert rlp.encode(decoded) == rlp.encode(inner)


def test_a_creating_inner_transaction_has_a_null_to():
    inner = inner_marker(to=None)
    payload = encode_inner_transaction(inner)
    assert json.loads(payload)["to"] is None
    assert bytes(decode_inner_transaction(payload).hash) == bytes(inner.hash)


def _fields(**changes: object) -> bytes:
    fields = json.loads(encode_inner_transaction(inner_marker()))
    fields.update(changes)
    return json.dumps({k: v for k, v in fields.items() if v != "<drop>"}).encode()


@pytest.mark.parametrize("payload", [
    b"",
    b"not a transaction at all",
    b"\xff\xfe binary",
    b"[]",
    b'"a string"',
    b"[" * 100_000 + b"]" * 100_000,
    b"{" + b'"a":' * 10 + b"1" + b"}" * 10,
    _fields(type="0x2"),
    _fields(nonce="<drop>"),
    _fields(gas="<drop>"),
    _fields(input="<drop>"),
    _fields(v="<drop>"),
    _fields(nonce="7"),
    _fields(nonce=7),
    _fields(gas="0xzz"),
    _fields(nonce=hex(2**64)),
    _fields(value=hex(2**256)),
    _fields(input="0xabc"),
    _fields(to="0x1234"),
    _fields(to=12),
    _fields(r="0x0"),
    _fields(v="0x1"),
    _fields(s=hex(2**255)),
    b'{"type":"0x0"' + b" " * MAX_INNER_JSON_BYTES + b"}",
])
def test_anything_but_a_signed_legacy_transaction_is_refused(payload):
    with pytest.raises(InvalidInnerTransaction):
        decode_inner_transaction(payload)


def test_an_inner_transaction_signed_as_public_decodes_but_is_not_run():
    """v outside 37/38 reads as another signature scheme: a transaction, but not a private one."""
    outer = pmt()
    inner = decode_inner_transaction(_fields(v="0x30"))
    assert "not a private transaction" in inner_problem(inner, outer)


def test_a_party_runs_only_a_private_marker_of_the_pmt_sender_with_its_nonce():
    outer = pmt(nonce=3)
    assert inner_problem(inner_marker(nonce=3), outer) is None
    assert "different signers" in inner_problem(inner_marker(key=B.private_key, nonce=3), outer)
    assert "different nonces" in inner_problem(inner_marker(nonce=4), outer)
    public_inner = sign(A.private_key, 3, to=CONTRACT, data=HASH, gas=200_000)
    assert "not a private transaction" in inner_problem(public_inner, outer)
    assert "64-byte" in inner_problem(inner_marker(nonce=3, payload_hash=HASH[:32]), outer)
    assert "intrinsic gas" in inner_problem(inner_marker(nonce=3, gas=21_000), outer)
    fields = [3, 0, 200_000, CONTRACT, 5, HASH]  # a private marker carrying ether, signed as a wallet would
    v, r, s = keys.PrivateKey(A.private_key).sign_msg_hash(keccak(rlp.encode(fields))).vrs
    with_value = decode(rlp.encode([*fields, v + 37, r, s]))
    assert "ether value" in inner_problem(with_value, outer)
