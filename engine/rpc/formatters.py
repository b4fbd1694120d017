"""Domain values → wire JSON: quantities as 0x-hex without leading zeros, data as 0x-hex,
addresses EIP-55 checksummed (web3.py refuses anything else), field names as geth spells them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import IntEnum
from functools import lru_cache
from typing import Any

from eth_utils import to_checksum_address

from engine.abc import ReceivedPayload
from engine.types import (
    BlockView,
    FeeHistory,
    LogView,
    ReceiptView,
    SignedAuthorization,
    SimulatedBlock,
    SimulatedCall,
    TransactionView,
)


def quantity(value: int) -> str:
    if value < 0:
        raise ValueError(f"a quantity cannot be negative: {value}")
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + value.hex()


@lru_cache(maxsize=8192)
def address(value: bytes) -> str:
    if len(value) != 20:
        raise ValueError(f"an address is 20 bytes, got {len(value)}")
    return to_checksum_address(value)


def optional_address(value: bytes | None) -> str | None:
    return None if value is None else address(value)


def bloom(value: int) -> str:
    return "0x" + value.to_bytes(256, "big").hex()


def word(value: int) -> str:
    """A 32-byte big-endian value as DATA (storage keys)."""
    return "0x" + value.to_bytes(32, "big").hex()


def access_list(entries: Iterable[tuple[bytes, Iterable[int]]]) -> list[dict[str, Any]]:
    return [{"address": address(addr), "storageKeys": [word(k) for k in keys]} for addr, keys in entries]


def log(entry: LogView) -> dict[str, Any]:
    return {
        "address": address(entry.address),
        "topics": [data(t) for t in entry.topics],
        "data": data(entry.data),
        "blockNumber": quantity(entry.block_number),
        "blockHash": data(entry.block_hash),
        "transactionHash": data(entry.transaction_hash),
        "transactionIndex": quantity(entry.transaction_index),
        "logIndex": quantity(entry.log_index),
        "removed": entry.removed,
    }


def transaction(tx: TransactionView) -> dict[str, Any]:
    mined = tx.block_hash is not None
    gas_price = tx.gas_price if tx.gas_price is not None else tx.max_fee_per_gas
    out: dict[str, Any] = {
        "blockHash": data(tx.block_hash) if tx.block_hash is not None else None,
        "blockNumber": quantity(tx.block_number) if mined and tx.block_number is not None else None,
        "transactionIndex": (
            quantity(tx.transaction_index) if mined and tx.transaction_index is not None else None
        ),
        "hash": data(tx.hash),
        "type": quantity(tx.tx_type),
        "from": address(tx.sender),
        "to": optional_address(tx.to),
        "nonce": quantity(tx.nonce),
        "gas": quantity(tx.gas),
        "value": quantity(tx.value),
        "input": data(tx.data),
        "v": quantity(tx.v),
        "r": quantity(tx.r),
        "s": quantity(tx.s),
    }
    if gas_price is not None:
        out["gasPrice"] = quantity(gas_price)
    if tx.max_fee_per_gas is not None:
        out["maxFeePerGas"] = quantity(tx.max_fee_per_gas)
    if tx.max_priority_fee_per_gas is not None:
        out["maxPriorityFeePerGas"] = quantity(tx.max_priority_fee_per_gas)
    if tx.chain_id is not None:
        out["chainId"] = quantity(tx.chain_id)
    if tx.tx_type != 0:
        out["accessList"] = access_list(tx.access_list)
    if tx.authorization_list is not None:
        out["authorizationList"] = authorization_list(tx.authorization_list)
    if tx.y_parity is not None:
        out["yParity"] = quantity(tx.y_parity)
    return out


def authorization_list(entries: Iterable[SignedAuthorization]) -> list[dict[str, Any]]:
    """EIP-7702 tuples as geth's `types.SetCodeAuthorization` marshals them."""
    return [{"chainId": quantity(a.chain_id), "address": address(a.address), "nonce": quantity(a.nonce),
             "yParity": quantity(a.y_parity), "r": quantity(a.r), "s": quantity(a.s)} for a in entries]


def receipt(r: ReceiptView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "transactionHash": data(r.transaction_hash),
        "transactionIndex": quantity(r.transaction_index),
        "blockHash": data(r.block_hash),
        "blockNumber": quantity(r.block_number),
        "from": address(r.sender),
        "to": optional_address(r.to),
        "cumulativeGasUsed": quantity(r.cumulative_gas_used),
        "gasUsed": quantity(r.gas_used),
        "effectiveGasPrice": quantity(r.effective_gas_price),
        "contractAddress": optional_address(r.contract_address),
        "logs": [log(entry) for entry in r.logs],
        "logsBloom": bloom(r.logs_bloom),
        "status": quantity(r.status),
        "type": quantity(r.tx_type),
        # GoQuorum puts it on every receipt: true only for a privacy marker transaction's
        "isPrivacyMarkerTransaction": r.is_privacy_marker,
    }
    if r.revert_reason is not None:
        out["revertReason"] = data(r.revert_reason)
    if r.is_private:
        out["isPrivate"] = True
    return out


def block(b: BlockView, full_transactions: bool, pending: bool = False) -> dict[str, Any]:
    """`pending`: geth's RPCMarshalBlock for the pending block, whose hash, nonce and miner are null."""
    out: dict[str, Any] = {
        "number": quantity(b.number),
        "hash": data(b.hash),
        "parentHash": data(b.parent_hash),
        "nonce": data(b.nonce),
        "sha3Uncles": data(b.sha3_uncles),
        "logsBloom": bloom(b.logs_bloom),
        "transactionsRoot": data(b.transactions_root),
        "stateRoot": data(b.state_root),
        "receiptsRoot": data(b.receipts_root),
        "miner": address(b.miner),
        "difficulty": quantity(b.difficulty),
        "extraData": data(b.extra_data),
        "size": quantity(b.size),
        "gasLimit": quantity(b.gas_limit),
        "gasUsed": quantity(b.gas_used),
        "timestamp": quantity(b.timestamp),
        "mixHash": data(b.mix_hash),
        "uncles": [],
        "transactions": (
            [transaction(tx) for tx in b.transactions] if full_transactions
            else [data(tx.hash) for tx in b.transactions]
        ),
    }
    if b.base_fee_per_gas is not None:
        out["baseFeePerGas"] = quantity(b.base_fee_per_gas)
    if b.withdrawals_root is not None:
        out["withdrawalsRoot"] = data(b.withdrawals_root)
        out["withdrawals"] = []
    if b.blob_gas_used is not None:
        out["blobGasUsed"] = quantity(b.blob_gas_used)
    if b.excess_blob_gas is not None:
        out["excessBlobGas"] = quantity(b.excess_blob_gas)
    if b.parent_beacon_block_root is not None:
        out["parentBeaconBlockRoot"] = data(b.parent_beacon_block_root)
    if b.requests_hash is not None:
        out["requestsHash"] = data(b.requests_hash)
    if pending:
        out.update(hash=None, nonce=None, miner=None)
    return out


def simulated_block(b: SimulatedBlock) -> dict[str, Any]:
    """geth's simBlockResult: the block as eth_getBlockByNumber prints it, plus `calls`."""
    out = block(b.block, b.full_transactions)
    out["calls"] = [simulated_call(c, b.block.timestamp) for c in b.calls]
    return out


def simulated_call(c: SimulatedCall, timestamp: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "returnData": data(c.return_data),
        "logs": [{**log(entry), "blockTimestamp": quantity(timestamp)} for entry in c.logs],
        "gasUsed": quantity(c.gas_used),
        "maxUsedGas": quantity(c.max_used_gas),
        "status": quantity(c.status),
    }
    if c.error is not None:
        out["error"] = {"message": c.error.message, "code": c.error.code}
        if c.error.data is not None:
            out["error"]["data"] = data(c.error.data)
    return out


def fee_history(h: FeeHistory) -> dict[str, Any]:
    out: dict[str, Any] = {
        "oldestBlock": quantity(h.oldest_block),
        "baseFeePerGas": [quantity(f) for f in h.base_fee_per_gas],
        "gasUsedRatio": list(h.gas_used_ratio),
    }
    if h.reward is not None:
        out["reward"] = [[quantity(v) for v in row] for row in h.reward]
    return out


def filter_changes(items: Sequence[bytes | LogView]) -> list[Any]:
    """Block or pending-transaction hashes, or logs, as a filter delivers them."""
    return [data(item) if isinstance(item, bytes) else log(item) for item in items]


def privacy_value(value: object) -> Any:
    """A GoQuorum privacy metadata value: flags as numbers, hashes as 0x-hex, keys as given."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):
        return data(value)
    if isinstance(value, Mapping):
        return {str(k): privacy_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [privacy_value(v) for v in value]
    raise TypeError(f"cannot put a {type(value).__name__} on the wire")


def quorum_payload_extra(extra: ReceivedPayload) -> dict[str, Any]:
    return {
        "payload": data(extra.payload),
        "privacyFlag": int(extra.privacy_flag),
        "affectedContractTransactions": [data(h) for h in extra.affected_contract_transactions],
        "execHash": data(extra.exec_hash),
        "mandatoryRecipients": list(extra.mandatory_recipients),
    }
