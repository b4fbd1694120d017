"""Build a block from a batch of transactions in one pass, the way import does it.

Why not `MiningChain.apply_transaction`: it rebuilds the block's tries on every call
(quadratic). And why not `mine_all`: it skips Prague's pre/post-processing that
`import_block` runs, so a follower would compute a different state root. This module
runs the same steps as `VM.import_block`, but drops transactions that fail validation
instead of failing the whole block.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from eth.abc import BlockAPI, BlockHeaderAPI, ChainAPI, ReceiptAPI, SignedTransactionAPI, VirtualMachineAPI
from eth_utils import ValidationError

logger = logging.getLogger(__name__)


@dataclass
class BuiltBlock:
    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    rejected: list[tuple[SignedTransactionAPI, str]] = field(default_factory=list)
    deferred: list[SignedTransactionAPI] = field(default_factory=list)  # did not fit; try next block


def build_block(chain: ChainAPI, parent: BlockHeaderAPI, transactions: list[SignedTransactionAPI],
                timestamp: int, coinbase: bytes) -> BuiltBlock:
    """Execute `transactions` on top of `parent` and seal the block (not yet persisted)."""
    template = chain.create_header_from_parent(parent, timestamp=timestamp, coinbase=coinbase,
                                               gas_limit=parent.gas_limit)
    vm = chain.get_vm(template)
    block_template = vm.get_block()
    execution_context = vm.create_execution_context(template, vm.previous_hashes, vm.chain_context)
    header = vm.get_header().copy(gas_used=0)
    vm._state = vm.get_state_class()(vm.chaindb.db, execution_context, header.state_root)  # as import_block
    vm.block_preprocessing(block_template)

    included: list[SignedTransactionAPI] = []
    receipts: list[ReceiptAPI] = []
    rejected: list[tuple[SignedTransactionAPI, str]] = []
    deferred: list[SignedTransactionAPI] = []
    previous_header = header
    held_back: set[bytes] = set()  # senders with a deferred or rejected tx: their later nonces cannot run
    for tx in transactions:
        if tx.sender in held_back:
            deferred.append(tx)
            continue
        if tx.gas > previous_header.gas_limit - previous_header.gas_used:
            deferred.append(tx)
            held_back.add(tx.sender)
            continue
        try:
            receipt = _apply_transaction(vm, previous_header, tx)
        except ValidationError as exc:
            rejected.append((tx, str(exc)))
            held_back.add(tx.sender)
            continue
        previous_header = vm.add_receipt_to_header(previous_header, receipt)
        previous_header = vm.increment_blob_gas_used(previous_header, tx)
        included.append(tx)
        receipts.append(receipt)

    filled = vm.set_block_transactions_and_withdrawals(vm.get_block(), previous_header, included, receipts)
    processed = vm.block_postprocessing(filled)
    sealed = vm.mine_block(processed).block
    return BuiltBlock(sealed, tuple(receipts), rejected, deferred)


def _apply_transaction(vm: VirtualMachineAPI, header: BlockHeaderAPI, tx: SignedTransactionAPI) -> ReceiptAPI:
    """`VM.apply_transaction`, made revertible: its `lock_changes()` discards every journal
    checkpoint, so a snapshot taken before the call cannot be reverted to; take it after."""
    vm.validate_transaction_against_header(header, tx)
    vm.state.lock_changes()
    snapshot = vm.state.snapshot()
    try:
        computation = vm.state.apply_transaction(tx)
        receipt = vm.make_receipt(header, tx, computation, vm.state)
        vm.validate_receipt(receipt)
    except ValidationError:
        vm.state.revert(snapshot)
        raise
    vm.state.commit(snapshot)
    return receipt
