"""JSON-RPC 2.0 dispatch from a declarative table `method name → Method`.

A `Method` names its handler (domain values in, domain values out), the parser of each
positional parameter (`rpc/params.py`) and the formatter of its result (`rpc/formatters.py`).
A batch goes through the same `handle_request` entry by entry.

Wire rules (web3.py checks them): every response has `"jsonrpc": "2.0"` and the request's
`id` (null when the id could not be read); never both `result` and `error`. A request
without an `id` member is a notification and gets no response, also inside a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidParams, InvalidRequest, MethodNotFound
from engine.rpc.errors import error_object, error_response

_MISSING = object()


@dataclass(frozen=True)
class Param:
    """One positional parameter. Optional ones take `default` when absent or null."""

    name: str
    parse: Callable[[object, str], Any]
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class Method:
    """A table entry. `blocking=False` marks a method that never waits on the node (safe to
    run on the event loop); `result=None` means the handler's value is already wire-ready."""

    handler: Callable[..., Any]
    params: tuple[Param, ...] = ()
    result: Callable[[Any], Any] | None = None
    blocking: bool = True


def _valid_id(value: object) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


class Dispatcher:
    """Runs single and batch requests against `methods`, passing `context` to each handler."""

    def __init__(self, methods: Mapping[str, Method], context: Any, *, max_batch_size: int = 1000) -> None:
        self.methods = dict(methods)
        self.context = context
        self.max_batch_size = max_batch_size

    # -- one call --------------------------------------------------------------------
    def parse_params(self, method: Method, params: list[Any]) -> list[Any]:
        specs = method.params
        if len(params) > len(specs):
            raise InvalidParams(
                f"invalid params: too many params (this method takes at most {len(specs)}, got {len(params)})"
            )
        args = []
        for i, spec in enumerate(specs):
            value = params[i] if i < len(params) else _MISSING
            if value is _MISSING or value is None:
                if spec.required:
                    raise InvalidParams(f"invalid params: missing value for required param {i} ({spec.name})")
                args.append(spec.default)
            else:
                args.append(spec.parse(value, spec.name))
        return args

    def call(self, name: str, params: list[Any]) -> Any:
        """Run one method; raises on any failure (the caller maps it)."""
        method = self.methods.get(name)
        if method is None:
            raise MethodNotFound(f"the method {name} does not exist/is not available")
        result = method.handler(self.context, *self.parse_params(method, params))
        if result is None or method.result is None:
            return result
        return method.result(result)

    # -- envelopes -------------------------------------------------------------------
    def handle_request(self, request: object) -> dict[str, Any] | None:
        """One request object → its response, or None for a notification."""
        if not isinstance(request, dict):
            return error_response(None, InvalidRequest("invalid request: expected a JSON object"))
        is_notification = "id" not in request
        request_id = request.get("id")
        if not _valid_id(request_id):
            error = InvalidRequest("invalid request: id must be a string, number or null")
            return error_response(None, error)
        if request.get("jsonrpc") != "2.0":
            return error_response(request_id, InvalidRequest('invalid request: "jsonrpc" must be "2.0"'))
        name = request.get("method")
        if not isinstance(name, str):
            return error_response(request_id, InvalidRequest("invalid request: method must be a string"))
        params = request.get("params")
        try:
            if params is None:
                params = []
            elif isinstance(params, dict):
                raise InvalidParams("invalid params: params must be an array (no by-name params)")
            elif not isinstance(params, list):
                raise InvalidRequest("invalid request: params must be an array")
            result = self.call(name, params)
        except Exception as exc:  # noqa: BLE001 - mapped in one place, never leaked
            if is_notification:
                error_object(exc, method=name)  # still logs an unexpected failure
                return None
            return error_response(request_id, exc, method=name)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def handle(self, payload: object) -> dict[str, Any] | list[dict[str, Any]] | None:
        """A decoded body (object or batch) → the response body, or None when nothing is owed."""
        if isinstance(payload, list):
            if not payload:
                return error_response(None, InvalidRequest("invalid request: empty batch"))
            if len(payload) > self.max_batch_size:
                error = InvalidRequest(f"invalid request: batch too large (max {self.max_batch_size} entries)")
                return error_response(None, error)
            responses = [r for r in map(self.handle_request, payload) if r is not None]
            return responses or None
        return self.handle_request(payload)

    def needs_thread(self, payload: object) -> bool:
        """Whether running `payload` may wait on the node (then it leaves the event loop)."""
        if isinstance(payload, dict):
            return self._entry_blocks(payload)
        if isinstance(payload, list) and len(payload) <= self.max_batch_size:
            return any(self._entry_blocks(entry) for entry in payload)
        return False

    def _entry_blocks(self, entry: object) -> bool:
        if not isinstance(entry, dict):
            return False
        name = entry.get("method")
        method = self.methods.get(name) if isinstance(name, str) else None
        return method is not None and method.blocking
