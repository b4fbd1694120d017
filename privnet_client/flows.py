"""What each `w3.privnet` method does, written once for sync and async web3.

A flow is a generator: it yields the steps it needs (a JSON-RPC request, a receipt look-up, a
pause) and gets each step's result back; the sync module runs the steps with blocking calls,
the async module awaits them (module.py). Errors of a step are thrown into the flow already
translated to the typed errors of errors.py.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import TimeExhausted

from privnet_client import marker as mk
from privnet_client.errors import NotAParty, PrivateTransactionRejected

T = TypeVar("T")

POLL_S = 0.1
PRIVATE_FIELDS = ("privateFor", "privateFrom", "privacyFlag", "mandatoryFor")
_QUANTITIES = frozenset({"gas", "gasPrice", "value", "nonce", "maxFeePerGas", "maxPriorityFeePerGas", "chainId",
                         "type"})


@dataclass(frozen=True)
class Request:
    """A JSON-RPC request to `w3` (None: the module's own), answered with the raw result."""

    method: str
    params: list[Any]
    w3: Any = None


@dataclass(frozen=True)
class Receipt:
    """web3.py's formatted receipt from `w3` (None: the module's own), or None while there is none."""

    tx_hash: HexBytes
    w3: Any = None


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Request | Receipt | Sleep
Flow = Generator[Step, Any, T]


def describe(w3: Any) -> str:
    """A node's name in messages: its endpoint where the provider has one."""
    provider = getattr(w3, "provider", None)
    return str(getattr(provider, "endpoint_uri", None) or provider or w3)


def private_fields(private_for: Sequence[str], private_from: str | None, privacy_flag: int,
                   mandatory_for: Sequence[str] | None) -> dict[str, Any]:
    """The GoQuorum fields of a private request (only those given: an empty `mandatoryFor` is not absent)."""
    if isinstance(private_for, str) or not all(isinstance(k, str) for k in private_for):
        raise TypeError("private_for must be a list of base64 public keys, not a single string")
    fields: dict[str, Any] = {"privateFor": list(private_for), "privacyFlag": int(privacy_flag)}
    if private_from is not None:
        fields["privateFrom"] = private_from
    if mandatory_for is not None:
        if isinstance(mandatory_for, str):
            raise TypeError("mandatory_for must be a list of base64 public keys, not a single string")
        fields["mandatoryFor"] = list(mandatory_for)
    return fields


def rpc_transaction(tx: Mapping[str, Any]) -> dict[str, Any]:
    """A web3.py-style transaction dict as the node reads it: hex quantities and data, checksummed addresses."""
    given = [k for k in PRIVATE_FIELDS if k in tx]
    if given:
        raise ValueError(f"pass {', '.join(given)} as keyword arguments (private_for=..., privacy_flag=...), "
                         "not in the transaction")
    out: dict[str, Any] = {}
    for key, value in tx.items():
        if key in ("from", "to"):
            if value is not None:
                out[key] = to_checksum_address(value)
        elif key in _QUANTITIES and isinstance(value, int):
            out[key] = hex(value)
        elif key in ("data", "input") and isinstance(value, bytes | bytearray):
            out[key] = "0x" + bytes(value).hex()
        else:
            out[key] = value
    return out


def _sender(wire: dict[str, Any], default_account: str | None) -> Flow[str]:
    """`from`, else the web3 default account, else the node's first unlocked account."""
    if wire.get("from"):
        return str(wire["from"])
    if default_account:
        return to_checksum_address(default_account)
    accounts = yield Request("eth_accounts", [])
    if not accounts:
        raise ValueError("the transaction has no `from`, web3 has no default_account and the node no accounts")
    return to_checksum_address(accounts[0])


def send_private(tx: Mapping[str, Any], private: dict[str, Any], account: Any = None,
                 default_account: str | None = None) -> Flow[HexBytes]:
    """Through the node's unlocked account (`eth_sendTransaction`), or signed here with `account`."""
    wire = rpc_transaction(tx)
    if account is None:
        wire["from"] = yield from _sender(wire, default_account)
        result = yield Request("eth_sendTransaction", [{**wire, **private}])
        return HexBytes(result)
    sender = to_checksum_address(account.address)
    if wire.get("from") and wire["from"] != sender:
        raise ValueError(f"tx['from'] {wire['from']} is not the signing account {sender}")
    wire["from"] = sender
    if "nonce" not in wire:
        wire["nonce"] = yield Request("eth_getTransactionCount", [sender, "pending"])
    filled = yield Request("eth_fillTransaction", [{**wire, **private}])
    unsigned = mk.decode_unsigned(bytes(HexBytes(filled["raw"])))
    mk.check_matches(unsigned, nonce=int(wire["nonce"], 16), to=wire.get("to"))
    raw = mk.sign(unsigned, bytes(account.key))
    send_args = {k: private[k] for k in ("privateFor", "privacyFlag", "mandatoryFor") if k in private}
    result = yield Request("eth_sendRawPrivateTransaction", ["0x" + raw.hex(), send_args])
    return HexBytes(result)


def _wait_receipt(tx_hash: HexBytes, w3: Any, deadline: float, timeout: float) -> Flow[Any]:
    while True:
        receipt = yield Receipt(tx_hash, w3)
        if receipt is not None:
            return receipt
        if time.monotonic() >= deadline:
            where = "this node" if w3 is None else describe(w3)
            raise TimeExhausted(f"transaction {tx_hash.to_0x_hex()} has no receipt on {where} "
                                f"after {timeout} seconds")
        yield Sleep(POLL_S)


def _payload_hash(tx_hash: HexBytes) -> Flow[bytes | None]:
    """The manager hash a private marker carries (its data), or None for another transaction."""
    tx = yield Request("eth_getTransactionByHash", [tx_hash.to_0x_hex()])
    data = HexBytes((tx or {}).get("input") or "0x")
    return bytes(data) if len(data) == mk.PAYLOAD_HASH_BYTES else None


def wait_for_private_receipt(tx_hash: HexBytes, parties: Sequence[Any] | None, timeout: float) -> Flow[Any]:
    """This node's receipt, once every party's node has one with the same status.

    For a private marker, a node named as a party whose manager cannot give it the payload
    (every node has the marker's receipt, parties or not) is not a party: NotAParty."""
    deadline = time.monotonic() + timeout
    own = yield from _wait_receipt(tx_hash, None, deadline, timeout)
    payload_hash = (yield from _payload_hash(tx_hash)) if own.get("isPrivate") and parties else None
    for party in parties or ():
        theirs = yield from _wait_receipt(tx_hash, party, deadline, timeout)
        if payload_hash is not None:
            payload = yield Request("eth_getQuorumPayload", ["0x" + payload_hash.hex()], party)
            if not HexBytes(payload):
                raise NotAParty(f"{describe(party)} has transaction {tx_hash.to_0x_hex()} but not its private "
                                "payload: it is not a party", data=tx_hash.to_0x_hex())
        if theirs["status"] != own["status"]:
            raise PrivateTransactionRejected(
                f"transaction {tx_hash.to_0x_hex()} has status {own['status']} here and {theirs['status']} on "
                f"{describe(party)}", data=tx_hash.to_0x_hex())
    return own


def deploy_private(tx: Mapping[str, Any], private: dict[str, Any], account: Any, default_account: str | None,
                   timeout: float) -> Flow[tuple[HexBytes, str]]:
    """Send a private creation, wait for its receipt on the sender's node: (tx hash, contract address)."""
    if tx.get("to"):
        raise ValueError("a deployment has no `to`")
    tx_hash = yield from send_private(tx, private, account, default_account)
    receipt = yield from _wait_receipt(tx_hash, None, time.monotonic() + timeout, timeout)
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise PrivateTransactionRejected(f"private deployment {tx_hash.to_0x_hex()} failed on the sender's node "
                                         f"(status {receipt['status']})", data=tx_hash.to_0x_hex())
    return tx_hash, to_checksum_address(receipt["contractAddress"])


def get_quorum_payload(payload_hash: bytes | str) -> Flow[HexBytes]:
    """The decrypted payload; empty on a node that is not a party (the node's and GoQuorum's answer)."""
    result = yield Request("eth_getQuorumPayload", [HexBytes(payload_hash).to_0x_hex()])
    return HexBytes(result)


def contract_privacy_metadata(address: str) -> Flow[dict[str, Any]]:
    """`{creationTxHash, privacyFlag, mandatoryFor?}`; NotAParty where this node holds no such private contract."""
    result = yield Request("eth_getContractPrivacyMetadata", [to_checksum_address(address)])
    return dict(result)
