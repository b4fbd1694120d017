"""Unsigned transactions for external signing (geth's and GoQuorum's `eth_fillTransaction`).

geth answers `eth_fillTransaction` with the transaction's canonical encoding while its
signature values are still zero (v = r = s = 0); GoQuorum marks a private one by setting
`v` to 37 before any signature exists. Built with py-evm's own transaction builder, so the
bytes are exactly what the chain would decode.
"""

from __future__ import annotations

from typing import Any

from eth.abc import TransactionBuilderAPI
from eth_utils import to_bytes

from engine.chain.marker import PRIVATE_V_OFFSET


def _to(fields: dict[str, Any]) -> bytes:
    to = fields.get("to")
    return b"" if to is None else to_bytes(hexstr=to)


def _access_list(fields: dict[str, Any]) -> list[tuple[bytes, list[int]]]:
    return [(to_bytes(hexstr=e["address"]), [int(k, 16) for k in e["storageKeys"]])
            for e in fields.get("accessList", [])]


def encode_unsigned(builder: type[TransactionBuilderAPI], fields: dict[str, Any]) -> bytes:
    """Canonical bytes of an eth-account transaction dict (as `Node.fill_transaction` makes), unsigned."""
    common = {"nonce": fields["nonce"], "gas": fields["gas"], "to": _to(fields), "value": fields["value"],
              "data": fields["data"]}
    kind = fields.get("type", 0)
    if kind == 2:
        tx = builder.new_dynamic_fee_transaction(
            chain_id=fields["chainId"], max_priority_fee_per_gas=fields["maxPriorityFeePerGas"],
            max_fee_per_gas=fields["maxFeePerGas"], access_list=_access_list(fields), y_parity=0, r=0, s=0,
            **common)
    elif kind == 1:
        tx = builder.new_access_list_transaction(chain_id=fields["chainId"], gas_price=fields["gasPrice"],
                                                 access_list=_access_list(fields), y_parity=0, r=0, s=0, **common)
    else:
        tx = builder.new_transaction(gas_price=fields["gasPrice"], v=0, r=0, s=0, **common)
    return bytes(tx.encode())


def encode_unsigned_marker(builder: type[TransactionBuilderAPI], nonce: int, gas: int, to: bytes | None,
                           payload_hash: bytes) -> bytes:
    """GoQuorum's unsigned private transaction: legacy, gas price 0, data = the manager hash, v = 37."""
    tx = builder.new_transaction(nonce=nonce, gas_price=0, gas=gas, to=to or b"", value=0, data=payload_hash,
                                 v=PRIVATE_V_OFFSET, r=0, s=0)
    return bytes(tx.encode())
