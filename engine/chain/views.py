"""py-evm objects → the domain views of engine/types.py (no wire formatting here)."""

from __future__ import annotations

from dataclasses import replace

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS

from engine.chain.pmt import is_privacy_marker
from engine.types import Address, BlockView, Hash32, LogView, ReceiptView, SignedAuthorization, TransactionView

SET_CODE_TX_TYPE = 4  # EIP-7702


def tx_type(tx: SignedTransactionAPI) -> int:
    return int(getattr(tx, "type_id", None) or 0)


def transaction_view(tx: SignedTransactionAPI, block: BlockAPI | None = None, index: int | None = None,
                     base_fee: int = 0) -> TransactionView:
    kind = tx_type(tx)
    legacy = kind in (0, 1)
    max_fee = None if legacy else int(tx.max_fee_per_gas)
    max_tip = None if legacy else int(tx.max_priority_fee_per_gas)
    if legacy:
        gas_price = int(tx.gas_price)
    else:
        gas_price = min(max_fee or 0, base_fee + (max_tip or 0)) if block is not None else max_fee
    v = int(tx.v) if kind == 0 else int(tx.y_parity)
    return TransactionView(
        hash=Hash32(tx.hash),
        tx_type=kind,
        sender=Address(tx.sender),
        to=None if tx.to == CREATE_CONTRACT_ADDRESS else Address(tx.to),
        nonce=int(tx.nonce),
        gas=int(tx.gas),
        value=int(tx.value),
        data=bytes(tx.data),
        v=v,
        r=int(tx.r),
        s=int(tx.s),
        gas_price=gas_price,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=max_tip,
        chain_id=tx.chain_id,
        access_list=tuple((Address(a), tuple(int(s) for s in slots)) for a, slots in tx.access_list)
        if kind != 0 else (),
        y_parity=None if kind == 0 else int(tx.y_parity),
        block_hash=Hash32(block.hash) if block is not None else None,
        block_number=int(block.number) if block is not None else None,
        transaction_index=index,
        is_private=bool(getattr(tx, "is_private", False)),
        authorization_list=_authorizations(tx) if kind == SET_CODE_TX_TYPE else None,
    )


def _authorizations(tx: SignedTransactionAPI) -> tuple[SignedAuthorization, ...]:
    return tuple(SignedAuthorization(chain_id=int(a.chain_id), address=Address(a.address), nonce=int(a.nonce),
                                     y_parity=int(a.y_parity), r=int(a.r), s=int(a.s))
                 for a in tx.authorization_list)


def contract_address_for(tx: SignedTransactionAPI) -> Address | None:
    if tx.to != CREATE_CONTRACT_ADDRESS:
        return None
    return Address(generate_contract_address(tx.sender, tx.nonce))


def receipt_views(block: BlockAPI, receipts: tuple[ReceiptAPI, ...] | list[ReceiptAPI],
                  first_log_index: int = 0) -> list[ReceiptView]:
    """Receipts of a block with logs numbered block-wide, gas per transaction derived."""
    views = []
    log_index = first_log_index
    previous_cumulative = 0
    base_fee = int(getattr(block.header, "base_fee_per_gas", 0) or 0)
    for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
        logs = []
        for log in receipt.logs:
            logs.append(LogView(
                address=Address(log.address),
                topics=tuple(Hash32(t.to_bytes(32, "big")) for t in log.topics),
                data=bytes(log.data),
                block_number=int(block.number),
                block_hash=Hash32(block.hash),
                transaction_hash=Hash32(tx.hash),
                transaction_index=index,
                log_index=log_index,
            ))
            log_index += 1
        kind = tx_type(tx)
        gas_price = int(tx.gas_price) if kind in (0, 1) else min(
            int(tx.max_fee_per_gas), base_fee + int(tx.max_priority_fee_per_gas))
        views.append(ReceiptView(
            transaction_hash=Hash32(tx.hash),
            transaction_index=index,
            block_hash=Hash32(block.hash),
            block_number=int(block.number),
            sender=Address(tx.sender),
            to=None if tx.to == CREATE_CONTRACT_ADDRESS else Address(tx.to),
            cumulative_gas_used=int(receipt.gas_used),
            gas_used=int(receipt.gas_used) - previous_cumulative,
            effective_gas_price=gas_price,
            contract_address=contract_address_for(tx) if receipt.state_root == b"\x01" else None,
            logs=tuple(logs),
            logs_bloom=int(receipt.bloom),
            status=1 if receipt.state_root == b"\x01" else 0,
            tx_type=kind,
            is_private=bool(getattr(tx, "is_private", False)),
            is_privacy_marker=is_privacy_marker(tx),
        ))
        previous_cumulative = int(receipt.gas_used)
    return views


def block_view(block: BlockAPI, full: bool) -> BlockView:
    h = block.header
    base_fee = int(getattr(h, "base_fee_per_gas", 0) or 0)
    if full:
        txs = tuple(transaction_view(tx, block, i, base_fee) for i, tx in enumerate(block.transactions))
    else:
        txs = tuple(_hash_only(tx) for tx in block.transactions)
    return BlockView(
        number=int(h.block_number),
        hash=Hash32(h.hash),
        parent_hash=Hash32(h.parent_hash),
        nonce=bytes(h.nonce),
        sha3_uncles=Hash32(h.uncles_hash),
        logs_bloom=int(h.bloom),
        transactions_root=Hash32(h.transaction_root),
        state_root=Hash32(h.state_root),
        receipts_root=Hash32(h.receipt_root),
        miner=Address(h.coinbase),
        difficulty=int(h.difficulty),
        extra_data=bytes(h.extra_data),
        size=len(rlp.encode(block)),
        gas_limit=int(h.gas_limit),
        gas_used=int(h.gas_used),
        timestamp=int(h.timestamp),
        mix_hash=Hash32(h.mix_hash),
        base_fee_per_gas=base_fee,
        withdrawals_root=Hash32(h.withdrawals_root) if hasattr(h, "withdrawals_root") else None,
        blob_gas_used=int(getattr(h, "blob_gas_used", 0)),
        excess_blob_gas=int(getattr(h, "excess_blob_gas", 0)),
        parent_beacon_block_root=Hash32(h.parent_beacon_block_root) if hasattr(h, "parent_beacon_block_root")
        else None,
        requests_hash=Hash32(h.requests_hash) if hasattr(h, "requests_hash") else None,
        transactions=txs,
    )


def pending_block_view(block: BlockAPI, full: bool) -> BlockView:
    """`block_view` of the pending block: its transactions as the pool shows them (null block
    fields, as eth_getTransactionByHash has them), since that block is never stored."""
    view = block_view(block, False)
    return replace(view, transactions=tuple(transaction_view(tx) for tx in block.transactions)) if full else view


def _hash_only(tx: SignedTransactionAPI) -> TransactionView:
    return TransactionView(hash=Hash32(tx.hash), tx_type=tx_type(tx), sender=Address(b""), to=None, nonce=0,
                           gas=0, value=0, data=b"", v=0, r=0, s=0)
