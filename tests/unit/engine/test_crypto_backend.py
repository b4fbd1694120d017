"""eth-keys must use coincurve: its pure-Python fallback recovers senders ~87x slower (FIELD_NOTES)."""

from __future__ import annotations

from eth_keys import keys
from eth_keys.backends import get_backend
from eth_keys.backends.coincurve import CoinCurveECCBackend


def test_default_ecc_backend_is_coincurve():
    assert isinstance(get_backend(), CoinCurveECCBackend)


def test_keys_created_without_a_backend_argument_use_coincurve():
    private_key = keys.PrivateKey(b"\x01" * 32)
    signature = private_key.sign_msg_hash(b"\x02" * 32)
    assert isinstance(private_key.backend, CoinCurveECCBackend)
    assert isinstance(signature.backend, CoinCurveECCBackend)
    assert signature.recover_public_key_from_msg_hash(b"\x02" * 32) == private_key.public_key
