"""Divergence detection routes (PROTOCOL.md §12; `tessera_like/commitments.py` does the work).

Q2T (the node → its manager):
- `POST /commitments` `{commitments: [{blockNumber, blockHash, contract, storageRoot,
  payloadHashes: [b64]}]}` → 200 `{stored, unknownPayloads: [b64]}` once stored (durable;
  `stored` counts one per (block, contract, own key that is a party of a payload named)).
- `GET /commitments/divergences?fromBlock=N` → 200 `{divergences: [{blockNumber, blockHash,
  contract, sides: [{storageRoot, parties: [b64]}], ownParties: [b64], detectedAt, updatedAt}]}`.

P2P (a party's manager → another party's): `POST /commitments` with one MAC'd commitment
→ 200 `{stored: true|false}` (false: that author's commitment for that block and contract is
already stored, e.g. a replay); 403 unless it is provably from a party of every payload it
names to a party of it held here; 400 when malformed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tessera_like.api.common import ERROR_RESPONSES, json_body, json_response, read_json
from tessera_like.api.p2p import member
from tessera_like.commitment_wire import (
    NodeCommitmentsRequest,
    PeerCommitmentDocument,
    decode_node_commitments,
    decode_peer_commitment,
    encode_hex,
)
from tessera_like.commitments import CommitmentService, Divergence
from tessera_like.errors import InvalidRequest, PTMError
from tessera_like.identity import PeerIdentity
from tessera_like.wire import encode_b64


class CommitmentsUnavailable(PTMError):
    """Raised when an app was built without a commitment service (404: not served)."""

    http_status = 404


async def get_commitments(request: Request) -> CommitmentService:
    service: CommitmentService | None = getattr(request.app.state, "commitments", None)
    if service is None:
        raise CommitmentsUnavailable("state commitments are not served by this manager")
    return service


def divergence_json(d: Divergence) -> dict[str, Any]:
    return {
        "blockNumber": d.block_number,
        "blockHash": encode_hex(d.block_hash),
        "contract": encode_hex(d.contract),
        "sides": [{"storageRoot": encode_hex(s.storage_root), "parties": list(s.parties)} for s in d.sides],
        "ownParties": list(d.own_parties),
        "detectedAt": d.detected_at,
        "updatedAt": d.updated_at,
    }


def build_commitments_q2t_router() -> APIRouter:
    router = APIRouter()

    @router.post("/commitments", openapi_extra=json_body(NodeCommitmentsRequest),
                 summary="Extension: this node's private storage roots after a block (divergence detection)",
                 responses=ERROR_RESPONSES)
    async def submit(request: Request, service: CommitmentService = Depends(get_commitments)) -> Response:
        body: NodeCommitmentsRequest = await read_json(request, NodeCommitmentsRequest)
        result = await run_in_threadpool(service.submit_own, decode_node_commitments(body))
        return json_response({"stored": result.stored,
                              "unknownPayloads": [encode_b64(h) for h in result.unknown_payloads]})

    @router.get("/commitments/divergences", summary="Extension: private state divergences detected here",
                responses=ERROR_RESPONSES)
    async def divergences(service: CommitmentService = Depends(get_commitments),
                          from_block: str = Query(default="0", alias="fromBlock")) -> Response:
        if not from_block.isdigit() or int(from_block) >= 2**63:
            raise InvalidRequest("fromBlock must be a block number (a non-negative decimal integer)")
        found = await run_in_threadpool(service.divergences, int(from_block))
        return json_response({"divergences": [divergence_json(d) for d in found]})

    return router


def build_commitments_p2p_router() -> APIRouter:
    router = APIRouter()

    @router.post("/commitments", openapi_extra=json_body(PeerCommitmentDocument),
                 summary="A party's state commitment for a payload this manager is party to",
                 responses=ERROR_RESPONSES)
    async def receive(request: Request, service: CommitmentService = Depends(get_commitments),
                      caller: PeerIdentity = Depends(member)) -> Response:
        document: PeerCommitmentDocument = await read_json(request, PeerCommitmentDocument)
        statement, mac = decode_peer_commitment(document)
        stored = await run_in_threadpool(service.receive_peer, statement, mac, caller)
        return json_response({"stored": stored})

    return router


__all__ = ["build_commitments_p2p_router", "build_commitments_q2t_router", "divergence_json", "get_commitments"]
