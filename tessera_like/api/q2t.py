"""Q2T API: what the node asks of its own manager (PROTOCOL.md §4, §9, §10).

Paths, fields and status codes are Tessera's so GoQuorum-style clients work unchanged.
Bodies are read by the routers themselves (after the size-limit middleware), so that a
wrong Content-Type is a 415 and malformed JSON a 400 with our error shape; the request
models still document every body in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from tessera_like import API_VERSIONS, __version__
from tessera_like.api.common import (
    ERROR_RESPONSES,
    JSON,
    OCTET,
    get_manager,
    json_body,
    json_response,
    media_type,
    octet_body,
    read_json,
    require_media_type,
)
from tessera_like.errors import InvalidRequest, TransactionNotFound
from tessera_like.manager import TransactionManager
from tessera_like.recovery import DEFAULT_PAGE_SIZE, recover_from_peers
from tessera_like.types import PublicKey, ReceivedTransaction
from tessera_like.wire import (
    EncodedPayloadDocument,
    ErrorResponse,
    KeyResponse,
    KeysResponse,
    PayloadResponse,
    ReceiveBatchRequest,
    ReceiveRequest,
    ReceiveResponse,
    RecoverRequest,
    SendRequest,
    SendSignedRequest,
    StoreRawRequest,
    decode_b64,
    decode_hash,
    decode_key_header,
    decode_key_list,
    decode_payload_document,
    decode_public_key,
    encode_b64,
    encode_payload_document,
    inline_schema,
    privacy_metadata,
    query_key,
)


def transaction_location(key: str) -> str:
    return f"/transaction/{quote(key, safe='')}"


def received_json(received: ReceivedTransaction) -> dict[str, Any]:
    document: dict[str, Any] = {
        "payload": encode_b64(received.payload),
        "privacyFlag": int(received.privacy_mode),
        "affectedContractTransactions": [encode_b64(h) for h in received.affected_contract_transactions],
        "execHash": encode_b64(received.exec_hash),
        "mandatoryRecipients": [encode_b64(k) for k in received.mandatory_recipients],
        "senderKey": encode_b64(received.sender_key),
        "managedParties": [encode_b64(k) for k in received.managed_parties],
    }
    if received.privacy_group_id is not None:
        document["privacyGroupId"] = encode_b64(received.privacy_group_id)
    return document


def send_request(manager: TransactionManager, body: SendRequest) -> str:
    """POST /send's work (blocking: encrypt, push to every recipient, store); the new key, base64."""
    payload = decode_b64(body.payload, "payload")
    sender = decode_public_key(body.from_, "from") if body.from_ else None
    recipients = decode_key_list(body.to, "to")
    return encode_b64(manager.send(payload, sender, recipients, privacy_metadata(body)))


def _to_key(to: str | None) -> PublicKey | None:
    if not to:
        return None
    return decode_public_key(query_key(to), "to")


def build_q2t_router() -> APIRouter:
    router = APIRouter()

    @router.get("/upcheck", response_class=PlainTextResponse, summary="Liveness: 200 \"I'm up!\"")
    async def upcheck() -> PlainTextResponse:
        return PlainTextResponse("I'm up!")

    @router.get("/version", response_class=PlainTextResponse, summary="Manager version (text)")
    async def version() -> PlainTextResponse:
        return PlainTextResponse(__version__)

    @router.get("/version/api", summary="API versions this manager speaks (JSON list)",
                responses={200: {"content": {JSON: {"example": list(API_VERSIONS)}}}})
    async def api_versions() -> Response:
        return json_response(list(API_VERSIONS))

    @router.post("/send", status_code=201, openapi_extra=json_body(SendRequest),
                 summary="Encrypt, distribute and store a payload; 201 {key} + Location",
                 responses={201: {"model": KeyResponse}, 403: {"model": ErrorResponse}, **ERROR_RESPONSES})
    async def send(request: Request, manager: TransactionManager = Depends(get_manager)) -> Response:
        body: SendRequest = await read_json(request, SendRequest)
        key = await run_in_threadpool(send_request, manager, body)
        return json_response({"key": key}, 201, {"Location": transaction_location(key)})

    @router.post("/sendraw", response_class=PlainTextResponse, openapi_extra=octet_body("the payload"),
                 summary="Send an octet-stream payload (headers c11n-from, c11n-to); 200 text key",
                 responses=ERROR_RESPONSES)
    async def send_raw(request: Request, manager: TransactionManager = Depends(get_manager),
                       c11n_from: str | None = Header(default=None, alias="c11n-from"),
                       c11n_to: str | None = Header(default=None, alias="c11n-to")) -> PlainTextResponse:
        require_media_type(request, OCTET)
        payload = await request.body()
        if not payload:  # Tessera: `@NotNull @Size(min = 1) byte[] payload`, a 400
            raise InvalidRequest("the request body (the payload) is empty")
        sender = decode_public_key(c11n_from.strip(), "c11n-from") if c11n_from and c11n_from.strip() else None
        recipients = decode_key_header(c11n_to, "c11n-to")
        key = await run_in_threadpool(manager.send, payload, sender, recipients, None)
        return PlainTextResponse(encode_b64(key))

    @router.post("/encodedpayload/create", openapi_extra=json_body(SendRequest),
                 summary="Encrypt as /send would, but neither distribute nor store: 200 the encoded payload",
                 responses={200: {"model": EncodedPayloadDocument}, 403: {"model": ErrorResponse},
                            **ERROR_RESPONSES})
    async def create_encoded_payload(request: Request,
                                     manager: TransactionManager = Depends(get_manager)) -> Response:
        body: SendRequest = await read_json(request, SendRequest)
        payload = decode_b64(body.payload, "payload")
        sender = decode_public_key(body.from_, "from") if body.from_ else None
        recipients = decode_key_list(body.to, "to")
        metadata = privacy_metadata(body)
        encoded = await run_in_threadpool(manager.encrypt_payload, payload, sender, recipients, metadata)
        return json_response(encode_payload_document(encoded))

    @router.post("/encodedpayload/decrypt", openapi_extra=json_body(EncodedPayloadDocument),
                 summary="Decrypt an encoded payload with a key held here (nothing stored); "
                         "404 = not a party",
                 responses={200: {"model": ReceiveResponse}, **ERROR_RESPONSES})
    async def decrypt_encoded_payload(request: Request,
                                      manager: TransactionManager = Depends(get_manager)) -> Response:
        body: EncodedPayloadDocument = await read_json(request, EncodedPayloadDocument)
        received = await run_in_threadpool(manager.decrypt_payload, decode_payload_document(body))
        return json_response(received_json(received))

    @router.post("/storeraw", openapi_extra=json_body(StoreRawRequest),
                 summary="Encrypt and store for the sender only (not distributed); 200 {key}",
                 responses={200: {"model": KeyResponse}, **ERROR_RESPONSES})
    async def store_raw(request: Request, manager: TransactionManager = Depends(get_manager)) -> Response:
        body: StoreRawRequest = await read_json(request, StoreRawRequest)
        payload = decode_b64(body.payload, "payload")
        sender = decode_public_key(body.from_, "from") if body.from_ else None
        key = await run_in_threadpool(manager.store_raw, payload, sender)
        return json_response({"key": encode_b64(key)})

    @router.post("/sendsignedtx", status_code=201, openapi_extra=json_body(SendSignedRequest),
                 summary="Distribute a stored raw payload; 201 {key} (the same key)",
                 responses={201: {"model": KeyResponse}, 403: {"model": ErrorResponse}, **ERROR_RESPONSES})
    async def send_signed_tx(request: Request, manager: TransactionManager = Depends(get_manager),
                             c11n_to: str | None = Header(default=None, alias="c11n-to")) -> Response:
        if media_type(request) == OCTET:
            # Legacy form: the body is the raw 64-byte hash, recipients in c11n-to; 200 text key.
            tx_hash = decode_hash(encode_b64(await request.body()), "hash")
            key = await run_in_threadpool(manager.send_signed, tx_hash, decode_key_header(c11n_to, "c11n-to"), None)
            return PlainTextResponse(encode_b64(key))
        body: SendSignedRequest = await read_json(request, SendSignedRequest)
        tx_hash = decode_hash(body.hash, "hash")
        recipients = decode_key_list(body.to, "to")
        metadata = privacy_metadata(body)
        key_text = encode_b64(await run_in_threadpool(manager.send_signed, tx_hash, recipients, metadata))
        return json_response({"key": key_text}, 201, {"Location": transaction_location(key_text)})

    @router.post("/receive", openapi_extra=json_body(ReceiveRequest),
                 summary="Legacy receive: {key, to?} → 200 {payload} / 404",
                 responses={200: {"model": PayloadResponse}, **ERROR_RESPONSES})
    async def receive_legacy(request: Request, manager: TransactionManager = Depends(get_manager)) -> Response:
        body: ReceiveRequest = await read_json(request, ReceiveRequest)
        tx_hash = decode_hash(body.key, "key")
        to = decode_public_key(body.to, "to") if body.to else None
        received = await run_in_threadpool(manager.receive, tx_hash, to)
        return json_response({"payload": encode_b64(received.payload)})

    @router.post("/transactions/receive", openapi_extra=json_body(ReceiveBatchRequest),
                 summary="Extension: decrypt many transactions in one round trip (a node's block prefetch)",
                 responses=ERROR_RESPONSES)
    async def receive_batch(request: Request, manager: TransactionManager = Depends(get_manager)) -> Response:
        """200 `{transactions: {key: <as GET /transaction/{key}>}, missing: [key]}`; a key this
        manager cannot open (not a party, unknown) is listed in `missing`, as a 404 would say."""
        body: ReceiveBatchRequest = await read_json(request, ReceiveBatchRequest)
        hashes = [(key, decode_hash(key, f"keys[{i}]")) for i, key in enumerate(body.keys)]

        def receive_all() -> dict[str, Any]:
            found: dict[str, Any] = {}
            missing: list[str] = []
            for key, tx_hash in hashes:
                try:
                    found[key] = received_json(manager.receive(tx_hash))
                except TransactionNotFound:
                    missing.append(key)
            return {"transactions": found, "missing": missing}

        return json_response(await run_in_threadpool(receive_all))

    @router.get("/transaction/{key:path}/isSender", response_class=PlainTextResponse,
                summary="true when this manager sent the transaction", responses=ERROR_RESPONSES)
    def is_sender(key: str, manager: TransactionManager = Depends(get_manager)) -> PlainTextResponse:
        return PlainTextResponse("true" if manager.is_sender(decode_hash(key, "key")) else "false")

    @router.get("/transaction/{key:path}/participants", response_class=PlainTextResponse,
                summary="Comma-separated recipient keys of this manager's copy", responses=ERROR_RESPONSES)
    def participants(key: str, manager: TransactionManager = Depends(get_manager)) -> PlainTextResponse:
        return PlainTextResponse(",".join(encode_b64(k) for k in manager.participants(decode_hash(key, "key"))))

    @router.get("/transaction/{key:path}/mandatory", response_class=PlainTextResponse,
                summary="Comma-separated mandatory recipients (400 unless privacy flag 2)", responses=ERROR_RESPONSES)
    def mandatory(key: str, manager: TransactionManager = Depends(get_manager)) -> PlainTextResponse:
        keys = manager.mandatory_recipients(decode_hash(key, "key"))
        return PlainTextResponse(",".join(encode_b64(k) for k in keys))

    @router.get("/transaction/{key:path}", summary="Decrypt a transaction (404 = not a party / unknown)",
                responses={200: {"model": ReceiveResponse}, **ERROR_RESPONSES})
    def get_transaction(key: str, manager: TransactionManager = Depends(get_manager),
                        to: str | None = Query(default=None, description="recipient key, base64"),
                        is_raw: bool = Query(default=False, alias="isRaw")) -> Response:
        received = manager.receive(decode_hash(key, "key"), _to_key(to), raw=is_raw)
        return json_response(received_json(received))

    @router.delete("/transaction/{key:path}", status_code=204, summary="Delete a transaction (404 if unknown)",
                   responses=ERROR_RESPONSES)
    def delete_transaction(key: str, manager: TransactionManager = Depends(get_manager)) -> Response:
        manager.delete(decode_hash(key, "key"))
        return Response(status_code=204)

    @router.get("/partyinfo/keys", summary="Every public key known in the network",
                responses={200: {"model": KeysResponse}})
    def party_keys(manager: TransactionManager = Depends(get_manager)) -> Response:
        return json_response({"keys": [{"key": encode_b64(k)} for k in manager.known_keys()]})

    @router.get("/keys", summary="The public keys this manager holds", responses={200: {"model": KeysResponse}})
    def own_keys(manager: TransactionManager = Depends(get_manager)) -> Response:
        return json_response({"keys": [{"key": encode_b64(k)} for k in manager.keys.public_keys()]})

    @router.post("/recover", summary="Operator: recover the payloads of this manager's keys from its peers "
                                     "(paged, idempotent); 200 a report per peer",
                 openapi_extra={"requestBody": {"required": False,
                                                "content": {JSON: {"schema": inline_schema(RecoverRequest)}}}},
                 responses=ERROR_RESPONSES)
    async def recover(request: Request, manager: TransactionManager = Depends(get_manager)) -> Response:
        """200 `{peers: [{url, recovered, merged, alreadyHeld, refused, pages, error}], recovered,
        merged, alreadyHeld, refused, failedPeers}`; a peer that failed is named in `failedPeers`."""
        page_size = DEFAULT_PAGE_SIZE
        if await request.body():
            body: RecoverRequest = await read_json(request, RecoverRequest)
            page_size = body.page_size
        report = await run_in_threadpool(recover_from_peers, manager, page_size)
        return json_response(report.to_json())

    @router.get("/transaction", include_in_schema=False)
    def missing_key() -> Response:
        raise InvalidRequest("missing transaction key in path")

    return router


__all__ = ["build_q2t_router", "get_manager", "received_json", "transaction_location"]
