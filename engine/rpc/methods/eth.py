"""The `eth_` namespace: chain data, state reads, execution, submission, logs and filters."""

from __future__ import annotations

from typing import Any

from engine.errors import InvalidParams
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method, Param
from engine.rpc.filters import resolve_log_query
from engine.types import (
    AccessListResult,
    Address,
    BlockId,
    BlockView,
    FeeHistory,
    Hash32,
    LogView,
    ReceiptView,
    SimulatedBlock,
    SimulateOptions,
    StateOverrides,
    TransactionView,
    TxRequest,
)

MAX_FEE_HISTORY_BLOCKS = 1024


# -- parameter parsers specific to this namespace -----------------------------------------


def _send_request(value: object, name: str) -> TxRequest:
    return p.tx_request(value, name, require_sender=True)


def _block_count(value: object, name: str) -> int:
    """geth takes a hex quantity or a plain number here."""
    count = value if isinstance(value, int) and not isinstance(value, bool) else p.uint64(value, name)
    if not 1 <= count <= MAX_FEE_HISTORY_BLOCKS:
        raise p.fail(name, f"must be between 1 and {MAX_FEE_HISTORY_BLOCKS}, got {count}")
    return count


def _percentiles(value: object, name: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise p.fail(name, "expected an array of numbers")
    out: list[float] = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise p.fail(f"{name}[{i}]", "expected a number")
        if not 0 <= item <= 100:
            raise p.fail(f"{name}[{i}]", f"percentile {item} outside 0..100")
        if out and item < out[-1]:
            raise p.fail(f"{name}[{i}]", "percentiles must be in non-decreasing order")
        out.append(float(item))
    return tuple(out)


def _filter_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) > 66:
        raise p.fail(name, "expected a filter id (0x-prefixed hex string)")
    return value.lower()


# -- handlers --------------------------------------------------------------------------------


def chain_id(ctx: RpcContext) -> int:
    return ctx.node.chain_id


def block_number(ctx: RpcContext) -> int:
    return ctx.node.block_number()


def syncing(ctx: RpcContext) -> bool:
    # Blocks arrive through the ordering service and are imported as they come; there is no
    # separate sync phase to report.
    return False


def accounts(ctx: RpcContext) -> list[Address]:
    return ctx.node.accounts()


def gas_price(ctx: RpcContext) -> int:
    return ctx.node.gas_price()


def max_priority_fee(ctx: RpcContext) -> int:
    return ctx.node.max_priority_fee()


def fee_history(ctx: RpcContext, count: int, newest: BlockId,
                percentiles: tuple[float, ...] | None) -> FeeHistory:
    return ctx.node.fee_history(count, newest, percentiles)


def get_balance(ctx: RpcContext, address: Address, block: BlockId) -> int:
    return ctx.node.get_balance(address, block)


def get_transaction_count(ctx: RpcContext, address: Address, block: BlockId) -> int:
    return ctx.node.get_nonce(address, block)


def get_code(ctx: RpcContext, address: Address, block: BlockId) -> bytes:
    return ctx.node.get_code(address, block)


def get_storage_at(ctx: RpcContext, address: Address, slot: int, block: BlockId) -> bytes:
    return ctx.node.get_storage_at(address, slot, block)


def call(ctx: RpcContext, request: TxRequest, block: BlockId, overrides: StateOverrides | None) -> bytes:
    return ctx.node.call(request, block, overrides)


def estimate_gas(ctx: RpcContext, request: TxRequest, block: BlockId, overrides: StateOverrides | None) -> int:
    return ctx.node.estimate_gas(request, block, overrides)


def create_access_list(ctx: RpcContext, request: TxRequest, block: BlockId,
                       overrides: StateOverrides | None) -> AccessListResult:
    return ctx.node.create_access_list(request, block, overrides)


def simulate_v1(ctx: RpcContext, options: SimulateOptions, block: BlockId) -> list[SimulatedBlock]:
    return ctx.node.simulate(options, block)


def send_transaction(ctx: RpcContext, request: TxRequest) -> Hash32:
    if request.private is not None:  # GoQuorum's privateFor: the privacy service distributes, then submits
        return ctx.privacy.send_transaction(request)
    return ctx.node.send_transaction(request)


def send_raw_transaction(ctx: RpcContext, raw: bytes) -> Hash32:
    if not raw:
        raise InvalidParams("invalid params: transaction: empty transaction")
    return ctx.node.send_raw_transaction(raw)


def get_transaction_by_hash(ctx: RpcContext, tx_hash: Hash32) -> TransactionView | None:
    return ctx.node.get_transaction(tx_hash)


def get_transaction_by_block(ctx: RpcContext, block: BlockId, index: int) -> TransactionView | None:
    return ctx.node.get_transaction_by_block(block, index)


def get_transaction_receipt(ctx: RpcContext, tx_hash: Hash32) -> ReceiptView | None:
    return ctx.node.get_receipt(tx_hash)


def get_block(ctx: RpcContext, block: BlockId, full: bool) -> tuple[BlockView, bool, bool] | None:
    found = ctx.node.get_block(block, full)
    return None if found is None else (found, full, block == "pending")


def get_block_transaction_count(ctx: RpcContext, block: BlockId) -> int | None:
    found = ctx.node.get_block(block, False)
    return None if found is None else len(found.transactions)


def get_block_receipts(ctx: RpcContext, block: BlockId) -> list[ReceiptView] | None:
    found = ctx.node.get_block(block, False)
    if found is None:
        return None
    receipts = []
    for tx in found.transactions:
        receipt = ctx.node.get_receipt(tx.hash)
        if receipt is not None:
            receipts.append(receipt)
    return receipts


def get_logs(ctx: RpcContext, query: p.LogQuery) -> list[LogView]:
    log_filter = resolve_log_query(ctx.node, query, max_block_range=ctx.max_log_block_range)
    return [] if log_filter is None else ctx.node.get_logs(log_filter)


def new_filter(ctx: RpcContext, query: p.LogQuery) -> str:
    return ctx.filters.new_log_filter(query)


def new_block_filter(ctx: RpcContext) -> str:
    return ctx.filters.new_block_filter()


def new_pending_transaction_filter(ctx: RpcContext) -> str:
    return ctx.filters.new_pending_transaction_filter()


def get_filter_changes(ctx: RpcContext, filter_id: str) -> list[Hash32] | list[LogView]:
    return ctx.filters.changes(filter_id)


def get_filter_logs(ctx: RpcContext, filter_id: str) -> list[LogView]:
    return ctx.filters.logs(filter_id)


def uninstall_filter(ctx: RpcContext, filter_id: str) -> bool:
    return ctx.filters.uninstall(filter_id)


# -- the table -------------------------------------------------------------------------------


def _addresses(values: list[Address]) -> list[str]:
    return [fmt.address(a) for a in values]


def _block_result(value: tuple[BlockView, bool, bool]) -> dict[str, Any]:
    return fmt.block(*value)


def _receipts(values: list[ReceiptView]) -> list[dict[str, Any]]:
    return [fmt.receipt(r) for r in values]


def _access_list_result(value: AccessListResult) -> dict[str, Any]:
    """geth's shape: `error` only when the traced run failed."""
    out: dict[str, Any] = {"accessList": fmt.access_list(value.access_list), "gasUsed": fmt.quantity(value.gas_used)}
    if value.error is not None:
        out["error"] = value.error
    return out


def _simulated_blocks(values: list[SimulatedBlock]) -> list[dict[str, Any]]:
    return [fmt.simulated_block(b) for b in values]


def _logs(values: list[LogView]) -> list[dict[str, Any]]:
    return [fmt.log(entry) for entry in values]


ADDRESS = Param("address", p.address)
BLOCK = Param("block", p.block_id, required=False, default="latest")
TX_HASH = Param("transactionHash", p.hash32)
CALL_REQUEST = Param("transaction", p.tx_request)
OVERRIDES = Param("stateOverrides", p.state_overrides, required=False)
FULL = Param("fullTransactions", p.boolean, required=False, default=False)
INDEX = Param("index", p.uint64)
FILTER_ID = Param("filterId", _filter_id)
LOG_QUERY = Param("filter", p.log_query)

METHODS: dict[str, Method] = {
    "eth_chainId": Method(chain_id, result=fmt.quantity, blocking=False),
    "eth_syncing": Method(syncing, blocking=False),
    "eth_blockNumber": Method(block_number, result=fmt.quantity),
    "eth_accounts": Method(accounts, result=_addresses),
    "eth_gasPrice": Method(gas_price, result=fmt.quantity),
    "eth_maxPriorityFeePerGas": Method(max_priority_fee, result=fmt.quantity),
    "eth_feeHistory": Method(fee_history, (
        Param("blockCount", _block_count),
        Param("newestBlock", p.block_number_or_tag),
        Param("rewardPercentiles", _percentiles, required=False),
    ), result=fmt.fee_history),
    "eth_getBalance": Method(get_balance, (ADDRESS, BLOCK), result=fmt.quantity),
    "eth_getTransactionCount": Method(get_transaction_count, (ADDRESS, BLOCK), result=fmt.quantity),
    "eth_getCode": Method(get_code, (ADDRESS, BLOCK), result=fmt.data),
    "eth_getStorageAt": Method(get_storage_at, (ADDRESS, Param("position", p.storage_slot), BLOCK),
                               result=fmt.data),
    "eth_call": Method(call, (CALL_REQUEST, BLOCK, OVERRIDES), result=fmt.data),
    "eth_estimateGas": Method(estimate_gas, (CALL_REQUEST, BLOCK, OVERRIDES), result=fmt.quantity),
    "eth_createAccessList": Method(create_access_list, (CALL_REQUEST, BLOCK, OVERRIDES),
                                   result=_access_list_result),
    "eth_simulateV1": Method(simulate_v1, (Param("payload", p.simulate_options), BLOCK), result=_simulated_blocks),
    "eth_sendTransaction": Method(send_transaction, (Param("transaction", _send_request),), result=fmt.data),
    "eth_sendRawTransaction": Method(send_raw_transaction, (Param("transaction", p.data),), result=fmt.data),
    "eth_getTransactionByHash": Method(get_transaction_by_hash, (TX_HASH,), result=fmt.transaction),
    "eth_getTransactionByBlockNumberAndIndex": Method(
        get_transaction_by_block, (Param("block", p.block_number_or_tag), INDEX), result=fmt.transaction),
    "eth_getTransactionByBlockHashAndIndex": Method(
        get_transaction_by_block, (Param("blockHash", p.hash32), INDEX), result=fmt.transaction),
    "eth_getTransactionReceipt": Method(get_transaction_receipt, (TX_HASH,), result=fmt.receipt),
    "eth_getBlockByNumber": Method(get_block, (Param("block", p.block_number_or_tag), FULL),
                                   result=_block_result),
    "eth_getBlockByHash": Method(get_block, (Param("blockHash", p.hash32), FULL), result=_block_result),
    "eth_getBlockTransactionCountByNumber": Method(
        get_block_transaction_count, (Param("block", p.block_number_or_tag),), result=fmt.quantity),
    "eth_getBlockTransactionCountByHash": Method(
        get_block_transaction_count, (Param("blockHash", p.hash32),), result=fmt.quantity),
    "eth_getBlockReceipts": Method(get_block_receipts, (Param("block", p.block_id),), result=_receipts),
    "eth_getLogs": Method(get_logs, (LOG_QUERY,), result=_logs),
    "eth_newFilter": Method(new_filter, (LOG_QUERY,)),
    "eth_newBlockFilter": Method(new_block_filter),
    "eth_newPendingTransactionFilter": Method(new_pending_transaction_filter),
    "eth_getFilterChanges": Method(get_filter_changes, (FILTER_ID,), result=fmt.filter_changes),
    "eth_getFilterLogs": Method(get_filter_logs, (FILTER_ID,), result=_logs),
    "eth_uninstallFilter": Method(uninstall_filter, (FILTER_ID,)),
}
