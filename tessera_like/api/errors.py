"""The one place that turns exceptions into HTTP responses.

Every 4xx/5xx body is JSON `{"error": "<message>"}`. A PTMError answers its class's
`http_status` with its (client-safe) message. Framework errors (unknown route, wrong
method, bad query or path parameter) get the same shape. Anything unexpected answers 500
"internal error"; the detail goes only to the log, never to the client.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tessera_like.errors import PTMError

log = logging.getLogger("tessera_like.api")


def error_response(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status_code=status, media_type="application/json")


async def _ptm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PTMError)
    if exc.http_status >= 500:
        log.warning("%s %s → %d: %s", request.method, request.url.path, exc.http_status, exc.message)
    return error_response(exc.http_status, exc.message)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
    ) if exc.errors() else "invalid request"
    return error_response(400, f"invalid request: {detail}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    response = error_response(exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PTMError, _ptm_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


__all__ = ["error_response", "install_error_handlers"]
