"""Helpers shared by the Q2T and P2P routers: body reading, media types, JSON answers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.responses import Response

from tessera_like.errors import UnsupportedMediaType
from tessera_like.manager import TransactionManager
from tessera_like.wire import ErrorResponse, inline_schema, parse_body

JSON = "application/json"
OCTET = "application/octet-stream"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {400: "bad input", 404: "not found / not a party", 413: "too large",
                       415: "wrong Content-Type", 503: "a peer or the store is unavailable"}.items()
}


async def get_manager(request: Request) -> TransactionManager:
    """The manager the app was built with (override in tests through dependency_overrides).

    Async on purpose: FastAPI runs a sync dependency on the thread pool, one more hop per
    request on the hot path.
    """
    manager: TransactionManager = request.app.state.manager
    return manager


def json_body(model: type[Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {JSON: {"schema": inline_schema(model)}}}}


def octet_body(description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description,
                            "content": {OCTET: {"schema": {"type": "string", "format": "binary"}}}}}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media_type(request: Request, expected: str) -> None:
    if media_type(request) != expected:
        raise UnsupportedMediaType(f"Content-Type must be {expected}")


async def read_json(request: Request, model: type[Any]) -> Any:
    require_media_type(request, JSON)
    return parse_body(await request.body(), model)


def json_response(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status_code, media_type=JSON,
                    headers=headers)

__all__ = [
    "ERROR_RESPONSES",
    "JSON",
    "OCTET",
    "get_manager",
    "json_body",
    "json_response",
    "media_type",
    "octet_body",
    "read_json",
    "require_media_type",
]
