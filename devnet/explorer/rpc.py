"""The explorer's only way to a node: JSON-RPC over HTTP (batches) and WebSocket (newHeads).

Why raw JSON-RPC and not web3.py: the explorer shows what a node answers, as it answers it
(hex strings, `0x` for a non-party's payload), and batches a transaction's reads into one request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import websockets


class RpcFailure(Exception):
    """A node could not be reached, or answered something that is not JSON-RPC."""


class RpcError(Exception):
    """A JSON-RPC error object (the node answered, and refused)."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('message', error)}")
        self.code = error.get("code")
        self.message = str(error.get("message", ""))


Call = tuple[str, Sequence[Any]]


class NodeRpc:
    """One node's JSON-RPC endpoint, as network.json names it."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.ws_url = "ws" + url[len("http"):] if url.startswith("http") else url
        self._http = httpx.AsyncClient(timeout=timeout)
        self._id = 0

    async def close(self) -> None:
        await self._http.aclose()

    async def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Results in call order; an entry that failed is its RpcError (not raised)."""
        if not calls:
            return []
        base = self._id
        self._id += len(calls)
        body = [{"jsonrpc": "2.0", "id": base + i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        try:
            response = await self._http.post(self.url, json=body)
            answers = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RpcFailure(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(answers, list):
            raise RpcFailure(f"{self.url}: not a batch answer: {str(answers)[:200]}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results: list[Any] = []
        for i, (method, _) in enumerate(calls):
            answer = by_id.get(base + i)
            if answer is None:
                raise RpcFailure(f"{self.url}: no answer for {method}")
            results.append(RpcError(method, answer["error"]) if "error" in answer else answer.get("result"))
        return results

    async def call(self, method: str, *params: Any) -> Any:
        (result,) = await self.batch([(method, params)])
        if isinstance(result, RpcError):
            raise result
        return result

    async def new_heads(self) -> AsyncIterator[int]:
        """Block numbers as the node imports them (eth_subscribe newHeads); the first value is the
        head at subscription time, so a caller catches up before following."""
        try:
            async with websockets.connect(self.ws_url, max_size=8 * 1024 * 1024) as ws:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                          "params": ["newHeads"]}))
                ack = json.loads(await ws.recv())
                if "result" not in ack:
                    raise RpcFailure(f"{self.ws_url}: eth_subscribe newHeads refused: {ack.get('error')}")
                yield int(await self.call("eth_blockNumber"), 16)
                async for message in ws:
                    note = json.loads(message)
                    head = note.get("params", {}).get("result", {})
                    if isinstance(head, dict) and "number" in head:
                        yield int(head["number"], 16)
        except (OSError, websockets.WebSocketException, ValueError, httpx.HTTPError) as exc:
            raise RpcFailure(f"{self.ws_url}: {type(exc).__name__}: {exc}") from exc
