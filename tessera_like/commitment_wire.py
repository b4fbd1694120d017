"""Wire forms of state commitments and divergences (JSON), and their domain values.

Used by the API routers (`api/commitments.py`) and by the service when it delivers a
commitment to a peer. Ethereum values (block hash, contract address, storage root) are
`0x` hex as a node writes them; manager values (keys, payload hashes, the MAC) are standard
base64 as everywhere else in the manager's API. Every decoding failure is an InvalidRequest
naming the field (400).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from tessera_like.crypto.commitment import (
    ADDRESS_SIZE,
    BLOCK_HASH_SIZE,
    MAC_SIZE,
    MAX_PARTIES,
    MAX_PAYLOADS,
    ROOT_SIZE,
    CommitmentStatement,
)
from tessera_like.errors import InvalidRequest
from tessera_like.types import PayloadHash, PublicKey
from tessera_like.wire import decode_b64, decode_hash, decode_key_list, decode_public_key, encode_b64

MAX_COMMITMENTS = 1000


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class NodeCommitmentDocument(_Wire):
    block_number: StrictInt = Field(alias="blockNumber", ge=0, lt=2**64)
    block_hash: str = Field(alias="blockHash", description="0x + 32 bytes hex")
    contract: str = Field(description="0x + 20 bytes hex")
    storage_root: str = Field(alias="storageRoot", description="0x + 32 bytes hex")
    payload_hashes: list[str] = Field(alias="payloadHashes", min_length=1, max_length=MAX_PAYLOADS,
                                      description="the payloads (base64) whose execution in the block touched it")


class NodeCommitmentsRequest(_Wire):
    """Q2T `POST /commitments`: the node's roots after a block."""

    commitments: list[NodeCommitmentDocument] = Field(max_length=MAX_COMMITMENTS)


class PeerCommitmentDocument(_Wire):
    """P2P `POST /commitments`: one party's commitment, for one other party."""

    author: str
    recipient: str
    block_number: StrictInt = Field(alias="blockNumber", ge=0, lt=2**64)
    block_hash: str = Field(alias="blockHash")
    contract: str
    storage_root: str = Field(alias="storageRoot")
    payload_hashes: list[str] = Field(alias="payloadHashes", min_length=1, max_length=MAX_PAYLOADS,
                                      description="payloads (base64) both keys are parties of; normally one")
    parties: list[str] = Field(default_factory=list, max_length=MAX_PARTIES,
                               description="the named payloads' parties, when the author is their sender")
    mac: str


@dataclass(frozen=True, slots=True)
class NodeCommitment:
    """What a node commits to: a contract's storage root after a block, and the payloads that touched it."""

    block_number: int
    block_hash: bytes
    contract: bytes
    storage_root: bytes
    payload_hashes: tuple[PayloadHash, ...]


def decode_hex(value: str, what: str, size: int) -> bytes:
    """`0x` + hex of exactly `size` bytes; InvalidRequest naming `what` otherwise."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidRequest(f"{what} must be 0x-prefixed hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidRequest(f"{what} is not valid hex") from None
    if len(raw) != size:
        raise InvalidRequest(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def encode_hex(value: bytes) -> str:
    return "0x" + value.hex()


def decode_node_commitments(request: NodeCommitmentsRequest) -> list[NodeCommitment]:
    out = []
    for i, c in enumerate(request.commitments):
        where = f"commitments[{i}]"
        out.append(NodeCommitment(
            c.block_number, decode_hex(c.block_hash, f"{where}.blockHash", BLOCK_HASH_SIZE),
            decode_hex(c.contract, f"{where}.contract", ADDRESS_SIZE),
            decode_hex(c.storage_root, f"{where}.storageRoot", ROOT_SIZE),
            tuple(decode_hash(h, f"{where}.payloadHashes[{j}]") for j, h in enumerate(c.payload_hashes))))
    return out


def decode_peer_commitment(document: PeerCommitmentDocument) -> tuple[CommitmentStatement, bytes]:
    """The statement and its MAC; InvalidRequest naming the first malformed field."""
    mac = decode_b64(document.mac, "mac")
    if len(mac) != MAC_SIZE:
        raise InvalidRequest(f"mac must decode to {MAC_SIZE} bytes, got {len(mac)}")
    statement = CommitmentStatement(
        author=decode_public_key(document.author, "author"),
        recipient=decode_public_key(document.recipient, "recipient"),
        block_number=document.block_number,
        block_hash=decode_hex(document.block_hash, "blockHash", BLOCK_HASH_SIZE),
        contract=decode_hex(document.contract, "contract", ADDRESS_SIZE),
        storage_root=decode_hex(document.storage_root, "storageRoot", ROOT_SIZE),
        payload_hashes=tuple(decode_hash(h, f"payloadHashes[{i}]") for i, h in enumerate(document.payload_hashes)),
        parties=decode_key_list(document.parties, "parties"),
    )
    return statement, mac


def encode_peer_commitment(statement: CommitmentStatement, mac: bytes) -> dict[str, Any]:
    return {
        "author": encode_b64(statement.author),
        "recipient": encode_b64(statement.recipient),
        "blockNumber": statement.block_number,
        "blockHash": encode_hex(statement.block_hash),
        "contract": encode_hex(statement.contract),
        "storageRoot": encode_hex(statement.storage_root),
        "payloadHashes": [encode_b64(h) for h in statement.payload_hashes],
        "parties": [encode_b64(k) for k in statement.parties],
        "mac": encode_b64(mac),
    }


def encode_sides(sides: list[tuple[bytes, list[PublicKey]]]) -> str:
    """The stored (and compared) JSON form of a divergence's sides: canonical, sorted."""
    document = sorted(({"storageRoot": encode_hex(root), "parties": sorted(encode_b64(k) for k in parties)}
                       for root, parties in sides), key=lambda s: (s["parties"], s["storageRoot"]))
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


__all__ = ["MAX_COMMITMENTS", "NodeCommitment", "NodeCommitmentDocument", "NodeCommitmentsRequest",
           "PeerCommitmentDocument", "decode_hex", "decode_node_commitments", "decode_peer_commitment",
           "encode_hex", "encode_peer_commitment", "encode_sides"]
