"""Our fork of py-evm's newest fork (Prague), by subclassing and `configure()` only.

Deviations from Ethereum mainnet, each one GoQuorum's or a permissioned chain's:
1. Private marker transactions: legacy, signed without EIP-155 (Homestead signer), `v`
   raised by 10 to 37/38. `chain/marker.py` decodes and signs them.
2. The public side of a private marker does not run the EVM: nonce + 1 and intrinsic gas
   on the 64-byte hash only. The private side is handed to the state's `private_executor`
   (the node's `PrivateStateAPI`).
   A privacy marker transaction (a public call to GoQuorum's privacy precompile address,
   `chain/pmt.py`) runs publicly as any call; its inner private transaction is handed to the
   executor when that executor knows PMTs (`PrivacyMarkerExecutorAPI`).
3. Gas-free network: the base fee is pinned to 0 (GoQuorum runs with gas price 0).
4. Sub-second blocks: a child's timestamp may equal its parent's (must not go back).

Not a deviation: RPC calls may run under a deadline (`evm_deadline`), which py-evm cannot
cancel on its own; block execution never has one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI, TransactionFieldsAPI
from eth.constants import POST_MERGE_DIFFICULTY, POST_MERGE_NONCE, POST_MERGE_OMMERS_HASH
from eth.validation import validate_gas_limit, validate_length_lte
from eth.vm.base import BlockAndMetaWitness
from eth.vm.code_stream import CodeStream
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague import DEPOSIT_CONTRACT_ADDRESS, DEPOSIT_REQUEST_TYPE, PragueVM
from eth.vm.forks.prague.blocks import PragueBlock, PragueBlockHeader
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.headers import create_prague_header_from_parent
from eth.vm.forks.prague.state import PragueState, PragueTransactionExecutor
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth.vm.interrupt import EVMMissingData
from eth.vm.message import Message
from eth.vm.opcode_values import STOP
from eth_bloom import BloomFilter
from eth_utils import ValidationError, keccak
from rlp.sedes import CountableList

from engine.abc import PrivateStateAPI
from engine.chain.marker import PrivateMarkerAwareLegacyTransaction, is_private_marker
from engine.chain.pmt import PrivacyMarkerExecutorAPI, is_privacy_marker
from engine.chain.signed import PrivnetTypedTransaction


class PrivnetTransactionBuilder(PragueTransactionBuilder):
    legacy_signed = PrivateMarkerAwareLegacyTransaction
    typed_transaction = PrivnetTypedTransaction


class PrivnetBlock(PragueBlock):
    # `fields` binds the transaction sedes when the class is made, so it is restated here.
    transaction_builder = PrivnetTransactionBuilder
    fields = [
        ("header", PragueBlockHeader),
        ("transactions", CountableList(PrivnetTransactionBuilder)),
        ("uncles", CountableList(None, max_length=0)),
        ("withdrawals", CountableList(Withdrawal)),
    ]


class PrivnetTransactionExecutor(PragueTransactionExecutor):
    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        chain_id = transaction.chain_id
        if chain_id is not None and chain_id != self.vm_state.execution_context.chain_id:
            raise ValidationError(f"invalid chain id {chain_id}")
        if is_private_marker(transaction):
            if transaction.value:
                raise ValidationError("ether value is not supported for private transactions")
            if transaction.gas < transaction.intrinsic_gas:
                raise ValidationError("intrinsic gas too low")
        super().validate_transaction(transaction)

    def __call__(self, transaction: SignedTransactionAPI) -> ComputationAPI:
        if not is_private_marker(transaction):
            computation = super().__call__(transaction)
            if is_privacy_marker(transaction):
                # GoQuorum's privacy precompile (chain/pmt.py): the public side was an ordinary
                # call; a private executor that knows PMTs runs the inner private transaction.
                executor = getattr(self.vm_state, "private_executor", None)
                if isinstance(executor, PrivacyMarkerExecutorAPI):
                    executor.execute_privacy_marker(transaction, self.vm_state)
            return computation
        return self._apply_private_marker(transaction)

    def _apply_private_marker(self, transaction: SignedTransactionAPI) -> ComputationAPI:
        """Public side of a private transaction (GoQuorum `TransitionDb` for isPrivate).

        1. Validate as any transaction (signature, chain, nonce, funds, intrinsic gas
           computed on the 64-byte hash).
        2. Move the sender's public nonce; buy gas at the (zero) price; run no EVM code.
        3. Hand the transaction to the private executor, which runs the decrypted payload
           on this node's private state, or skips it when this node is not a party.
        4. Finalize as an empty successful call: the receipt is status 1, no logs, and the
           gas used is the intrinsic gas (or EIP-7623's calldata floor on the hash, if
           higher), identical on parties and non-parties.
        """
        state = self.vm_state
        self.validate_transaction(transaction)
        state.delta_balance(transaction.sender, -transaction.gas * state.get_gas_price(transaction))
        state.increment_nonce(transaction.sender)
        message = Message(
            gas=transaction.gas - transaction.intrinsic_gas,
            to=transaction.to,
            sender=transaction.sender,
            value=0,
            data=b"",
            code=b"",
        )
        computation = state.get_computation(message, state.get_transaction_context(transaction))
        executor = getattr(state, "private_executor", None)
        if executor is not None:
            executor.execute_private(transaction, state)
        return self.finalize_computation(transaction, computation)


# -- deadlines for RPC calls -------------------------------------------------------------------

DEADLINE_CHECK_EVERY = 1024  # opcodes between two clock reads
_deadline = threading.local()


class ExecutionTimeout(Exception):  # noqa: N818 - a signal, like py-evm's EVMMissingData
    """Raised out of the opcode loop when the thread's call deadline has passed.

    Why not a VMError: every computation frame swallows a VMError and its parent would run
    on; this one unwinds the whole call at once.
    """


@contextmanager
def evm_deadline(seconds: float) -> Iterator[None]:
    """Computations started on this thread inside the block stop `seconds` from now (0: never)."""
    previous = getattr(_deadline, "at", None)
    _deadline.at = time.monotonic() + seconds if seconds > 0 else None
    try:
        yield
    finally:
        _deadline.at = previous


class _DeadlineCodeStream(CodeStream):
    __slots__ = ["_deadline_at"]

    def __init__(self, code_bytes: bytes, deadline_at: float) -> None:
        super().__init__(code_bytes)
        self._deadline_at = deadline_at

    def __iter__(self) -> Iterator[int]:
        # CodeStream.__iter__ plus a countdown: the clock is read once per DEADLINE_CHECK_EVERY opcodes.
        code = self._raw_code_bytes
        deadline_at = self._deadline_at
        countdown = DEADLINE_CHECK_EVERY
        while True:
            try:
                opcode = code[self.program_counter]
            except IndexError:
                break
            self.program_counter += 1
            countdown -= 1
            if not countdown:
                if time.monotonic() > deadline_at:
                    raise ExecutionTimeout
                countdown = DEADLINE_CHECK_EVERY
            yield opcode
        yield STOP


class PrivnetComputation(PragueComputation):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        deadline_at = getattr(_deadline, "at", None)
        if deadline_at is not None:
            self.code = _DeadlineCodeStream(self.msg.code, deadline_at)


class PrivnetState(PragueState):
    computation_class = PrivnetComputation
    transaction_executor_class = PrivnetTransactionExecutor
    private_executor: PrivateStateAPI | None = None


def _create_header_from_parent(parent_header: BlockHeaderAPI | None, **params: Any) -> BlockHeaderAPI:
    # Every block's base fee is 0; the genesis takes its spec's (0, or 1 gwei for genesis
    # files written before the spec had `baseFeePerGas`: their hash must not change).
    base_fee = params.pop("base_fee_per_gas", None)
    header = create_prague_header_from_parent(parent_header, **params)
    if parent_header is None:
        return header if base_fee is None else header.copy(base_fee_per_gas=base_fee)
    return header.copy(base_fee_per_gas=0)


class PrivnetVM(PragueVM):
    fork = "prague"
    block_class = PrivnetBlock
    _state_class = PrivnetState
    create_header_from_parent = staticmethod(_create_header_from_parent)  # type: ignore[assignment]

    # Note: py-evm's `finalize_block` and `pack_block` `copy()` the block, and rlp's copy
    # deep-copies every field not passed in: all the block's transactions, twice per block,
    # on every node. Transactions are immutable rlp objects, so these pass them through.
    def finalize_block(self, block: Any) -> BlockAndMetaWitness:
        if block.number > 0:
            snapshot = self.state.snapshot()
            try:
                self._assign_block_rewards(block)
            except EVMMissingData:
                self.state.revert(snapshot)
                raise
            else:
                self.state.commit(snapshot)
        meta_witness = self.state.persist()
        header = block.header.copy(state_root=self.state.state_root)
        return BlockAndMetaWitness(_shallow_copy(block, header=header), meta_witness)

    def pack_block(self, block: Any, *args: Any, **kwargs: Any) -> Any:
        if "uncles" in kwargs:
            uncles = kwargs.pop("uncles")
            kwargs.setdefault("uncles_hash", keccak(rlp.encode(uncles)))
        else:
            uncles = block.uncles
        unknown = set(kwargs) - set(self.get_header()._meta.field_names)
        if unknown:
            raise AttributeError(f"Unable to set the field(s) {', '.join(sorted(unknown))} on the block header")
        return _shallow_copy(block, header=block.header.copy(**kwargs), uncles=uncles)

    # py-evm copies the block header twice per transaction (receipt totals, blob gas); rlp's copy
    # deep-copies and revalidates its 21 fields (~29 µs). The header's fields are immutable
    # values, so these build the next header from them directly (~2 µs).
    def add_receipt_to_header(self, old_header: BlockHeaderAPI, receipt: ReceiptAPI) -> BlockHeaderAPI:
        return header_with(old_header, bloom=int(BloomFilter(old_header.bloom) | receipt.bloom),
                           gas_used=receipt.gas_used)

    def increment_blob_gas_used(self, old_header: BlockHeaderAPI, transaction: TransactionFieldsAPI) -> BlockHeaderAPI:
        blob_gas = get_total_blob_gas(transaction)
        return old_header if blob_gas == 0 else header_with(old_header,
                                                            blob_gas_used=old_header.blob_gas_used + blob_gas)

    def apply_all_transactions(self, transactions: Any, base_header: BlockHeaderAPI) -> Any:
        # Kept so the node can index an imported block's receipts without decoding them again.
        result = super().apply_all_transactions(transactions, base_header)
        self.last_receipts = result[1]
        return result

    def process_deposit_request_data(self, block: Any) -> None:
        # Prague re-reads every receipt of the block looking for the beacon deposit contract's
        # logs. No code there means no such log can exist: the request list is the same (empty),
        # on every node, without decoding the receipts again.
        if self.state.get_code(DEPOSIT_CONTRACT_ADDRESS):
            super().process_deposit_request_data(block)
        else:
            block.block_requests.append(DEPOSIT_REQUEST_TYPE)

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        validate_gas_limit(header.gas_limit, parent_header.gas_limit)
        if header.base_fee_per_gas != 0:
            raise ValidationError(f"base fee must be 0 on this network, got {header.base_fee_per_gas}")

    @classmethod
    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if parent_header is None:
            raise ValidationError("Must have access to parent header to validate current header")
        validate_length_lte(header.extra_data, cls.extra_data_max_bytes, title="BlockHeader.extra_data")
        cls.validate_gas(header, parent_header)
        if header.block_number != parent_header.block_number + 1:
            raise ValidationError(
                f"Blocks must be numbered consecutively: #{header.block_number} has parent "
                f"#{parent_header.block_number}"
            )
        if header.timestamp < parent_header.timestamp:
            raise ValidationError("timestamp must not be earlier than the parent's")
        if header.difficulty != POST_MERGE_DIFFICULTY:
            raise ValidationError(f"Difficulty must be {POST_MERGE_DIFFICULTY}")
        if header.nonce != POST_MERGE_NONCE:
            raise ValidationError("Nonce must be zero")
        if header.uncles_hash != POST_MERGE_OMMERS_HASH:
            raise ValidationError("Uncles hash must be empty")


def header_with(header: BlockHeaderAPI, **changes: int) -> BlockHeaderAPI:
    """`header.copy(**changes)` for integer fields: the other fields are shared, nothing is
    revalidated (the sedes check every value when the header is encoded), and the copy starts
    without the original's cached encoding."""
    meta = header._meta  # type: ignore[attr-defined]
    unknown = changes.keys() - set(meta.field_names)
    if unknown:
        raise AttributeError(f"no header field(s) {', '.join(sorted(unknown))}")
    new = object.__new__(type(header))
    fields = new.__dict__
    for name, attr in zip(meta.field_names, meta.field_attrs, strict=True):
        fields[attr] = changes[name] if name in changes else getattr(header, attr)
    return new


def _shallow_copy(block: Any, **changes: Any) -> Any:
    """`block.copy(**changes)` that shares (does not deep-copy) the unchanged fields."""
    fields = {name: getattr(block, name) for name in block._meta.field_names}
    fields.update(changes)
    return type(block)(**fields)


def make_vm_class(private_executor: PrivateStateAPI | None) -> type[PrivnetVM]:
    """A VM class whose state hands private markers to `private_executor` (one per node)."""
    state_class = PrivnetState.configure(__name__="NodePrivnetState", private_executor=private_executor)
    return PrivnetVM.configure(__name__="NodePrivnetVM", _state_class=state_class)
