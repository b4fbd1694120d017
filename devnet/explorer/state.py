"""The explorer's memory of recent blocks and transactions, and the fan-out of its changes to pages.

Bounded: the newest MAX_BLOCKS blocks and MAX_TXS transactions. Each change is published as an
"upsert" event: a rendered fragment and where it goes; a page that connects gets every current
fragment first, so it needs no other request.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from devnet.explorer.render import dom_id, render_block, render_node_status, render_tx
from devnet.explorer.views import Block, Cell, PublicTx

MAX_BLOCKS = 50
MAX_TXS = 200
QUEUE_SIZE = 2000


@dataclass(frozen=True)
class Event:
    target: str  # "blocks", "txs" or "nodes": the page's container
    id: str
    order: int
    html: str

    def sse(self) -> str:
        data = json.dumps({"target": self.target, "id": self.id, "order": self.order, "html": self.html})
        return f"event: upsert\ndata: {data}\n\n"


@dataclass
class _Tx:
    public: PublicTx
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class _NodeStatus:
    url: str
    head: int | None = None
    error: str | None = None


class Hub:
    """Subscribers (one queue per open page); a page that falls QUEUE_SIZE events behind is dropped
    (its EventSource reconnects and starts from the current state)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event | None]] = set()

    def subscribe(self) -> asyncio.Queue[Event | None]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None:
        self._queues.discard(queue)

    def publish(self, event: Event) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._queues.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)  # tells the stream to end

    def close(self) -> None:
        for queue in list(self._queues):
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)
        self._queues.clear()


class ExplorerState:
    def __init__(self, nodes: dict[str, str]) -> None:
        self.node_names = list(nodes)
        self.hub = Hub()
        self._blocks: OrderedDict[int, Block] = OrderedDict()
        self._seen: dict[int, list[str]] = {}
        self._txs: OrderedDict[str, _Tx] = OrderedDict()
        self._nodes = {name: _NodeStatus(url) for name, url in nodes.items()}

    # -- changes -----------------------------------------------------------------------------
    def add_block(self, node: str, block: Block, txs: list[PublicTx]) -> None:
        """`node` imported `block`: the first node to report a block adds it and its transactions."""
        known = self._blocks.get(block.number)
        if known is not None and known.hash != block.hash:  # reverted and rebuilt (dev snapshots)
            del self._blocks[block.number]
            self._seen.pop(block.number, None)
        if block.number not in self._blocks:
            self._blocks[block.number] = block
            self._blocks = OrderedDict(sorted(self._blocks.items())[-MAX_BLOCKS:])
            for tx in txs:
                if tx.hash not in self._txs:
                    self._txs[tx.hash] = _Tx(tx)
                    self.hub.publish(self._tx_event(self._txs[tx.hash]))
            while len(self._txs) > MAX_TXS:
                self._txs.popitem(last=False)
        seen = self._seen.setdefault(block.number, [])
        if node not in seen:
            seen.append(node)
        self._seen = {n: s for n, s in self._seen.items() if n in self._blocks}
        if block.number in self._blocks:
            self.hub.publish(self._block_event(self._blocks[block.number]))

    def set_cell(self, node: str, tx_hash: str, cell: Cell) -> None:
        entry = self._txs.get(tx_hash)
        if entry is None:
            return
        entry.cells[node] = cell
        self.hub.publish(self._tx_event(entry))

    def set_node(self, node: str, head: int | None = None, error: str | None = None) -> None:
        status = self._nodes[node]
        if head is not None:
            status.head = head
        status.error = error
        self.hub.publish(self._node_event(node))

    # -- views ---------------------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """Every current fragment (what a page that just connected needs)."""
        for node in self._nodes:
            yield self._node_event(node)
        for block in self._blocks.values():
            yield self._block_event(block)
        for entry in self._txs.values():
            yield self._tx_event(entry)

    def as_json(self) -> dict[str, Any]:
        """The same state for programs (`GET /api/state`)."""
        return {
            "nodes": {n: {"url": s.url, "head": s.head, "error": s.error} for n, s in self._nodes.items()},
            "blocks": [asdict(b) for b in self._blocks.values()],
            "transactions": [{"public": asdict(t.public), "nodes": {n: asdict(c) for n, c in t.cells.items()}}
                             for t in self._txs.values()],
        }

    def _tx_event(self, entry: _Tx) -> Event:
        tx = entry.public
        return Event("txs", dom_id("tx", tx.hash), tx.order, render_tx(tx, self.node_names, entry.cells))

    def _block_event(self, block: Block) -> Event:
        return Event("blocks", dom_id("block", str(block.number)), block.number,
                     render_block(block, self._seen.get(block.number, [])))

    def _node_event(self, node: str) -> Event:
        status = self._nodes[node]
        return Event("nodes", dom_id("node", node), -self.node_names.index(node),
                     render_node_status(node, status.url, status.head, status.error))
