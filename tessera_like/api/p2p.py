"""P2P API: what other managers ask of this one (PROTOCOL.md §5, §10).

Served on its own port (optionally TLS), never on the Q2T address. Only members may call
`/partyinfo`, `/push`, `/resend` and `/resend/page` (`/upcheck` stays open): with mutual TLS the handshake
already required a certificate from the network's CA; with the allow-list on, the caller
(`api/peer_identity.py`) must also be a listed manager or this one, else 403. What a member
may push or be resent is decided by the peer network (`PeerNetwork.authorize_*`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from tessera_like.api.common import (
    ERROR_RESPONSES,
    OCTET,
    get_manager,
    json_body,
    json_response,
    octet_body,
    read_json,
    require_media_type,
)
from tessera_like.api.peer_identity import peer_identity
from tessera_like.errors import InvalidRequest, PeerNotAllowed
from tessera_like.identity import PeerIdentity
from tessera_like.manager import TransactionManager
from tessera_like.peers import PeerNetwork
from tessera_like.wire import (
    ErrorResponse,
    PartyInfoDocument,
    ResendPageRequest,
    ResendPageResponse,
    ResendRequest,
    decode_hash,
    decode_party_info,
    decode_public_key,
    encode_b64,
    encode_party_info,
)


async def get_network(request: Request) -> PeerNetwork:
    network: PeerNetwork = request.app.state.network
    return network


async def member(request: Request, network: PeerNetwork = Depends(get_network)) -> PeerIdentity:
    """The caller, once admitted as a member (403 otherwise)."""
    return await admitted_member(network, peer_identity(request))


async def admitted_member(network: PeerNetwork, caller: PeerIdentity) -> PeerIdentity:
    """`caller` when the allow-list admits it (raises PeerNotAllowed: 403)."""
    if network.party.allow_list is not None:
        # A certified caller is matched by its certificate's URLs, plain string comparisons: on the
        # loop (a thread hand-off per request cost more than the check). Matching an address against
        # listed host names may resolve them: off the event loop.
        admitted = network.admits(caller) if caller.urls else await run_in_threadpool(network.admits, caller)
        if not admitted:
            raise PeerNotAllowed(f"the caller ({caller}) is not on this manager's peer allow-list")
    return caller


def build_p2p_router() -> APIRouter:
    router = APIRouter()

    @router.get("/upcheck", response_class=PlainTextResponse, summary="Liveness: 200 \"I'm up!\"")
    async def upcheck() -> PlainTextResponse:
        return PlainTextResponse("I'm up!")

    @router.get("/partyinfo", summary="This manager's view: {url, keys: [{key, url}], peers: [{url}]}",
                responses={200: {"model": PartyInfoDocument}}, dependencies=[Depends(member)])
    def get_partyinfo(network: PeerNetwork = Depends(get_network)) -> Response:
        return json_response(encode_party_info(network.party.view()))

    @router.post("/partyinfo", openapi_extra=json_body(PartyInfoDocument),
                 summary="Exchange party info: send yours, get ours (with ownership proofs)",
                 responses={200: {"model": PartyInfoDocument}, **ERROR_RESPONSES})
    async def post_partyinfo(request: Request, network: PeerNetwork = Depends(get_network),
                             caller: PeerIdentity = Depends(member)) -> Response:
        document: PartyInfoDocument = await read_json(request, PartyInfoDocument)
        answer = await run_in_threadpool(network.answer_partyinfo, decode_party_info(document), caller)
        return json_response(encode_party_info(answer))

    @router.post("/push", status_code=201, response_class=PlainTextResponse,
                 openapi_extra=octet_body("an encoded payload (see docs/manager-api.md)"),
                 summary="Store a payload distributed to a key held here; 201 text key",
                 responses={403: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, **ERROR_RESPONSES})
    async def push(request: Request, manager: TransactionManager = Depends(get_manager),
                   caller: PeerIdentity = Depends(member)) -> PlainTextResponse:
        require_media_type(request, OCTET)
        tx_hash = await run_in_threadpool(manager.push, await request.body(), caller)
        return PlainTextResponse(encode_b64(tx_hash), status_code=201)

    @router.post("/resend", openapi_extra=json_body(ResendRequest),
                 summary="ALL: push every payload the key can open to its verified owner; INDIVIDUAL: return "
                         "one, to that owner only",
                 responses={200: {"content": {OCTET: {}}, "description": "INDIVIDUAL: the encoded payload"},
                            **ERROR_RESPONSES})
    async def resend(request: Request, manager: TransactionManager = Depends(get_manager),
                     caller: PeerIdentity = Depends(member)) -> Response:
        body: ResendRequest = await read_json(request, ResendRequest)
        key = decode_public_key(body.public_key, "publicKey")
        if body.type == "ALL":
            await run_in_threadpool(manager.resend_all, key)
            return Response(status_code=200)
        if not body.key:
            raise InvalidRequest("key is required for an INDIVIDUAL resend")
        tx_hash = decode_hash(body.key, "key")
        encoded = await run_in_threadpool(manager.resend_individual, key, tx_hash, caller)
        return Response(encoded, media_type=OCTET)

    @router.post("/resend/page", openapi_extra=json_body(ResendPageRequest),
                 summary="Paged recovery: one page of the payloads the key can open, to its verified owner only",
                 responses={200: {"model": ResendPageResponse}, 403: {"model": ErrorResponse}, **ERROR_RESPONSES})
    async def resend_page(request: Request, manager: TransactionManager = Depends(get_manager),
                          caller: PeerIdentity = Depends(member)) -> Response:
        body: ResendPageRequest = await read_json(request, ResendPageRequest)
        key = decode_public_key(body.public_key, "publicKey")
        after = decode_hash(body.after, "after") if body.after else None
        page = await run_in_threadpool(manager.resend_page, key, after, body.limit, caller)
        return json_response({"payloads": [encode_b64(p) for p in page.payloads],
                              "next": encode_b64(page.next) if page.next is not None else None})

    return router


__all__ = ["admitted_member", "build_p2p_router", "get_network", "member"]
