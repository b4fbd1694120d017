"""One task per node: follow its imported blocks and read its view of each transaction in them.

Why per node: nodes import a block at different moments and see different things in it; each
column changes when its own node has something new. The follower waits on the node's
`eth_subscribe newHeads` WebSocket (no polling; an idle network costs nothing but the node's
periodic empty blocks), and reconnects with a growing pause when the node is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from devnet.explorer.abi import AbiRegistry
from devnet.explorer.rpc import NodeRpc, RpcError, RpcFailure
from devnet.explorer.state import ExplorerState
from devnet.explorer.views import Block, Cell, PublicTx, read_cell

LOG = logging.getLogger("devnet.explorer")
HISTORY_BLOCKS = 256  # on start, how far back from the head to read
BATCH_BLOCKS = 64
RETRY_MIN_S = 1.0
RETRY_MAX_S = 15.0


class NodeFollower:
    def __init__(self, name: str, rpc: NodeRpc, state: ExplorerState, registry: AbiRegistry) -> None:
        self.name = name
        self.rpc = rpc
        self.state = state
        self.registry = registry
        self.done: int | None = None  # the newest block this node's view has been read for

    async def run(self) -> None:
        pause = RETRY_MIN_S
        while True:
            try:
                async with contextlib.aclosing(self.rpc.new_heads()) as heads:  # closes the socket on errors
                    async for head in heads:
                        pause = RETRY_MIN_S
                        await self.catch_up(head)
            except (RpcFailure, RpcError) as exc:
                LOG.info("%s: %s (retrying in %.0f s)", self.name, exc, pause)
                self.state.set_node(self.name, error=str(exc))
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    async def catch_up(self, head: int) -> None:
        if self.done is not None and head < self.done:  # the chain was reverted (dev snapshots)
            self.done = head - 1
        start = max(0, head - HISTORY_BLOCKS + 1) if self.done is None else self.done + 1
        for first in range(start, head + 1, BATCH_BLOCKS):
            numbers = range(first, min(first + BATCH_BLOCKS, head + 1))
            blocks = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            for number, block in zip(numbers, blocks, strict=True):
                if isinstance(block, RpcError) or block is None:
                    raise RpcFailure(f"{self.name}: block #{number} unavailable: {block}")
                await self.read_block(block)
                self.done = number
        self.state.set_node(self.name, head=head)

    async def read_block(self, raw: dict[str, object]) -> None:
        txs = [PublicTx.from_rpc(tx) for tx in raw.get("transactions", []) if isinstance(tx, dict)]
        block = Block(int(str(raw["number"]), 16), str(raw["hash"]), int(str(raw["timestamp"]), 16),
                      tuple(tx.hash for tx in txs))
        self.state.add_block(self.name, block, txs)
        for tx in txs:
            try:
                cell = await read_cell(self.rpc, tx, self.registry)
            except RpcFailure:
                raise
            except RpcError as exc:
                cell = Cell("error", error=exc.message)
            except Exception as exc:  # an answer of a shape we did not expect: shown, the follower goes on
                LOG.exception("%s: reading %s", self.name, tx.hash)
                cell = Cell("error", error=f"could not read: {type(exc).__name__}")
            self.state.set_cell(self.name, tx.hash, cell)
