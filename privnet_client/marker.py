"""GoQuorum's private marker, signed on the client: what `eth_fillTransaction` returns, checked and signed.

A marker is a legacy transaction carrying the manager's 64-byte payload hash as data, with gas
price 0, no value and no chain id. It is signed with the Homestead signer (the hash of the RLP
of its six fields) and its ``v`` is 27/28 + 10 = 37/38, the node's sign that it is private.
The node prepares the marker; this module refuses to sign one that is not what was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_keys import keys
from eth_utils import keccak, to_checksum_address

PRIVATE_V_OFFSET = 37  # 27 + 10
PAYLOAD_HASH_BYTES = 64


class MarkerError(ValueError):
    """The node's unsigned marker is malformed or not the transaction that was asked for."""


@dataclass(frozen=True)
class Marker:
    """The six signed fields of a private marker."""

    nonce: int
    gas: int
    to: bytes  # b"" for a contract creation
    payload_hash: bytes
    gas_price: int = 0
    value: int = 0

    def fields(self) -> list[object]:
        return [self.nonce, self.gas_price, self.gas, self.to, self.value, self.payload_hash]

    def signing_hash(self) -> bytes:
        return keccak(rlp.encode(self.fields()))


def _int(item: bytes, name: str) -> int:
    if item[:1] == b"\x00":
        raise MarkerError(f"marker {name} has a leading zero byte")
    return int.from_bytes(item, "big")


def decode_unsigned(raw: bytes) -> Marker:
    """The marker in `eth_fillTransaction`'s `raw` (v = 37, r = s = 0), checked against the marker rules."""
    try:
        items = rlp.decode(raw)
    except rlp.exceptions.DecodingError as exc:
        raise MarkerError(f"marker is not RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != 9 or not all(isinstance(i, bytes) for i in items):
        raise MarkerError("marker is not a legacy transaction (9 RLP byte strings)")
    nonce, gas_price, gas, to, value, data, v, r, s = items
    marker = Marker(nonce=_int(nonce, "nonce"), gas=_int(gas, "gas"), to=to, payload_hash=data,
                    gas_price=_int(gas_price, "gasPrice"), value=_int(value, "value"))
    if marker.gas_price != 0:
        raise MarkerError(f"marker gas price must be 0, got {marker.gas_price}")
    if marker.value != 0:
        raise MarkerError(f"marker value must be 0, got {marker.value}")
    if len(to) not in (0, 20):
        raise MarkerError(f"marker `to` must be empty or 20 bytes, got {len(to)}")
    if len(data) != PAYLOAD_HASH_BYTES:
        raise MarkerError(f"marker data must be the 64-byte payload hash, got {len(data)} bytes")
    if (_int(v, "v"), _int(r, "r"), _int(s, "s")) != (PRIVATE_V_OFFSET, 0, 0):
        raise MarkerError("marker must be unsigned (v = 37, r = s = 0)")
    return marker


def check_matches(marker: Marker, *, nonce: int | None, to: str | None) -> None:
    """Refuse a marker whose nonce or recipient differs from the request (a node must not pick them)."""
    if nonce is not None and marker.nonce != nonce:
        raise MarkerError(f"node filled nonce {marker.nonce}, asked for {nonce}")
    asked = b"" if to is None else bytes.fromhex(to_checksum_address(to)[2:])
    if marker.to != asked:
        shown = to_checksum_address(marker.to) if marker.to else "a contract creation"
        raise MarkerError(f"node filled `to` {shown}, asked for {to or 'a contract creation'}")


def sign(marker: Marker, private_key: bytes) -> bytes:
    """The raw signed marker: Homestead signature, v raised to 37/38."""
    v, r, s = keys.PrivateKey(private_key).sign_msg_hash(marker.signing_hash()).vrs
    return bytes(rlp.encode([*marker.fields(), v + PRIVATE_V_OFFSET, r, s]))


def recover_sender(raw: bytes) -> str:
    """The checksummed signer of a signed marker (v must be 37/38)."""
    items = rlp.decode(raw)
    if not isinstance(items, list) or len(items) != 9:
        raise MarkerError("not a legacy transaction")
    nonce, gas_price, gas, to, value, data, v, r, s = items
    y_parity = int.from_bytes(v, "big") - PRIVATE_V_OFFSET
    if y_parity not in (0, 1):
        raise MarkerError(f"not a private marker: v = {int.from_bytes(v, 'big')}")
    marker = Marker(nonce=int.from_bytes(nonce, "big"), gas=int.from_bytes(gas, "big"), to=to, payload_hash=data,
                    gas_price=int.from_bytes(gas_price, "big"), value=int.from_bytes(value, "big"))
    signature = keys.Signature(vrs=(y_parity, int.from_bytes(r, "big"), int.from_bytes(s, "big")))
    return signature.recover_public_key_from_msg_hash(marker.signing_hash()).to_checksum_address()
