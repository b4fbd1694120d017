"""Wire values (JSON with 0x-hex strings) → domain values, checked at the edge.

Every parser takes the raw JSON value and `name`, the path of the value in the request
(`params[0]`, `params[0].gasPrice`, `params[1].privateFor[2]`), and raises `InvalidParams`
with that path and the reason: missing, wrong type, bad hex, wrong length, out of range.

Note: the privacy checks GoQuorum makes before it touches the manager (invalid flag, flag 2
without `mandatoryFor`, `mandatoryFor` with another flag) raise `PrivateTransactionRejected`
(-32000) with GoQuorum's exact messages instead: tools match on those strings.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils import is_checksum_address

from engine.errors import InvalidParams, PrivateTransactionRejected
from engine.types import (
    AccountOverride,
    Address,
    BlockId,
    BlockOverrides,
    BlockTag,
    Hash32,
    PayloadHash,
    PrivacyFlag,
    PrivateArgs,
    PtmPublicKey,
    SignedAuthorization,
    SimulatedBlockRequest,
    SimulateOptions,
    TxRequest,
)

T = TypeVar("T")

BLOCK_TAGS: frozenset[str] = frozenset(("latest", "earliest", "pending", "safe", "finalized"))
MAX_UINT256 = 2**256 - 1
MAX_UINT64 = 2**64 - 1
MAX_BLOCK_NUMBER = 2**63 - 1

_QUANTITY_RE = re.compile(r"0[xX][0-9a-fA-F]+")
_HEX_DIGITS_RE = re.compile(r"[0-9a-fA-F]*")

MSG_INVALID_PRIVACY_FLAG = "invalid privacy flag"
MSG_MISSING_MANDATORY = (
    "missing mandatory recipients data. if no mandatory recipients required consider using "
    "PrivacyFlag=1(PartyProtection)"
)
MSG_MANDATORY_WITH_OTHER_FLAG = (
    "privacy metadata invalid. mandatory recipients are only applicable for "
    "PrivacyFlag=2(MandatoryRecipients)"
)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def fail(name: str, why: str) -> InvalidParams:
    """The one shape of a parameter error: `<path>: <reason>`."""
    return InvalidParams(f"invalid params: {name}: {why}")


def _hex_string(value: object, name: str) -> str:
    """The hex digits after the 0x prefix (not yet decoded)."""
    if not isinstance(value, str):
        raise fail(name, f"expected a 0x-prefixed hex string, got {_type_name(value)}")
    if not value.startswith(("0x", "0X")):
        raise fail(name, "hex string without 0x prefix")
    return value[2:]


# -- scalars ---------------------------------------------------------------------------


def quantity(value: object, name: str, *, max_value: int = MAX_UINT256) -> int:
    """A JSON-RPC QUANTITY: 0x-prefixed hex digits, at least one (leading zeros tolerated)."""
    if not isinstance(value, str):
        raise fail(name, f"expected a 0x-prefixed hex quantity, got {_type_name(value)}")
    if _QUANTITY_RE.fullmatch(value) is None:
        if value in ("0x", "0X"):
            raise fail(name, "empty hex quantity (use 0x0 for zero)")
        if not value.startswith(("0x", "0X")):
            raise fail(name, "hex quantity without 0x prefix")
        raise fail(name, "invalid hex digit in quantity")
    if len(value) > 66 and len(value[2:].lstrip("0")) > 64:
        raise fail(name, "quantity exceeds 256 bits")
    number = int(value, 16)
    if number > max_value:
        raise fail(name, f"quantity out of range (max {max_value:#x})")
    return number


def uint64(value: object, name: str) -> int:
    return quantity(value, name, max_value=MAX_UINT64)


def data(value: object, name: str, *, length: int | None = None) -> bytes:
    """A JSON-RPC DATA value: 0x-prefixed, an even number of hex digits (may be empty)."""
    digits = _hex_string(value, name)
    try:
        raw = binascii.unhexlify(digits)
    except (binascii.Error, ValueError):
        if _HEX_DIGITS_RE.fullmatch(digits) is None:
            raise fail(name, "invalid hex digit") from None
        raise fail(name, "hex string has odd length") from None
    if length is not None and len(raw) != length:
        raise fail(name, f"expected {length} bytes, got {len(raw)}")
    return raw


def address(value: object, name: str) -> Address:
    """20 bytes; a mixed-case address must carry a valid EIP-55 checksum."""
    raw = data(value, name)
    if len(raw) != 20:
        raise fail(name, f"an address is 20 bytes, got {len(raw)}")
    assert isinstance(value, str)
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise fail(name, "invalid EIP-55 checksum")
    return Address(raw)


def hash32(value: object, name: str) -> Hash32:
    raw = data(value, name)
    if len(raw) != 32:
        raise fail(name, f"a hash is 32 bytes, got {len(raw)}")
    return Hash32(raw)


def payload_hash(value: object, name: str) -> PayloadHash:
    raw = data(value, name)
    if len(raw) != 64:
        raise fail(name, f"a privacy manager hash is 64 bytes, got {len(raw)}")
    return PayloadHash(raw)


def boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise fail(name, f"expected a boolean, got {_type_name(value)}")
    return value


def storage_slot(value: object, name: str) -> int:
    """A storage position: a quantity, or 32 bytes of hex with leading zeros (both read as a number)."""
    return quantity(value, name)


def ptm_public_key(value: object, name: str) -> PtmPublicKey:
    """A manager public key: standard base64 of 32 bytes, as Tessera shows it."""
    if not isinstance(value, str):
        raise fail(name, f"expected a base64 public key string, got {_type_name(value)}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise fail(name, "not valid base64") from None
    if len(raw) != 32:
        raise fail(name, f"a public key is 32 bytes, got {len(raw)}")
    return PtmPublicKey(value)


def list_of(parse: Callable[[object, str], T], value: object, name: str) -> tuple[T, ...]:
    if not isinstance(value, list):
        raise fail(name, f"expected an array, got {_type_name(value)}")
    return tuple(parse(item, f"{name}[{i}]") for i, item in enumerate(value))


def obj(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(name, f"expected an object, got {_type_name(value)}")
    return value


# -- block identifiers -----------------------------------------------------------------


def block_number_or_tag(value: object, name: str) -> int | BlockTag:
    """A block number or one of the tags latest/earliest/pending/safe/finalized."""
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value  # type: ignore[return-value]
    if isinstance(value, str) and not value.startswith(("0x", "0X")):
        raise fail(name, f"unknown block tag {value[:32]!r} (want a number or one of "
                         f"{', '.join(sorted(BLOCK_TAGS))})")
    return quantity(value, name, max_value=MAX_BLOCK_NUMBER)


def block_id(value: object, name: str) -> BlockId:
    """A number, a tag, a 32-byte block hash, or an EIP-1898 object
    (`{"blockNumber": ...}` or `{"blockHash": ..., "requireCanonical"?: bool}`)."""
    if isinstance(value, str) and len(value) == 66 and value.startswith(("0x", "0X")):
        return hash32(value, name)
    if isinstance(value, dict):
        if "blockHash" in value and "blockNumber" in value:
            raise fail(name, "give either blockHash or blockNumber, not both")
        if "blockHash" in value:
            if "requireCanonical" in value:
                boolean(value["requireCanonical"], f"{name}.requireCanonical")
            return hash32(value["blockHash"], f"{name}.blockHash")
        if "blockNumber" in value:
            return block_number_or_tag(value["blockNumber"], f"{name}.blockNumber")
        raise fail(name, "a block object needs blockHash or blockNumber")
    return block_number_or_tag(value, name)


# -- transaction requests --------------------------------------------------------------

_TX_FIELDS = frozenset((
    "from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value", "data",
    "input", "nonce", "chainId", "type", "accessList", "privateFor", "privateFrom",
    "privacyFlag", "mandatoryFor", "authorizationList",
))


def access_list(value: object, name: str) -> tuple[tuple[Address, tuple[int, ...]], ...]:
    items = []
    for i, entry in enumerate(list_of(obj, value, name)):
        where = f"{name}[{i}]"
        if "address" not in entry:
            raise fail(f"{where}.address", "missing")
        keys = entry.get("storageKeys", [])
        slots = tuple(int.from_bytes(k, "big") for k in list_of(hash32, keys, f"{where}.storageKeys"))
        items.append((address(entry["address"], f"{where}.address"), slots))
    return tuple(items)


def authorization(value: object, name: str) -> SignedAuthorization:
    """An EIP-7702 tuple as geth reads it: chainId, address, nonce, yParity, r, s (all required)."""
    entry = obj(value, name)
    for key in ("chainId", "address", "nonce", "yParity", "r", "s"):
        if entry.get(key) is None:
            raise fail(f"{name}.{key}", "missing")
    return SignedAuthorization(
        chain_id=quantity(entry["chainId"], f"{name}.chainId"),
        address=address(entry["address"], f"{name}.address"),
        nonce=uint64(entry["nonce"], f"{name}.nonce"),
        y_parity=uint64(entry["yParity"], f"{name}.yParity"),
        r=quantity(entry["r"], f"{name}.r"),
        s=quantity(entry["s"], f"{name}.s"),
    )


def privacy_flag(value: object, name: str) -> PrivacyFlag:
    """GoQuorum's privacyFlag: a JSON number (a hex quantity is accepted too)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise fail(name, f"expected a number, got {_type_name(value)}")
    number = value if isinstance(value, int) else quantity(value, name)
    try:
        return PrivacyFlag.from_wire(number)
    except ValueError:
        raise PrivateTransactionRejected(MSG_INVALID_PRIVACY_FLAG) from None


def check_privacy_metadata(flag: PrivacyFlag, mandatory_for: tuple[PtmPublicKey, ...]) -> None:
    """GoQuorum's order: flag 2 needs mandatory recipients; only flag 2 may have them."""
    if flag is PrivacyFlag.MANDATORY_RECIPIENTS and not mandatory_for:
        raise PrivateTransactionRejected(MSG_MISSING_MANDATORY)
    if flag is not PrivacyFlag.MANDATORY_RECIPIENTS and mandatory_for:
        raise PrivateTransactionRejected(MSG_MANDATORY_WITH_OTHER_FLAG)


def privacy_metadata(fields: dict[str, Any], name: str) -> tuple[PrivacyFlag, tuple[PtmPublicKey, ...]]:
    """`privacyFlag` and `mandatoryFor` of a request, checked in GoQuorum's order."""
    raw_flag = fields.get("privacyFlag")
    flag = PrivacyFlag.STANDARD_PRIVATE if raw_flag is None else privacy_flag(raw_flag, f"{name}.privacyFlag")
    raw_mandatory = fields.get("mandatoryFor")
    mandatory = () if raw_mandatory is None else list_of(ptm_public_key, raw_mandatory,
                                                         f"{name}.mandatoryFor")
    check_privacy_metadata(flag, mandatory)
    return flag, mandatory


def private_args(fields: dict[str, Any], name: str) -> PrivateArgs | None:
    """The private fields of a request object, or None for a public request.

    `privateFor` (even an empty list) makes a request private, as in GoQuorum. The other
    private fields without `privateFor` would silently make a public transaction, so they
    are refused (a `privacyFlag` of 0 is the public default and allowed).
    """
    raw_for = fields.get("privateFor")
    if raw_for is None:
        raw_flag = fields.get("privacyFlag")
        flagged = raw_flag is not None and privacy_flag(raw_flag, f"{name}.privacyFlag") != 0
        if flagged or fields.get("privateFrom") is not None or fields.get("mandatoryFor") is not None:
            raise fail(f"{name}.privateFor", "missing: privateFrom, privacyFlag and mandatoryFor "
                                             "only apply to private transactions")
        return None
    flag, mandatory = privacy_metadata(fields, name)
    raw_from = fields.get("privateFrom")
    private_from = None if raw_from is None else ptm_public_key(raw_from, f"{name}.privateFrom")
    private_for = list_of(ptm_public_key, raw_for, f"{name}.privateFor")
    return PrivateArgs(private_for=private_for, private_from=private_from, privacy_flag=flag,
                       mandatory_for=mandatory)


def _tx_type(value: object, name: str) -> int:
    """A hex quantity, or a JSON number: web3.py's `modify_transaction` copies `type` as an int."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise fail(name, "a transaction type cannot be negative")
        return value
    return quantity(value, name)


def _optional(fields: dict[str, Any], key: str, parse: Callable[[object, str], T], name: str) -> T | None:
    value = fields.get(key)
    return None if value is None else parse(value, f"{name}.{key}")


def tx_request(value: object, name: str, *, require_sender: bool = False) -> TxRequest:
    """A transaction object of eth_call / eth_estimateGas / eth_sendTransaction.

    Unknown keys are ignored (as geth does); `data` and `input` may both be given only
    when equal; the GoQuorum private fields become `TxRequest.private`.
    """
    fields = obj(value, name)
    sender = _optional(fields, "from", address, name)
    if require_sender and sender is None:
        raise fail(f"{name}.from", "missing")
    payload = _optional(fields, "input", data, name)
    other = _optional(fields, "data", data, name)
    if payload is not None and other is not None and payload != other:
        raise fail(name, "both data and input given, with different values")
    payload = payload if payload is not None else (other if other is not None else b"")
    gas_price = _optional(fields, "gasPrice", quantity, name)
    max_fee = _optional(fields, "maxFeePerGas", quantity, name)
    max_priority = _optional(fields, "maxPriorityFeePerGas", quantity, name)
    if gas_price is not None and (max_fee is not None or max_priority is not None):
        raise fail(name, "gasPrice cannot be combined with maxFeePerGas/maxPriorityFeePerGas")
    tx_type = _optional(fields, "type", _tx_type, name)
    if tx_type is not None and tx_type not in (0, 1, 2, 4):
        raise fail(f"{name}.type", f"unsupported transaction type {tx_type:#x} (want 0x0, 0x1, 0x2 or 0x4)")
    raw_auths = fields.get("authorizationList")
    authorizations = () if raw_auths is None else list_of(authorization, raw_auths, f"{name}.authorizationList")
    if tx_type == 4 and not authorizations:
        raise fail(f"{name}.authorizationList", "a type 0x4 transaction needs at least one authorization")
    if authorizations and tx_type not in (None, 4):
        raise fail(f"{name}.type", f"an authorizationList needs type 0x4, not {tx_type:#x}")
    if authorizations and fields.get("to") is None:
        raise fail(f"{name}.to", "missing: a type 0x4 transaction cannot create a contract")
    if authorizations and gas_price is not None:
        raise fail(name, "gasPrice cannot be combined with authorizationList (type 0x4 uses maxFeePerGas)")
    raw_access = fields.get("accessList")
    return TxRequest(
        sender=sender,
        to=_optional(fields, "to", address, name),
        gas=_optional(fields, "gas", uint64, name),
        gas_price=gas_price,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=max_priority,
        value=_optional(fields, "value", quantity, name) or 0,
        data=payload,
        nonce=_optional(fields, "nonce", uint64, name),
        chain_id=_optional(fields, "chainId", uint64, name),
        tx_type=tx_type,
        access_list=() if raw_access is None else access_list(raw_access, f"{name}.accessList"),
        private=private_args(fields, name),
        authorization_list=authorizations,
    )


def _storage_map(value: object, name: str) -> tuple[tuple[int, int], ...]:
    return tuple((int.from_bytes(hash32(slot, f"{name}[{slot}]"), "big"),
                  int.from_bytes(hash32(word, f"{name}[{slot}]"), "big")) for slot, word in obj(value, name).items())


def state_overrides(value: object, name: str) -> dict[Address, AccountOverride]:
    """geth's state overrides (third parameter of eth_call, eth_estimateGas, eth_createAccessList):
    per address `balance`, `nonce`, `code`, `state` (all storage) or `stateDiff` (some slots).

    Unknown keys are ignored, as geth does; the conflicts geth refuses are checked where the
    overrides are applied (`chain/calls.py`), with its -32000 wording.
    """
    overrides: dict[Address, AccountOverride] = {}
    for key, entry in obj(value, name).items():
        where = f"{name}[{key}]"
        fields = obj(entry, where)
        if fields.get("movePrecompileToAddress") is not None:
            raise fail(f"{where}.movePrecompileToAddress", "not supported")
        overrides[address(key, where)] = AccountOverride(
            balance=_optional(fields, "balance", quantity, where),
            nonce=_optional(fields, "nonce", uint64, where),
            code=_optional(fields, "code", data, where),
            state=_optional(fields, "state", _storage_map, where),
            state_diff=_optional(fields, "stateDiff", _storage_map, where),
        )
    return overrides


# -- eth_simulateV1 --------------------------------------------------------------------

_UNSUPPORTED_BLOCK_OVERRIDES = ("difficulty", "blobBaseFee", "beaconRoot")


def block_overrides(value: object, name: str) -> BlockOverrides:
    """geth's simulated-block overrides: number, time, gasLimit, feeRecipient, prevRandao,
    baseFeePerGas. Those this chain has no use for (blobs, beacon root, withdrawals) are refused."""
    fields = obj(value, name)
    for key in _UNSUPPORTED_BLOCK_OVERRIDES:
        if fields.get(key) is not None:
            raise fail(f"{name}.{key}", "not supported")
    if fields.get("withdrawals"):
        raise fail(f"{name}.withdrawals", "not supported (this chain has no withdrawals)")
    return BlockOverrides(
        number=_optional(fields, "number", lambda v, n: quantity(v, n, max_value=MAX_BLOCK_NUMBER), name),
        time=_optional(fields, "time", uint64, name),
        gas_limit=_optional(fields, "gasLimit", uint64, name),
        fee_recipient=_optional(fields, "feeRecipient", address, name),
        prev_randao=_optional(fields, "prevRandao", hash32, name),
        base_fee_per_gas=_optional(fields, "baseFeePerGas", quantity, name),
    )


def _simulated_call(value: object, name: str) -> TxRequest:
    request = tx_request(value, name)
    if request.private is not None:
        raise fail(f"{name}.privateFor", "private transactions cannot be simulated (public state only)")
    if request.authorization_list:
        raise fail(f"{name}.authorizationList", "not supported by eth_simulateV1")
    return request


def _simulated_block(value: object, name: str) -> SimulatedBlockRequest:
    fields = obj(value, name)
    raw_calls = fields.get("calls")
    return SimulatedBlockRequest(
        block_overrides=_optional(fields, "blockOverrides", block_overrides, name),
        state_overrides=_optional(fields, "stateOverrides", state_overrides, name),
        calls=() if raw_calls is None else list_of(_simulated_call, raw_calls, f"{name}.calls"),
    )


def simulate_options(value: object, name: str) -> SimulateOptions:
    """geth's simOpts: `blockStateCalls` (checked for size by the simulator) and three flags."""
    fields = obj(value, name)
    raw_blocks = fields.get("blockStateCalls")
    return SimulateOptions(
        blocks=() if raw_blocks is None else list_of(_simulated_block, raw_blocks, f"{name}.blockStateCalls"),
        trace_transfers=_optional(fields, "traceTransfers", boolean, name) or False,
        validation=_optional(fields, "validation", boolean, name) or False,
        return_full_transactions=_optional(fields, "returnFullTransactions", boolean, name) or False,
    )


# -- logs ------------------------------------------------------------------------------


def topic_filter(value: object, name: str) -> tuple[tuple[Hash32, ...] | None, ...]:
    """Up to four positions; each null (any), a hash, or a list of hashes (any of them)."""
    if not isinstance(value, list):
        raise fail(name, f"expected an array, got {_type_name(value)}")
    if len(value) > 4:
        raise fail(name, f"at most 4 topic positions, got {len(value)}")
    positions: list[tuple[Hash32, ...] | None] = []
    for i, entry in enumerate(value):
        where = f"{name}[{i}]"
        if entry is None:
            positions.append(None)
        elif isinstance(entry, list):
            alternatives = list_of(hash32, entry, where)
            positions.append(alternatives or None)
        else:
            positions.append((hash32(entry, where),))
    return tuple(positions)


def address_filter(value: object, name: str) -> tuple[Address, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return list_of(address, value, name)
    return (address(value, name),)


@dataclass(frozen=True)
class LogQuery:
    """An `eth_getLogs` / `eth_newFilter` object; tags are resolved when the query runs."""

    from_block: int | BlockTag = "latest"
    to_block: int | BlockTag = "latest"
    addresses: tuple[Address, ...] = ()
    topics: tuple[tuple[Hash32, ...] | None, ...] = ()
    block_hash: Hash32 | None = None


def log_query(value: object, name: str) -> LogQuery:
    fields = obj(value, name)
    block_hash = _optional(fields, "blockHash", hash32, name)
    from_block = _optional(fields, "fromBlock", block_number_or_tag, name)
    to_block = _optional(fields, "toBlock", block_number_or_tag, name)
    if block_hash is not None and (from_block is not None or to_block is not None):
        raise fail(name, "blockHash cannot be combined with fromBlock/toBlock")
    if isinstance(from_block, int) and isinstance(to_block, int) and from_block > to_block:
        raise fail(name, f"fromBlock {from_block:#x} is after toBlock {to_block:#x}")
    raw_topics = fields.get("topics")
    return LogQuery(
        from_block="latest" if from_block is None else from_block,
        to_block="latest" if to_block is None else to_block,
        addresses=address_filter(fields.get("address"), f"{name}.address"),
        topics=() if raw_topics is None else topic_filter(raw_topics, f"{name}.topics"),
        block_hash=block_hash,
    )
