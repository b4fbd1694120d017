"""The one place that turns exceptions into JSON-RPC error objects.

- An `EngineError` keeps its class's `rpc_code`, its message and, when set, its `data`
  (`ExecutionReverted` → code 3, "execution reverted: <reason>", data = 0x-hex revert bytes,
  which web3.py turns into `ContractLogicError`).
- Anything else is a bug: the client gets -32603 "internal error" and nothing more; the
  traceback goes to the log only.
"""

from __future__ import annotations

import logging
from typing import Any

from engine.errors import EngineError, InvalidRequest

logger = logging.getLogger("engine.rpc")

PARSE_ERROR = -32700
INTERNAL_ERROR = -32603
INTERNAL_ERROR_MESSAGE = "internal error"


class ParseError(InvalidRequest):
    """Raised when the request body is not JSON."""

    rpc_code = PARSE_ERROR


def error_object(exc: BaseException, *, method: str | None = None) -> dict[str, Any]:
    """The `error` member for `exc`."""
    if isinstance(exc, EngineError):
        code = exc.rpc_code
        message = exc.message if isinstance(exc.message, str) and exc.message else type(exc).__name__
        error: dict[str, Any] = {"code": int(code), "message": message}
        if exc.data is not None:
            error["data"] = exc.data
        return error
    logger.error("internal error in %s", method or "request", exc_info=exc)
    return {"code": INTERNAL_ERROR, "message": INTERNAL_ERROR_MESSAGE}


def error_response(request_id: Any, exc: BaseException, *, method: str | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error_object(exc, method=method)}
