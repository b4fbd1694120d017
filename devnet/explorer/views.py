"""What one node shows of one transaction, read over its JSON-RPC as any client would.

A node is a party when its `eth_getQuorumPayload` of the marker's 64-byte hash answers the
payload; a non-party answers `0x`, and all the explorer shows for it is that hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from devnet.explorer.abi import AbiRegistry, DecodedCall, DecodedLog, signature
from devnet.explorer.rpc import NodeRpc, RpcError

PRIVATE_V = {"0x25", "0x26"}  # 37 / 38: a private marker's Homestead v + 10
PRIVACY_PRECOMPILE = "0x000000000000000000000000000000000000007a"  # GoQuorum's privacy marker transactions
MAX_GETTERS = 8


@dataclass(frozen=True)
class PublicTx:
    """A transaction as the public chain holds it (the same bytes on every node)."""

    hash: str
    block: int
    index: int
    sender: str
    to: str | None
    input: str
    nonce: int
    kind: str  # "public", "private" (v 37/38) or "marker" (a privacy marker transaction)

    @property
    def order(self) -> int:
        return self.block * 100_000 + self.index

    @staticmethod
    def from_rpc(tx: dict[str, Any]) -> PublicTx:
        to = tx.get("to")
        kind = "public"
        if str(tx.get("v", "")).lower() in PRIVATE_V:
            kind = "private"
        elif to is not None and str(to).lower() == PRIVACY_PRECOMPILE:
            kind = "marker"
        return PublicTx(str(tx["hash"]), int(tx["blockNumber"], 16), int(tx["transactionIndex"], 16),
                        str(tx["from"]), None if to is None else str(to), str(tx.get("input", "0x")),
                        int(tx.get("nonce", "0x0"), 16), kind)


@dataclass(frozen=True)
class Block:
    number: int
    hash: str
    timestamp: int
    transactions: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One node's view of one transaction."""

    kind: str  # "public", "party", "non-party" or "error"
    call: DecodedCall | None = None
    payload_hash: str | None = None  # what a non-party sees: the 64-byte hash
    payload_size: int = 0
    status: int | None = None
    private_receipt: bool = False
    contract: str | None = None
    logs: tuple[DecodedLog, ...] = ()
    storage_root: str | None = None
    getters: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    revert_reason: str | None = None


def _ok(value: Any) -> Any:
    return None if isinstance(value, RpcError) else value


async def read_cell(rpc: NodeRpc, tx: PublicTx, registry: AbiRegistry) -> Cell:
    """This node's view of `tx` (which it has imported)."""
    to = tx.to
    if tx.kind == "public":
        receipt, payload_hex, private_hash = await rpc.call("eth_getTransactionReceipt", tx.hash), tx.input, None
        kind = "public"
    else:
        receipt_method = "eth_getTransactionReceipt"
        private_hash = tx.input
        if tx.kind == "marker":
            inner = await rpc.call("eth_getPrivateTransactionByHash", tx.hash)
            if inner is None:
                return Cell("non-party", payload_hash=tx.input)
            private_hash, to, receipt_method = str(inner["input"]), inner.get("to"), "eth_getPrivateTransactionReceipt"
        receipt, payload = await rpc.batch([(receipt_method, [tx.hash]), ("eth_getQuorumPayload", [private_hash])])
        if isinstance(payload, RpcError):
            return Cell("error", payload_hash=private_hash, error=f"manager: {payload.message}")
        if payload in (None, "0x"):
            return Cell("non-party", payload_hash=private_hash)
        receipt, payload_hex, kind = _ok(receipt), str(payload), "party"
    data = bytes.fromhex(payload_hex.removeprefix("0x"))
    contract = to if to is not None else (receipt or {}).get("contractAddress")
    status = int(receipt["status"], 16) if receipt and receipt.get("status") else None
    reads: list[tuple[str, list[Any]]] = []
    if contract is not None:
        reads = [("eth_getCode", [contract, hex(tx.block)]), ("eth_storageRoot", [contract, hex(tx.block)])]
    code, root = (await rpc.batch(reads)) if reads else (None, None)
    code_hex = _ok(code) if isinstance(_ok(code), str) else None
    if to is None:
        call = registry.decode_deployment(data)
    else:
        call = registry.decode_call(data, code_hex)
    getters = await _getters(rpc, registry, contract, code_hex, call, tx.block) if contract else ()
    return Cell(kind, call=call, payload_hash=private_hash, payload_size=len(data), status=status,
                private_receipt=bool(receipt and receipt.get("isPrivate")), contract=contract,
                logs=tuple(registry.decode_log(log) for log in (receipt or {}).get("logs", [])),
                storage_root=_ok(root), getters=getters,
                revert_reason=(receipt or {}).get("revertReason"))


async def _getters(rpc: NodeRpc, registry: AbiRegistry, contract: str, code_hex: str | None,
                   call: DecodedCall | None, block: int) -> tuple[tuple[str, str], ...]:
    """The contract's public getters (views without inputs) at the transaction's block, on this node."""
    known = registry.by_code(code_hex or "") or (registry.by_name(call.contract) if call and call.contract else None)
    if known is None or not code_hex or code_hex == "0x":
        return ()
    entries = known.getters()[:MAX_GETTERS]
    answers = await rpc.batch([("eth_call", [{"to": contract, "data": "0x" + keccak(text=signature(e))[:4].hex()},
                                             hex(block)]) for e in entries])
    shown = []
    for entry, answer in zip(entries, answers, strict=True):
        if isinstance(answer, RpcError) or not isinstance(answer, str):
            continue
        try:
            shown.append((str(entry["name"]), registry.decode_outputs(entry, answer)))
        except Exception:  # a getter whose answer does not decode is left out
            continue
    return tuple(shown)
