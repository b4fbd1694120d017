"""GoQuorum's privacy marker transactions (PMTs): the chain rules and the inner transaction's format.

With privacy markers a private transaction never reaches the chain itself. The sender's node signs
the private marker as usual (v = 37/38, data = the payload's manager hash), serialises that signed
*inner* transaction as geth's transaction JSON, and sends the JSON through its manager to the same
recipients. The chain carries only a public transaction (the PMT) from the same account, with the
same nonce, to the privacy precompile address, whose data is the manager hash of that JSON.

Chain rules, as GoQuorum's `privacyMarker` precompile (core/vm/contracts_quorum.go):
1. From the genesis' `privacyPrecompileBlock` on, a public transaction to the precompile address
   is a PMT. Its public side is an ordinary call to an account without code: intrinsic gas on its
   data, nonce + 1, status 1, identical on every node.
2. A party's private side then fetches the inner transaction from its manager and runs it only if
   it is a signed private marker of the PMT's sender with the PMT's nonce (`inner_problem`).
   Otherwise, or on a non-party, nothing private happens and the chain goes on.
3. Without `privacyPrecompileBlock` (or before it) the address is an ordinary address.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from eth.abc import SignedTransactionAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth_utils import ValidationError, to_checksum_address

from engine.chain.intake import check_signature
from engine.chain.marker import PrivateMarkerAwareLegacyTransaction, is_private_marker, marker_payload_hash

#: GoQuorum's `QuorumPrivacyPrecompileContractAddress()`: 0x000…007a (clear of geth's and Besu's).
PRIVACY_PRECOMPILE_ADDRESS = b"\x00" * 19 + b"\x7a"

# EIP-7623 (Prague): a transaction pays at least 21,000 + 10 per calldata token (zero byte = 1
# token, other byte = 4); for a 64-byte hash this floor is above the intrinsic gas.
_TX_GAS = 21_000
_FLOOR_PER_TOKEN = 10
_NONZERO_BYTE_GAS = 16
_ZERO_BYTE_GAS = 4

#: The inner transaction's JSON is about 600 bytes; a payload far larger is not one.
MAX_INNER_JSON_BYTES = 64 * 1024
_UINT64 = 2**64 - 1
_UINT256 = 2**256 - 1


class InvalidInnerTransaction(ValueError):
    """Raised when a PMT's payload is not geth's JSON of a signed legacy transaction."""


def is_privacy_marker(transaction: SignedTransactionAPI) -> bool:
    """A public transaction to the privacy precompile (GoQuorum's `IsPrivacyMarker`, minus the
    private markers, which GoQuorum's precompile refuses to run)."""
    return not is_private_marker(transaction) and bytes(transaction.to) == PRIVACY_PRECOMPILE_ADDRESS


def precompile_active(block_number: int, precompile_block: int | None) -> bool:
    """GoQuorum's `IsPrivacyPrecompileEnabled`: on from `privacyPrecompileBlock`, off without one."""
    return precompile_block is not None and block_number >= precompile_block


def privacy_marker_gas(data: bytes) -> int:
    """The gas a PMT carries: its intrinsic gas, as GoQuorum's `createPrivacyMarkerTransaction`
    computes it, raised to EIP-7623's calldata floor, which Prague charges and GoQuorum's fork
    predates. Nothing else runs publicly, so this is also its gas used."""
    zeros = data.count(0)
    nonzeros = len(data) - zeros
    intrinsic = _TX_GAS + _ZERO_BYTE_GAS * zeros + _NONZERO_BYTE_GAS * nonzeros
    floor = _TX_GAS + _FLOOR_PER_TOKEN * (zeros + 4 * nonzeros)
    return max(intrinsic, floor)


def inner_problem(inner: SignedTransactionAPI, pmt: SignedTransactionAPI) -> str | None:
    """Why a party must not run `inner` for `pmt` (GoQuorum's precompile checks, in its order,
    plus the intake checks a private marker gets), or None when it may run."""
    if not is_private_marker(inner):
        return "the inner transaction is not a private transaction"
    if bytes(inner.sender) != bytes(pmt.sender):
        return "the PMT and its inner private transaction have different signers"
    if inner.nonce != pmt.nonce:
        return "the PMT and its inner private transaction have different nonces"
    if inner.value:
        return "ether value is not supported for private transactions"
    if marker_payload_hash(inner) is None:
        return "the inner private transaction's data is not a 64-byte manager hash"
    if inner.gas < inner.intrinsic_gas:
        return "the inner private transaction's gas is below its intrinsic gas"
    return None


# -- the inner transaction's format: geth's transaction JSON (core/types/transaction_marshalling.go) --

def _hex(value: int) -> str:
    return hex(value)


def encode_inner_transaction(inner: SignedTransactionAPI) -> bytes:
    """geth's `json.Marshal` of a signed legacy transaction (the field order of its `txJSON`)."""
    to = None if inner.to == CREATE_CONTRACT_ADDRESS else to_checksum_address(inner.to).lower()
    fields = {
        "type": "0x0", "nonce": _hex(inner.nonce), "gasPrice": _hex(inner.gas_price), "gas": _hex(inner.gas),
        "value": _hex(inner.value), "input": "0x" + bytes(inner.data).hex(), "v": _hex(inner.v),
        "r": _hex(inner.r), "s": _hex(inner.s), "to": to, "hash": "0x" + bytes(inner.hash).hex(),
    }
    return json.dumps(fields, separators=(",", ":")).encode()


def _quantity(fields: dict[str, Any], name: str, limit: int) -> int:
    value = fields.get(name)
    if value is None:
        raise InvalidInnerTransaction(f"missing required field '{name}' in transaction")
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) < 3:
        raise InvalidInnerTransaction(f"field '{name}' is not a hex quantity")
    try:
        number = int(value[2:], 16)
    except ValueError:
        raise InvalidInnerTransaction(f"field '{name}' is not a hex quantity") from None
    if number > limit:
        raise InvalidInnerTransaction(f"field '{name}' is out of range")
    return number


def _bytes(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidInnerTransaction(f"field '{name}' is not hex data")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidInnerTransaction(f"field '{name}' is not hex data") from None


def decode_inner_transaction(payload: bytes) -> SignedTransactionAPI:
    """The signed transaction in a PMT's payload, its sender recovered; raises InvalidInnerTransaction.

    Only legacy transactions (type 0x0) are accepted: a private transaction is always one. The
    `hash` field is ignored, as geth does; the signature must recover a sender.
    """
    if len(payload) > MAX_INNER_JSON_BYTES:
        raise InvalidInnerTransaction(f"payload of {len(payload)} bytes is too large for a transaction")
    try:
        fields = json.loads(payload)
    except (ValueError, RecursionError):
        raise InvalidInnerTransaction("payload is not a JSON transaction") from None
    if not isinstance(fields, dict):
        raise InvalidInnerTransaction("payload is not a JSON transaction object")
    if _quantity({"type": fields.get("type", "0x0")}, "type", _UINT64) != 0:
        raise InvalidInnerTransaction("only legacy (type 0x0) transactions can be private")
    to_field = fields.get("to")
    to = CREATE_CONTRACT_ADDRESS if to_field is None else _bytes(to_field, "to")
    if len(to) not in (0, 20):
        raise InvalidInnerTransaction("field 'to' is not a 20-byte address")
    if "input" not in fields or fields["input"] is None:
        raise InvalidInnerTransaction("missing required field 'input' in transaction")
    tx = PrivateMarkerAwareLegacyTransaction(
        nonce=_quantity(fields, "nonce", _UINT64), gas_price=_quantity(fields, "gasPrice", _UINT256),
        gas=_quantity(fields, "gas", _UINT64), to=to, value=_quantity(fields, "value", _UINT256),
        data=_bytes(fields["input"], "input"), v=_quantity(fields, "v", _UINT256),
        r=_quantity(fields, "r", _UINT256), s=_quantity(fields, "s", _UINT256))
    try:
        check_signature(tx)
    except ValidationError as exc:
        raise InvalidInnerTransaction(str(exc)) from None
    except Exception as exc:  # eth-keys raises BadSignature and friends
        raise InvalidInnerTransaction(f"invalid signature: {exc}") from None
    return tx


class PrivacyMarkerExecutorAPI(ABC):
    """The private side of a PMT, for a node's private executor that supports them.

    The VM calls it after a PMT's public side succeeded, in the block's order. Raising
    PrivacyManagerUnavailable halts the block; anything wrong with the PMT's content is not an
    error (the PMT stays in the chain, nothing private runs)."""

    @abstractmethod
    def execute_privacy_marker(self, transaction: SignedTransactionAPI, public_state: StateAPI) -> None:
        """Fetch, check and run the PMT's inner private transaction, or skip it."""
