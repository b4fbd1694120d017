"""Canonical transaction bytes → geth's `types.Transaction` JSON, the `tx` member of the
`{raw, tx}` answer of `eth_signTransaction` and `eth_fillTransaction`.

geth prints that object from the transaction itself, not from a block: no `from`, no block
fields, `hash` last, and the fee fields of the other kind as `null` (its `txJSON` has no
`omitempty` there). Works on signed and unsigned (v = r = s = 0) transactions alike, which
is why it decodes the bytes instead of recovering a sender.
"""

from __future__ import annotations

from typing import Any

import rlp
from eth_utils import keccak

from engine.rpc import formatters as fmt

UNPROTECTED_V = frozenset((0, 1, 27, 28, 37, 38))  # geth's isProtectedV, plus GoQuorum's private 37/38


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big")


def _to(value: bytes) -> str | None:
    return fmt.address(value) if value else None


def _access_list(entries: list[Any]) -> list[dict[str, Any]]:
    return [{"address": fmt.address(addr), "storageKeys": [fmt.data(k) for k in keys]} for addr, keys in entries]


def transaction_json(raw: bytes) -> dict[str, Any]:
    """geth's JSON of a legacy, EIP-2930 or EIP-1559 transaction (the kinds this node signs)."""
    out: dict[str, Any] = {}
    if raw[0] >= 0xC0:
        nonce, gas_price, gas, to, value, data, v, r, s = rlp.decode(raw)
        out["type"] = "0x0"
        if _int(v) not in UNPROTECTED_V:
            out["chainId"] = fmt.quantity((_int(v) - 35) // 2)
        out.update(nonce=fmt.quantity(_int(nonce)), to=_to(to), gas=fmt.quantity(_int(gas)),
                   gasPrice=fmt.quantity(_int(gas_price)), maxPriorityFeePerGas=None, maxFeePerGas=None)
        access: list[Any] | None = None
        y_parity = None
    else:
        kind, fields = raw[0], rlp.decode(raw[1:])
        if kind == 1:
            chain_id, nonce, gas_price, gas, to, value, data, access, y_parity, r, s = fields
            fees = {"gasPrice": fmt.quantity(_int(gas_price)), "maxPriorityFeePerGas": None, "maxFeePerGas": None}
        elif kind == 2:
            chain_id, nonce, tip, cap, gas, to, value, data, access, y_parity, r, s = fields
            fees = {"gasPrice": None, "maxPriorityFeePerGas": fmt.quantity(_int(tip)),
                    "maxFeePerGas": fmt.quantity(_int(cap))}
        else:
            raise ValueError(f"transaction type {kind} has no JSON form here")
        v = y_parity
        out.update({"type": fmt.quantity(kind), "chainId": fmt.quantity(_int(chain_id)),
                    "nonce": fmt.quantity(_int(nonce)), "to": _to(to), "gas": fmt.quantity(_int(gas)), **fees})
    out["value"] = fmt.quantity(_int(value))
    out["input"] = fmt.data(data)
    if access is not None:
        out["accessList"] = _access_list(access)
    out.update(v=fmt.quantity(_int(v)), r=fmt.quantity(_int(r)), s=fmt.quantity(_int(s)))
    if y_parity is not None:
        out["yParity"] = fmt.quantity(_int(y_parity))
    out["hash"] = fmt.data(keccak(raw))
    return out


def sign_transaction_result(raw: bytes) -> dict[str, Any]:
    """geth's `SignTransactionResult`: `{raw, tx}`."""
    return {"raw": fmt.data(raw), "tx": transaction_json(raw)}
