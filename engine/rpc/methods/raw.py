"""`eth_getRawTransactionBy*`: a transaction's canonical bytes (what `eth_sendRawTransaction` takes).

Note: an unknown transaction, block or index answers `null` (geth prints `0x` there); web3.py
turns `null` into `TransactionNotFound`, as for the other transaction reads.
"""

from __future__ import annotations

from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method, Param
from engine.types import BlockId, Hash32


def by_hash(ctx: RpcContext, tx_hash: Hash32) -> bytes | None:
    return ctx.node.get_raw_transaction(tx_hash)


def by_block(ctx: RpcContext, block: BlockId, index: int) -> bytes | None:
    return ctx.node.get_raw_transaction_by_block(block, index)


INDEX = Param("index", p.uint64)

METHODS: dict[str, Method] = {
    "eth_getRawTransactionByHash": Method(by_hash, (Param("transactionHash", p.hash32),), result=fmt.data),
    "eth_getRawTransactionByBlockNumberAndIndex": Method(
        by_block, (Param("block", p.block_number_or_tag), INDEX), result=fmt.data),
    "eth_getRawTransactionByBlockHashAndIndex": Method(
        by_block, (Param("blockHash", p.hash32), INDEX), result=fmt.data),
}
