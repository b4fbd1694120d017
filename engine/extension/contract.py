"""Calls to, and events of, the embedded management contract (solidity/extension/ContractExtender.sol)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import keccak

from engine.extension.artifact import INIT_CODE, RUNTIME_CODE

RUNTIME_CODE_HASH = keccak(RUNTIME_CODE)

FUNCTIONS = (
    "creator()", "recipient()", "targetRecipientPTMKey()", "creatorPTMKey()", "parties()", "contractToExtend()",
    "checkIfVoted()", "checkIfExtensionFinished()", "doVote(bool,string)", "setSharedStateHash(string)",
    "finish()",
)

NEW_EXTENSION = "NewContractExtensionContractCreated(address,string,address)"
CAN_SHARE = "CanPerformStateShare()"
FINISHED = "ExtensionFinished()"
STATE_SHARED = "StateShared(address,string,string)"
TOPICS = {signature: keccak(text=signature) for signature in (NEW_EXTENSION, CAN_SHARE, FINISHED, STATE_SHARED)}
TOPIC_INTS = {int.from_bytes(topic, "big"): signature for signature, topic in TOPICS.items()}


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def deployment(to_extend: bytes, recipient: bytes, recipient_key: str, creator_key: str, parties: list[str]) -> bytes:
    """Init code with constructor arguments."""
    return INIT_CODE + encode(["address", "address", "string", "string", "string"],
                              [to_extend, recipient, recipient_key, creator_key, ",".join(parties)])


def do_vote(vote: bool, uuid: str) -> bytes:
    return selector("doVote(bool,string)") + encode(["bool", "string"], [vote, uuid])


def set_shared_state_hash(payload_hash_b64: str) -> bytes:
    return selector("setSharedStateHash(string)") + encode(["string"], [payload_hash_b64])


def finish() -> bytes:
    return selector("finish()")


def decode_one(kind: str, returned: bytes) -> object:
    return decode([kind], returned)[0]


@dataclass(frozen=True)
class NewExtension:
    to_extend: bytes
    recipient_key: str
    recipient: bytes


@dataclass(frozen=True)
class StateShared:
    to_extend: bytes
    payload_hash_b64: str
    uuid: str


def decode_new_extension(data: bytes) -> NewExtension:
    to_extend, key, recipient = decode(["address", "string", "address"], data)
    return NewExtension(bytes.fromhex(to_extend[2:]), key, bytes.fromhex(recipient[2:]))


def decode_state_shared(data: bytes) -> StateShared:
    to_extend, payload_hash, uuid = decode(["address", "string", "string"], data)
    return StateShared(bytes.fromhex(to_extend[2:]), payload_hash, uuid)
