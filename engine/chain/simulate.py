"""`eth_simulateV1`: calls packed into simulated blocks on top of a committed block; nothing is
committed.

geth's `internal/ethapi/simulate.go`, on py-evm:
1. The request is checked before anything runs: at most 256 blocks (and no block number more
   than 256 past the base), 5,000 calls per block and 10,000 in all; block numbers strictly
   increase (a gap is filled with empty blocks, 12 s apart), and so do timestamps (default:
   the previous one + 12).
2. One state, over CallRunner's lock-free snapshot of the base block, carries across calls and
   blocks. Per block: the header from its overrides (fee recipient and gas limit carry over
   from the previous block), the system calls (EIP-4788, EIP-2935), its state overrides, then
   its calls in order.
3. A call's sender defaults to the zero address, its nonce to the state's, its gas to what is
   left of the block's gas limit; the RPC gas cap is one budget for the whole request, and
   the RPC EVM timeout bounds the whole request.
4. `validation` checks the nonce and fees as for a real transaction; without it the nonce is
   not checked and zero fees pass any base fee. As in geth, funds for gas * price + value and
   the intrinsic gas are checked in both modes. A failed check fails the whole request with
   geth's code (-38010...); a revert or VM error is only that call's result.
5. The base fee is 0 unless overridden, with or without validation: this chain pins it to 0
   (geth computes EIP-1559's from the parent when validating).
6. Public state only: a private contract's public account has no code, so it is not run.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from eth.abc import BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI
from eth.constants import (
    BLANK_ROOT_HASH,
    CREATE_CONTRACT_ADDRESS,
    EMPTY_SHA256,
    EMPTY_UNCLE_HASH,
    ZERO_HASH32,
)
from eth.db.trie import make_trie_root_and_nodes
from eth.exceptions import Revert
from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS, BEACON_ROOTS_CONTRACT_CODE, HISTORY_BUFFER_LENGTH
from eth.vm.forks.prague.constants import (
    HISTORY_SERVE_WINDOW,
    HISTORY_STORAGE_ADDRESS,
    HISTORY_STORAGE_CONTRACT_CODE,
)
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth_utils import keccak, to_checksum_address

from engine.chain.calls import CallRunner, apply_overrides, check_overrides, revert_data, vm_error_text
from engine.chain.views import block_view
from engine.errors import (
    BlockGasLimitReached,
    BlockNumberInvalid,
    BlockTimestampInvalid,
    ClientLimitExceeded,
    ExecutionReverted,
    FeeCapTooLow,
    InitCodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidParams,
    NonceTooHigh,
    NonceTooLow,
    TransactionRejected,
)
from engine.revert import decode_revert_reason
from engine.types import (
    Address,
    BlockId,
    BlockOverrides,
    CallError,
    Hash32,
    LogView,
    SimulatedBlock,
    SimulatedBlockRequest,
    SimulatedCall,
    SimulateOptions,
    TxRequest,
)

MAX_SIMULATE_BLOCKS = 256
MAX_CALLS_PER_BLOCK = 5_000
MAX_TOTAL_CALLS = 10_000
TIMESTAMP_INCREMENT = 12
VM_ERROR_CODE = -32015  # geth's errCodeVMError: a call failed for another reason than a revert
PREVIOUS_HASHES = 256

# ERC-7528's pseudo address for ether, and ERC-20's Transfer event: geth's traceTransfers logs.
TRANSFER_ADDRESS = Address(b"\xee" * 20)
TRANSFER_TOPIC = int.from_bytes(keccak(b"Transfer(address,address,uint256)"), "big")
ZERO_ADDRESS = Address(b"\x00" * 20)
_GAS_CAPPED = " (gas limit was capped by the RPC server's global gas cap)"


class Simulator:
    """Runs `eth_simulateV1` with the snapshot, overrides, gas cap and timeout of `calls`."""

    def __init__(self, calls: CallRunner) -> None:
        self.calls = calls

    def simulate(self, options: SimulateOptions, block_id: BlockId) -> list[SimulatedBlock]:
        check_limits(options.blocks)
        base = self.calls.header_for(block_id)
        for request in options.blocks:
            check_overrides(request.state_overrides)
        plan = plan_blocks(base, options.blocks)
        with self.calls.guarded():
            run = _Run(self.calls, base, options)
            return [run.block(number, timestamp, request) for number, timestamp, request in plan]


# -- checks made before anything runs -------------------------------------------------------


def check_limits(blocks: tuple[SimulatedBlockRequest, ...]) -> None:
    """geth's SimulateV1 limits, in its order."""
    if not blocks:
        raise InvalidParams("empty input")
    if len(blocks) > MAX_SIMULATE_BLOCKS:
        raise ClientLimitExceeded("too many blocks")
    total = 0
    for request in blocks:
        if len(request.calls) > MAX_CALLS_PER_BLOCK:
            raise ClientLimitExceeded(f"too many calls in block: {len(request.calls)} > {MAX_CALLS_PER_BLOCK}")
        total += len(request.calls)
        if total > MAX_TOTAL_CALLS:
            raise ClientLimitExceeded(f"too many calls: {total} > {MAX_TOTAL_CALLS}")


def plan_blocks(base: BlockHeaderAPI, blocks: Iterable[SimulatedBlockRequest]
                ) -> list[tuple[int, int, SimulatedBlockRequest]]:
    """geth's sanitizeChain: (number, timestamp, request) of every block, gaps filled with empty ones."""
    planned: list[tuple[int, int, SimulatedBlockRequest]] = []
    base_number = prev_number = int(base.block_number)
    prev_time = int(base.timestamp)
    for request in blocks:
        overrides = request.block_overrides or BlockOverrides()
        number = prev_number + 1 if overrides.number is None else overrides.number
        if number <= prev_number:
            raise BlockNumberInvalid(f"block numbers must be in order: {number} <= {prev_number}")
        if number - base_number > MAX_SIMULATE_BLOCKS:
            raise ClientLimitExceeded("too many blocks")
        for gap in range(prev_number + 1, number):
            prev_time += TIMESTAMP_INCREMENT
            planned.append((gap, prev_time, SimulatedBlockRequest()))
        prev_number = number
        if overrides.time is None:
            timestamp = prev_time + TIMESTAMP_INCREMENT
        elif overrides.time <= prev_time:
            raise BlockTimestampInvalid(f"block timestamps must be in order: {overrides.time} <= {prev_time}")
        else:
            timestamp = overrides.time
        prev_time = timestamp
        planned.append((number, timestamp, request))
    return planned


# -- py-evm refinements for simulated calls ---------------------------------------------------


class _TransferTracing:
    """A call frame that moves ether records it as a log of TRANSFER_ADDRESS, numbered in the
    transaction's log order (geth's simulate tracer). Kept apart from the frame's real logs, so
    receipts and blooms hold only those; a failed frame's records are dropped with its logs."""

    def __init__(self, state: Any, message: Any, transaction_context: Any) -> None:
        super().__init__(state, message, transaction_context)  # type: ignore[call-arg]
        self.transfers: list[tuple[int, bytes, tuple[int, ...], bytes]] = []
        if state.trace_transfers and message.should_transfer_value and message.value:
            topics = (TRANSFER_TOPIC, int.from_bytes(message.sender, "big"),
                      int.from_bytes(message.storage_address, "big"))
            self.transfers.append((transaction_context.get_next_log_counter(), TRANSFER_ADDRESS, topics,
                                   message.value.to_bytes(32, "big")))


class _Unvalidated:
    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        """Checked before the run, in geth's order and words (`_Run._check`); the signature is
        all zeros, as in geth's simulated transactions."""


class _SimulationRules:
    trace_transfers = False

    def get_tip(self, transaction: SignedTransactionAPI) -> int:
        # Zero fees under an overridden base fee (validation off): geth's NoBaseFee pays no tip.
        return max(0, super().get_tip(transaction))  # type: ignore[misc]


@functools.lru_cache(maxsize=8)
def _simulation_state_class(state_class: type) -> type:
    computation = type("SimulatedComputation", (_TransferTracing, state_class.computation_class), {})
    executor = type("SimulatedExecutor", (_Unvalidated, state_class.transaction_executor_class), {})
    return type("SimulatedState", (_SimulationRules, state_class),
                {"computation_class": computation, "transaction_executor_class": executor})


def _transfers(computation: Any) -> list[tuple[int, bytes, tuple[int, ...], bytes]]:
    if computation.is_error:
        return []
    found = list(computation.transfers)
    for child in computation.children:
        found.extend(_transfers(child))
    return found


# -- one simulation -----------------------------------------------------------------------------


@dataclass
class _Tx:
    tx: SignedTransactionAPI
    fee_cap: int
    tip: int
    gas_capped: bool


class _Run:
    """The state and chain of one request: blocks are simulated one after the other on it."""

    def __init__(self, calls: CallRunner, base: BlockHeaderAPI, options: SimulateOptions) -> None:
        self.chain = calls.chain
        self.options = options
        self.budget = calls.gas_cap or 2**64 - 1
        vm = self.chain.snapshot_vm(base)
        self.vm_class = type(vm)
        self.chain_context = vm.chain_context
        self.state: Any = _simulation_state_class(vm.get_state_class())(
            vm.chaindb.db, vm.state.execution_context, base.state_root)
        self.state.trace_transfers = options.trace_transfers
        self.parent = base
        self.coinbase = base.coinbase
        self.gas_limit = int(base.gas_limit)
        self.previous_hashes = [base.hash, *itertools.islice(vm.previous_hashes, PREVIOUS_HASHES - 1)]

    def block(self, number: int, timestamp: int, request: SimulatedBlockRequest) -> SimulatedBlock:
        header = self._header(number, timestamp, request.block_overrides or BlockOverrides())
        self.state.execution_context = self.vm_class.create_execution_context(
            header, tuple(self.previous_hashes), self.chain_context)
        _system_calls(self.state, header)
        if request.state_overrides:
            apply_overrides(self.state, request.state_overrides)
        txs: list[SignedTransactionAPI] = []
        receipts: list[Any] = []
        results: list[SimulatedCall] = []
        cumulative = log_base = 0
        for index, call in enumerate(request.calls):
            prepared = self._transaction(call, header, cumulative)
            self._check(prepared, header)
            computation = self.state.apply_transaction(prepared.tx)
            self.state.lock_changes()
            receipt = self.vm_class.make_receipt(header.copy(gas_used=cumulative), prepared.tx, computation, self.state)
            used = int(receipt.gas_used) - cumulative
            cumulative = int(receipt.gas_used)
            self.budget -= used  # gas was capped to the budget, so it never goes below 0
            results.append(self._result(prepared, computation, used, header, index, log_base))
            log_base += computation.transaction_context.get_next_log_counter()
            txs.append(prepared.tx)
            receipts.append(receipt)
        tx_root, _ = make_trie_root_and_nodes(tuple(txs))
        receipt_root, _ = make_trie_root_and_nodes(tuple(receipts))
        header = header.copy(gas_used=cumulative, transaction_root=tx_root, receipt_root=receipt_root,
                             bloom=functools.reduce(operator.or_, (int(r.bloom) for r in receipts), 0),
                             state_root=self.state.make_state_root())
        block = self.vm_class.get_block_class()(header=header, transactions=txs, uncles=[], withdrawals=[])
        self.parent = header
        self.previous_hashes = [header.hash, *self.previous_hashes[:PREVIOUS_HASHES - 1]]
        full = self.options.return_full_transactions
        repaired = tuple(replace(r, logs=tuple(replace(log, block_hash=Hash32(header.hash)) for log in r.logs))
                         for r in results)
        return SimulatedBlock(block=block_view(block, full), calls=repaired, full_transactions=full)

    def _header(self, number: int, timestamp: int, overrides: BlockOverrides) -> BlockHeaderAPI:
        """geth's makeHeaders: fee recipient and gas limit carry over; prevRandao does not."""
        if overrides.fee_recipient is not None:
            self.coinbase = overrides.fee_recipient
        if overrides.gas_limit is not None:
            self.gas_limit = overrides.gas_limit
        return self.parent.copy(
            parent_hash=self.parent.hash, uncles_hash=EMPTY_UNCLE_HASH, coinbase=self.coinbase,
            state_root=BLANK_ROOT_HASH, transaction_root=BLANK_ROOT_HASH, receipt_root=BLANK_ROOT_HASH, bloom=0,
            difficulty=0, block_number=number, gas_limit=self.gas_limit, gas_used=0, timestamp=timestamp,
            extra_data=b"", mix_hash=overrides.prev_randao or ZERO_HASH32, nonce=b"\x00" * 8,
            base_fee_per_gas=overrides.base_fee_per_gas or 0, withdrawals_root=BLANK_ROOT_HASH, blob_gas_used=0,
            excess_blob_gas=0, parent_beacon_block_root=ZERO_HASH32, requests_hash=EMPTY_SHA256)

    def _transaction(self, call: TxRequest, header: BlockHeaderAPI, cumulative: int) -> _Tx:
        """geth's sanitizeCall, CallDefaults and ToTransaction: an unsigned transaction (v = r = s = 0)
        whose sender is set, type 2 unless `gasPrice` is given."""
        sender = call.sender or ZERO_ADDRESS
        nonce = int(self.state.get_nonce(sender)) if call.nonce is None else call.nonce
        remaining = int(header.gas_limit) - cumulative
        wanted = remaining if call.gas is None else call.gas
        if remaining < wanted:
            raise BlockGasLimitReached(f"block gas limit reached: remaining: {remaining}, required: {wanted}")
        gas = min(wanted, self.budget)
        chain_id = self.chain.chain_id
        if call.chain_id is not None and call.chain_id != chain_id:
            raise TransactionRejected(f"chainId does not match node's (have={call.chain_id}, want={chain_id})")
        to = CREATE_CONTRACT_ADDRESS if call.to is None else call.to
        builder = self.chain.tx_builder
        fields = dict(nonce=nonce, gas=gas, to=to, value=call.value, data=call.data)
        if call.gas_price is not None:
            fee_cap = tip = call.gas_price
            if call.access_list:
                tx = builder.new_access_list_transaction(chain_id=chain_id, gas_price=fee_cap,
                                                         access_list=call.access_list, y_parity=0, r=0, s=0, **fields)
            else:
                tx = builder.new_transaction(gas_price=fee_cap, v=0, r=0, s=0, **fields)
        else:
            fee_cap, tip = call.max_fee_per_gas or 0, call.max_priority_fee_per_gas or 0
            tx = builder.new_dynamic_fee_transaction(chain_id=chain_id, max_priority_fee_per_gas=tip,
                                                     max_fee_per_gas=fee_cap, access_list=call.access_list,
                                                     y_parity=0, r=0, s=0, **fields)
        if not isinstance(tx, builder.legacy_signed):
            # py-evm's inherited builders return an older fork's typed class, which this fork's
            # block body cannot encode: round-trip through the fork's own decoder.
            tx = builder.decode(tx.encode())
        tx.__dict__["sender"] = sender  # the cached property py-evm would recover from the signature
        return _Tx(tx=tx, fee_cap=fee_cap, tip=tip, gas_capped=gas < wanted)

    def _check(self, prepared: _Tx, header: BlockHeaderAPI) -> None:
        """geth's preCheck, buyGas and TransitionDb checks, in that order, with geth's wording."""
        tx, state = prepared.tx, self.state
        sender = to_checksum_address(tx.sender)
        supplied = f" (supplied gas {tx.gas})"
        if self.options.validation:
            have = int(state.get_nonce(tx.sender))
            if have < tx.nonce:
                raise NonceTooHigh(f"err: nonce too high: address {sender}, tx: {tx.nonce} state: {have}{supplied}")
            if have > tx.nonce:
                raise NonceTooLow(f"err: nonce too low: address {sender}, tx: {tx.nonce} state: {have}{supplied}")
        base_fee = int(header.base_fee_per_gas)
        if self.options.validation or prepared.fee_cap or prepared.tip:
            if prepared.fee_cap < prepared.tip:
                raise InvalidParams(f"err: max priority fee per gas higher than max fee per gas: address {sender}, "
                                    f"maxPriorityFeePerGas: {prepared.tip}, maxFeePerGas: {prepared.fee_cap}"
                                    f"{supplied}")
            if prepared.fee_cap < base_fee:
                raise FeeCapTooLow(f"err: max fee per gas less than block base fee: address {sender}, "
                                   f"maxFeePerGas: {prepared.fee_cap}, baseFee: {base_fee}{supplied}")
        balance, want = int(state.get_balance(tx.sender)), tx.gas * prepared.fee_cap + tx.value
        if balance < want:
            raise InsufficientFunds(f"err: insufficient funds for gas * price + value: address {sender} "
                                    f"have {balance} want {want}{supplied}")
        if tx.gas < tx.intrinsic_gas:
            raise IntrinsicGasTooLow(f"err: intrinsic gas too low: have {tx.gas}, want {tx.intrinsic_gas}{supplied}")
        floor = PragueTransactionExecutor.calc_data_floor_gas(tx, 0, 0)
        if tx.gas < floor:
            raise TransactionRejected(f"err: insufficient gas for floor data gas cost: have {tx.gas}, "
                                      f"want {floor}{supplied}")
        if tx.to == CREATE_CONTRACT_ADDRESS and len(tx.data) > MAX_INITCODE_SIZE:
            raise InitCodeTooLarge(f"err: max initcode size exceeded: code size {len(tx.data)} "
                                   f"limit {MAX_INITCODE_SIZE}{supplied}")

    def _result(self, prepared: _Tx, computation: ComputationAPI, used: int, header: BlockHeaderAPI,
                index: int, log_base: int) -> SimulatedCall:
        entries = sorted([*computation.get_raw_log_entries(), *_transfers(computation)])
        logs = tuple(LogView(address=Address(address), topics=tuple(Hash32(t.to_bytes(32, "big")) for t in topics),
                             data=bytes(data), block_number=int(header.block_number), block_hash=Hash32(ZERO_HASH32),
                             transaction_hash=Hash32(prepared.tx.hash), transaction_index=index,
                             log_index=log_base + counter)
                     for counter, address, topics, data in entries)
        max_used = max(used, prepared.tx.gas - computation.get_gas_remaining())
        if not computation.is_error:
            return SimulatedCall(return_data=bytes(computation.output), logs=logs, gas_used=used,
                                 max_used_gas=max_used, status=1)
        error = computation.error
        if isinstance(error, Revert):
            data = revert_data(error)
            reverted = ExecutionReverted(decode_revert_reason(data), data)
            failure = CallError(code=reverted.rpc_code, message=reverted.message, data=data)
        else:
            failure = CallError(code=VM_ERROR_CODE,
                                message=vm_error_text(error) + (_GAS_CAPPED if prepared.gas_capped else ""))
        return SimulatedCall(return_data=b"", logs=(), gas_used=used, max_used_gas=max_used, status=0, error=failure)


def _system_calls(state: StateAPI, header: BlockHeaderAPI) -> None:
    """py-evm's Cancun and Prague block preprocessing (EIP-4788, EIP-2935), geth's PreExecution."""
    if state.get_code(BEACON_ROOTS_ADDRESS) == BEACON_ROOTS_CONTRACT_CODE:
        slot = header.timestamp % HISTORY_BUFFER_LENGTH
        state.set_storage(BEACON_ROOTS_ADDRESS, slot, header.timestamp)
        state.set_storage(BEACON_ROOTS_ADDRESS, slot + HISTORY_BUFFER_LENGTH,
                          int.from_bytes(header.parent_beacon_block_root, "big"))
    if state.get_code(HISTORY_STORAGE_ADDRESS) == HISTORY_STORAGE_CONTRACT_CODE:
        state.set_storage(HISTORY_STORAGE_ADDRESS, (header.block_number - 1) % HISTORY_SERVE_WINDOW,
                          int.from_bytes(header.parent_hash, "big"))
    state.lock_changes()
