"""`eth_call`, `eth_estimateGas`, `eth_createAccessList`: run a request on a costless copy of
committed state, commit nothing.

A request to a private contract, or a private creation, runs on this node's private state
(the private side decides; it gets the header and the public state); anything else runs
on the public state.

Guards, as geth's: every request runs on a snapshot of a committed block without the chain
lock (block building never waits for a call), with its gas capped at `gas_cap` and its EVM
work stopped after `evm_timeout_s` (0 disables either).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, ComputationAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import OutOfGas, Revert, VMError
from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
from eth.vm.forks.prague.constants import HISTORY_STORAGE_ADDRESS
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError, to_checksum_address

from engine.abc import EnhancedPrivacyMetadata, PrivateStateAPI
from engine.chain.canonical import CanonicalChain
from engine.chain.vm import ExecutionTimeout, PrivnetComputation, evm_deadline
from engine.errors import (
    ExecutionAborted,
    ExecutionReverted,
    GasAllowanceExceeded,
    InvalidStateOverride,
    TransactionRejected,
)
from engine.revert import decode_revert_reason
from engine.types import AccessListResult, Address, BlockId, StateOverrides, TxRequest

DEFAULT_GAS_CAP = 50_000_000
DEFAULT_EVM_TIMEOUT_S = 5.0
# Each round of createAccessList re-runs the call with the list found so far (as geth does);
# a list still growing after this many rounds is returned as it stands.
MAX_ACCESS_LIST_ROUNDS = 16

AccessList = tuple[tuple[Address, tuple[int, ...]], ...]


def go_duration(seconds: float) -> str:
    """`seconds` as Go's `time.Duration` prints it (5s, 500ms, 1.5s): geth's error wording."""
    if seconds < 1:
        millis = seconds * 1000
        return f"{millis:g}ms"
    return f"{seconds:g}s"


class CallRunner:
    def __init__(self, chain: CanonicalChain, private: PrivateStateAPI, *, gas_cap: int = DEFAULT_GAS_CAP,
                 evm_timeout_s: float = DEFAULT_EVM_TIMEOUT_S) -> None:
        self.chain = chain
        self.private = private
        self.gas_cap = gas_cap
        self.evm_timeout_s = evm_timeout_s

    # -- building blocks -------------------------------------------------------------------
    def header_for(self, block_id: BlockId) -> BlockHeaderAPI:
        """The committed header a request runs on: `pending` is the head (a call never sees the pool)."""
        return self.chain.committed_header("latest" if block_id == "pending" else block_id)

    def _gas_limit(self, request: TxRequest, header: BlockHeaderAPI) -> int:
        gas = min(request.gas or header.gas_limit, header.gas_limit)
        return min(gas, self.gas_cap) if self.gas_cap else gas

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """EVM work inside stops at `evm_timeout_s`, as geth's ExecutionAborted."""
        try:
            with evm_deadline(self.evm_timeout_s):
                yield
        except ExecutionTimeout:
            raise ExecutionAborted(f"execution aborted (timeout = {go_duration(self.evm_timeout_s)})") from None

    def _spoof(self, request: TxRequest, state: StateAPI, gas: int) -> SpoofTransaction:
        sender = request.sender or b"\x00" * 20
        balance = state.get_balance(sender)
        if balance < request.value:  # gas is free here, so only the value counts
            raise TransactionRejected(f"insufficient funds for gas * price + value: address "
                                      f"{to_checksum_address(sender)} have {balance} want {request.value}")
        fields = dict(nonce=state.get_nonce(sender), gas_price=0, gas=gas,
                      to=request.to if request.to is not None else CREATE_CONTRACT_ADDRESS,
                      value=request.value, data=request.data)
        if request.access_list:
            # A typed (2930) transaction: its intrinsic gas counts the list and its entries start warm.
            unsigned = self.chain.tx_builder.new_unsigned_access_list_transaction(
                chain_id=self.chain.chain_id, access_list=request.access_list, **fields)
        else:
            unsigned = self.chain.tx_builder.create_unsigned_transaction(**fields)
        return SpoofTransaction(unsigned, from_=sender)

    def _run(self, request: TxRequest, header: BlockHeaderAPI, gas: int, overrides: StateOverrides | None,
             *, public_only: bool = False) -> tuple[ComputationAPI, StateAPI, Any]:
        """One execution on its own state over the committed snapshot at `header`."""
        vm = self.chain.snapshot_vm(header)
        state = _costless_state(vm)
        if overrides:
            apply_overrides(state, overrides)
        if not public_only:
            private_result = self.private.run_call(request, header, state, gas)
            if private_result is not None:
                return private_result, state, None
        tx = self._spoof(request, state, gas)
        try:
            return state.apply_transaction(tx), state, (vm, tx)
        except ValidationError as exc:
            raise TransactionRejected(str(exc)) from None

    def _execute(self, request: TxRequest, header: BlockHeaderAPI, gas: int,
                 overrides: StateOverrides | None = None) -> ComputationAPI:
        return self._run(request, header, gas, overrides)[0]

    # -- the RPC methods -------------------------------------------------------------------
    def call(self, request: TxRequest, block_id: BlockId, overrides: StateOverrides | None = None) -> bytes:
        header = self.header_for(block_id)
        check_overrides(overrides)
        with self.guarded():
            computation = self._execute(request, header, self._gas_limit(request, header), overrides)
        raise_for_computation(computation)
        return bytes(computation.output)

    def estimate_gas(self, request: TxRequest, block_id: BlockId, overrides: StateOverrides | None = None) -> int:
        header = self.header_for(block_id)
        check_overrides(overrides)
        cap = self._gas_limit(request, header)
        with self.guarded():
            return self._estimate(request, header, cap, overrides)

    def _estimate(self, request: TxRequest, header: BlockHeaderAPI, cap: int, overrides: StateOverrides | None) -> int:
        def fits(gas: int) -> bool:
            try:
                return not self._execute(request, header, gas, overrides).is_error
            except TransactionRejected:  # below intrinsic gas or EIP-7623's calldata floor
                return False

        first = self._execute(request, header, cap, overrides)
        if first.is_error and isinstance(first.error, OutOfGas):
            raise GasAllowanceExceeded(f"gas required exceeds allowance ({cap})")
        raise_for_computation(first)
        used = int(cap - first.get_gas_remaining())
        if first.get_gas_refund() == 0 and fits(used):
            return used
        # EIP-150 keeps 1/64 back at each call depth: start a little above what was used,
        # then bisect down to the smallest limit that succeeds (as geth does).
        low, high = used - 1, min(cap, used + used // 32 + 2_300 + first.get_gas_refund())
        while not fits(high):
            low, high = high, min(cap, high * 2)
            if low >= cap:
                return cap
        while high - low > 1:
            mid = (low + high) // 2
            if fits(mid):
                high = mid
            else:
                low = mid
        return high

    def simulate_private_send(self, request: TxRequest, nonce: int) -> EnhancedPrivacyMetadata:
        """The private side's pre-send simulation on the head, bounded as calls are."""
        header = self.header_for("latest")
        state = _costless_state(self.chain.snapshot_vm(header))
        with self.guarded():
            return self.private.simulate_send(request, header, state, self._gas_limit(request, header), nonce)

    def create_access_list(self, request: TxRequest, block_id: BlockId,
                           overrides: StateOverrides | None = None) -> AccessListResult:
        """geth's eth_createAccessList: re-run with the list traced so far until it stops growing.

        Public state only: a private marker is a legacy transaction and carries no access list.
        """
        header = self.header_for(block_id)
        check_overrides(overrides)
        gas = self._gas_limit(request, header)
        access_list = _sorted_list(request.access_list)
        with self.guarded():
            for _ in range(MAX_ACCESS_LIST_ROUNDS):
                current = replace(request, access_list=access_list)
                computation, state, (vm, tx) = self._run(current, header, gas, overrides, public_only=True)
                traced = _merge(access_list, _traced_accesses(state, _excluded(request, state, header)))
                if traced == access_list:
                    break
                access_list = traced
        error = None
        if computation.is_error:  # geth reports the bare VM error here, without the reason
            error = "execution reverted" if isinstance(computation.error, Revert) else vm_error_text(computation.error)
        return AccessListResult(access_list=access_list, gas_used=int(type(vm).finalize_gas_used(tx, computation)),
                                error=error)


def _costless_state(vm: Any) -> StateAPI:
    """py-evm's `in_costless_state` without its snapshot: the state is thrown away after the
    run, and the overrides' `lock_changes` would leave that snapshot nothing to revert to."""
    header = vm.get_header()
    child = vm.generate_block_from_parent_header_and_coinbase(header, header.coinbase).header
    prev_hashes = itertools.chain((header.hash,), vm.previous_hashes)
    return vm.build_state(vm.chaindb.db, child.copy(base_fee_per_gas=0), vm.chain_context,  # type: ignore[no-any-return]
                          prev_hashes)


# -- state overrides ---------------------------------------------------------------------------


def check_overrides(overrides: StateOverrides | None) -> None:
    """geth's refusals, in its order (addresses sorted)."""
    for address in sorted(overrides or ()):
        account = overrides[address]  # type: ignore[index]
        if account.state is not None and account.state_diff is not None:
            raise InvalidStateOverride(f"account {to_checksum_address(address)} has both 'state' and 'stateDiff'")


def apply_overrides(state: StateAPI, overrides: StateOverrides) -> None:
    """geth's `StateOverride.Apply`: nonce, code, balance, then all storage or a patch of it."""
    for address in sorted(overrides):
        account = overrides[address]
        if account.nonce is not None:
            state.set_nonce(address, account.nonce)
        if account.code is not None:
            state.set_code(address, account.code)
        if account.balance is not None:
            state.set_balance(address, account.balance)
        if account.state is not None:
            state.delete_storage(address)
            for slot, value in account.state:
                state.set_storage(address, slot, value)
        for slot, value in account.state_diff or ():
            state.set_storage(address, slot, value)
    state.lock_changes()  # as geth's Finalise: the overrides are the state the call starts from


# -- access-list tracing -----------------------------------------------------------------------


def _excluded(request: TxRequest, state: StateAPI, header: BlockHeaderAPI) -> set[bytes]:
    """geth leaves out the sender, the recipient (or created address) and the precompiles; py-evm
    also reads the coinbase to pay it, and the block-level system contracts (EIP-2935, EIP-4788)
    while setting up the block, which no opcode asked for."""
    sender = request.sender or b"\x00" * 20
    to = request.to if request.to is not None else generate_contract_address(sender, state.get_nonce(sender))
    return {bytes(sender), bytes(to), bytes(header.coinbase), HISTORY_STORAGE_ADDRESS, BEACON_ROOTS_ADDRESS,
            *PrivnetComputation.get_precompiles()}


def _traced_accesses(state: StateAPI, excluded: set[bytes]) -> dict[bytes, set[int]]:
    """Accounts and slots the run read, from py-evm's witness tracker (not journaled: accesses
    of a reverted inner call count too, as in geth's tracer)."""
    meta = state._account_db._get_access_list()  # type: ignore[attr-defined]
    found: dict[bytes, set[int]] = {}
    for address, tracker in meta.items():
        slots = set(tracker.slots_queried)
        if slots or bytes(address) not in excluded:
            found[bytes(address)] = slots
    return found


def _merge(current: AccessList, traced: dict[bytes, set[int]]) -> AccessList:
    merged: dict[bytes, set[int]] = {bytes(a): set(s) for a, s in current}
    for address, slots in traced.items():
        merged.setdefault(address, set()).update(slots)
    return _sorted_list(tuple((Address(a), tuple(s)) for a, s in merged.items()))


def _sorted_list(access_list: AccessList) -> AccessList:
    merged: dict[bytes, set[int]] = {}
    for address, slots in access_list:
        merged.setdefault(bytes(address), set()).update(slots)
    return tuple((Address(a), tuple(sorted(merged[a]))) for a in sorted(merged))


# -- errors ------------------------------------------------------------------------------------


def raise_for_computation(computation: Any) -> None:
    if not computation.is_error:
        return
    error = computation.error
    if isinstance(error, Revert):
        data = revert_data(error)
        raise ExecutionReverted(decode_revert_reason(data), data)
    if isinstance(error, VMError):
        raise ExecutionReverted(vm_error_text(error), b"")
    raise ExecutionReverted(str(error), b"")


def revert_data(error: Revert) -> bytes:
    return bytes(error.args[0]) if error.args and isinstance(error.args[0], bytes) else b""


def vm_error_text(error: Exception) -> str:
    name = type(error).__name__
    text = {"OutOfGas": "out of gas", "InsufficientFunds": "insufficient funds for transfer",
            "WriteProtection": "write protection", "InvalidInstruction": "invalid opcode"}.get(name)
    return text or (str(error) or name)
