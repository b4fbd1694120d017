"""HTML fragments of the page, rendered on the server with every value escaped.

Why on the server: one escaping function (`esc`) that tests can hold to, instead of string
building scattered through JavaScript. Payloads, decoded strings, revert reasons and node names
are attacker-controlled; every one goes through `esc` (and the page's Content-Security-Policy
forbids inline script as a second line).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from string import Template

from devnet.explorer.abi import Arg, DecodedCall, DecodedLog
from devnet.explorer.views import Block, Cell, PublicTx


def esc(value: object) -> str:
    """Text → HTML text or attribute value (quotes included)."""
    return html.escape(str(value), quote=True)


def dom_id(prefix: str, value: str) -> str:
    """An element id from a hash or name: only [A-Za-z0-9_-] survive."""
    return prefix + "-" + "".join(c if c.isalnum() or c in "_-" else "_" for c in value)


def short(hex_text: str, keep: int = 10) -> str:
    return hex_text if len(hex_text) <= 2 * keep + 1 else f"{hex_text[:keep]}…{hex_text[-keep + 2:]}"


def render_args(args: Sequence[Arg]) -> str:
    return ", ".join(f'<span class="arg"><span class="argname">{esc(a.name)}</span>='
                     f'<span class="argvalue" title="{esc(a.type)}">{esc(a.value)}</span></span>' for a in args)


def render_call(call: DecodedCall | None, size: int) -> str:
    if call is None:
        return f'<div class="call unknown">unknown call ({size} bytes; no known ABI matches)</div>'
    name = f"new {call.contract}" if call.is_deployment else f"{call.contract}.{call.function}"
    error = f' <span class="bad">{esc(call.error)}</span>' if call.error else ""
    return (f'<div class="call"><span class="fn">{esc(name)}</span>(<span class="args">'
            f"{render_args(call.args)}</span>){error}</div>")


def render_log(log: DecodedLog) -> str:
    if log.event is None:
        return (f'<li class="log">{esc(short(log.address))} topics {esc(", ".join(short(t) for t in log.topics))}'
                f" data {esc(short(log.data, 16))}</li>")
    return f'<li class="log"><span class="event">{esc(log.event)}</span>({render_args(log.args)})</li>'


def _status(cell: Cell) -> str:
    if cell.status is None:
        return '<span class="muted">no receipt</span>'
    label = "success" if cell.status == 1 else "failed"
    which = "private receipt" if cell.private_receipt else "receipt"
    reason = f": {esc(cell.revert_reason)}" if cell.revert_reason else ""
    return f'<span class="status s{cell.status}">{which}: {label}{reason}</span>'


def render_cell(node: str, tx: PublicTx, cell: Cell | None) -> str:
    attrs = f'class="node {esc(cell.kind if cell else "waiting")}" data-node="{esc(node)}"'
    if cell is None:
        return f'<td {attrs}><span class="muted">not imported yet</span></td>'
    if cell.kind == "non-party":
        return (f'<td {attrs}><span class="label">not a party</span>'
                f'<code class="hash">{esc(cell.payload_hash or "")}</code></td>')
    if cell.kind == "error":
        return f'<td {attrs}><span class="bad">{esc(cell.error)}</span></td>'
    parts = [render_call(cell.call, cell.payload_size), f"<div>{_status(cell)}</div>"]
    if cell.contract:
        parts.append(f'<div class="contract">contract <code>{esc(cell.contract)}</code></div>')
    if cell.logs:
        parts.append('<ul class="logs">' + "".join(render_log(log) for log in cell.logs) + "</ul>")
    if cell.storage_root:
        parts.append(f'<div class="state">storage root <code title="{esc(cell.storage_root)}">'
                     f"{esc(short(cell.storage_root))}</code></div>")
    if cell.getters:
        parts.append('<div class="getters">' + "".join(f'<div><span class="argname">{esc(k)}</span>={esc(v)}</div>'
                                                       for k, v in cell.getters) + "</div>")
    return f"<td {attrs}>{''.join(parts)}</td>"


_KIND_LABEL = {"public": "public", "private": "private", "marker": "privacy marker"}


def render_tx(tx: PublicTx, nodes: Sequence[str], cells: Mapping[str, Cell]) -> str:
    to = esc(tx.to) if tx.to else "<em>creation</em>"
    public = (f'<td class="public"><div><span class="badge {esc(tx.kind)}">{esc(_KIND_LABEL.get(tx.kind, tx.kind))}'
              f'</span> block #{tx.block}.{tx.index}</div>'
              f'<div>tx <code title="{esc(tx.hash)}">{esc(short(tx.hash))}</code></div>'
              f'<div>from <code>{esc(tx.sender)}</code> nonce {tx.nonce}</div><div>to <code>{to}</code></div>'
              f'<div>input <code class="input">{esc(short(tx.input, 40))}</code></div></td>')
    cells_html = "".join(render_cell(node, tx, cells.get(node)) for node in nodes)
    return f'<tr id="{esc(dom_id("tx", tx.hash))}" data-order="{tx.order}">{public}{cells_html}</tr>'


def render_block(block: Block, seen_by: Iterable[str]) -> str:
    txs = len(block.transactions)
    return (f'<li id="{esc(dom_id("block", str(block.number)))}" data-order="{block.number}" '
            f'class="{"has-tx" if txs else "empty"}"><b>#{block.number}</b> '
            f'<code title="{esc(block.hash)}">{esc(short(block.hash, 8))}</code> {txs} tx'
            f'<span class="muted"> · {esc(", ".join(seen_by))}</span></li>')


def render_node_status(node: str, url: str, head: int | None, error: str | None) -> str:
    state = f"head #{head}" if head is not None else "connecting"
    klass = "down" if error else "up"
    detail = f' <span class="bad">{esc(error)}</span>' if error else ""
    return (f'<li id="{esc(dom_id("node", node))}" class="{klass}"><b>{esc(node)}</b> '
            f'<code>{esc(url)}</code> {esc(state)}{detail}</li>')


def render_index(template: str, title: str, nodes: Sequence[str]) -> str:
    headers = "".join(f'<th data-node="{esc(n)}">{esc(n)}</th>' for n in nodes)
    return Template(template).substitute(title=esc(title), node_headers=headers)
