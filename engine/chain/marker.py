"""GoQuorum's private marker: the only form a private transaction takes on the public chain.

A marker is a legacy transaction whose `data` is the manager's 64-byte payload hash,
signed with the Homestead signer (no chain id, gas price 0) and with `v` raised by 10 to
37/38. Decoding (`PrivateMarkerAwareLegacyTransaction`), signing (`sign_private_marker`)
and the shape check (`check_marker_shape`) are chain rules and live together here.
"""

from __future__ import annotations

import rlp
from eth.abc import SignedTransactionAPI
from eth.vm.forks.prague.transactions import PragueLegacyTransaction
from eth.vm.forks.spurious_dragon.transactions import SpuriousDragonUnsignedTransaction
from eth_keys import keys
from eth_utils import keccak

from engine.chain.signed import SignedOnceMixin
from engine.errors import PrivateTransactionRejected
from engine.types import PRIVATE_V_VALUES

PRIVATE_V_OFFSET = 37  # 27 + 10
PAYLOAD_HASH_BYTES = 64
# 21,000 + 16 per non-zero byte of a 64-byte hash (a zero byte costs 4: the bound is the safe side).
MARKER_CALL_INTRINSIC_GAS = 21_000 + 16 * PAYLOAD_HASH_BYTES
# A creating marker adds 32,000 and EIP-3860's 2 gas per 32-byte word of its (64-byte) init code.
MARKER_CREATE_INTRINSIC_GAS = MARKER_CALL_INTRINSIC_GAS + 32_000 + 2 * 2
# The least gas a marker may carry: intrinsic gas and EIP-7623's calldata floor on the hash.
MARKER_CALL_MIN_GAS = 24_000
MARKER_CREATE_MIN_GAS = MARKER_CALL_MIN_GAS + 32_100


class PrivateMarkerAwareLegacyTransaction(SignedOnceMixin, PragueLegacyTransaction):
    """A legacy transaction that also understands GoQuorum's private marker (v = 37/38)."""

    @property
    def is_private(self) -> bool:
        return self.v in PRIVATE_V_VALUES

    @property
    def y_parity(self) -> int:
        if self.is_private:
            return self.v - PRIVATE_V_OFFSET
        return super().y_parity

    @property
    def chain_id(self) -> int | None:
        if self.is_private:
            return None
        return super().chain_id

    @property
    def v_min(self) -> int:
        return PRIVATE_V_OFFSET if self.is_private else super().v_min

    @property
    def v_max(self) -> int:
        return PRIVATE_V_OFFSET + 1 if self.is_private else super().v_max

    def get_message_for_signing(self) -> bytes:
        if self.is_private:
            return rlp.encode(SpuriousDragonUnsignedTransaction(
                nonce=self.nonce, gas_price=self.gas_price, gas=self.gas,
                to=self.to, value=self.value, data=self.data,
            ))
        return super().get_message_for_signing()


def is_private_marker(transaction: SignedTransactionAPI) -> bool:
    return getattr(transaction, "is_private", False)


def marker_payload_hash(transaction: SignedTransactionAPI) -> bytes | None:
    """The manager hash a marker carries, or None when its data cannot be one."""
    data = bytes(transaction.data)
    return data if len(data) == PAYLOAD_HASH_BYTES else None


def check_marker_shape(transaction: SignedTransactionAPI) -> None:
    """Refuse a marker whose data is not a 64-byte manager hash (checked at intake)."""
    if marker_payload_hash(transaction) is None:
        raise PrivateTransactionRejected("private transaction data must be a 64-byte manager hash")


def marker_min_gas(creating: bool) -> int:
    return MARKER_CREATE_MIN_GAS if creating else MARKER_CALL_MIN_GAS


def sign_private_marker(private_key: bytes, nonce: int, gas: int, to: bytes | None, payload_hash: bytes) -> bytes:
    """Homestead-signed legacy transaction (no chain id), gas price 0, v raised to 37/38."""
    fields = [nonce, 0, gas, to or b"", 0, payload_hash]
    signature = keys.PrivateKey(private_key).sign_msg_hash(keccak(rlp.encode(fields)))
    v, r, s = signature.vrs
    return bytes(rlp.encode([*fields, v + PRIVATE_V_OFFSET, r, s]))
