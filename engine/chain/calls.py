"""`eth_call` and `eth_estimateGas`: run a request on a costless copy of the state, commit nothing.

A request to a private contract, or a private creation, runs on this node's private state
(the private side decides; it gets the header and the public state); anything else runs
on the public state.
"""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI, ComputationAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert, VMError
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError

from engine.abc import PrivateStateAPI
from engine.chain.canonical import CanonicalChain
from engine.errors import ExecutionReverted, TransactionRejected
from engine.revert import decode_revert_reason
from engine.types import BlockId, TxRequest


class CallRunner:
    def __init__(self, chain: CanonicalChain, private: PrivateStateAPI) -> None:
        self.chain = chain
        self.private = private

    def _spoof(self, request: TxRequest, state: StateAPI, gas: int) -> SpoofTransaction:
        sender = request.sender or b"\x00" * 20
        unsigned = self.chain.tx_builder.create_unsigned_transaction(
            nonce=state.get_nonce(sender),
            gas_price=0,
            gas=gas,
            to=request.to if request.to is not None else CREATE_CONTRACT_ADDRESS,
            value=request.value,
            data=request.data,
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _execute(self, request: TxRequest, header: BlockHeaderAPI, gas: int) -> ComputationAPI:
        vm = self.chain.vm_at(header)
        with vm.in_costless_state() as state:
            private_result = self.private.run_call(request, header, state, gas)
            if private_result is not None:
                return private_result
            tx = self._spoof(request, state, gas)
            try:
                return state.apply_transaction(tx)  # type: ignore[no-any-return]
            except ValidationError as exc:
                raise TransactionRejected(str(exc)) from None

    def call(self, request: TxRequest, block_id: BlockId) -> bytes:
        header = self.chain.header("latest" if block_id == "pending" else block_id)
        gas = request.gas or header.gas_limit
        with self.chain.lock:
            computation = self._execute(request, header, min(gas, header.gas_limit))
        raise_for_computation(computation)
        return bytes(computation.output)

    def estimate_gas(self, request: TxRequest, block_id: BlockId) -> int:
        header = self.chain.header("latest" if block_id == "pending" else block_id)
        cap = min(request.gas or header.gas_limit, header.gas_limit)
        with self.chain.lock:

            def fits(gas: int) -> bool:
                try:
                    return not self._execute(request, header, gas).is_error
                except TransactionRejected:  # below intrinsic gas or EIP-7623's calldata floor
                    return False

            first = self._execute(request, header, cap)
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


def raise_for_computation(computation: Any) -> None:
    if not computation.is_error:
        return
    error = computation.error
    if isinstance(error, Revert):
        data = bytes(error.args[0]) if error.args and isinstance(error.args[0], bytes) else b""
        raise ExecutionReverted(decode_revert_reason(data), data)
    if isinstance(error, VMError):
        raise ExecutionReverted(_vm_error_text(error), b"")
    raise ExecutionReverted(str(error), b"")


def _vm_error_text(error: Exception) -> str:
    name = type(error).__name__
    text = {"OutOfGas": "out of gas", "InsufficientFunds": "insufficient funds for transfer",
            "WriteProtection": "write protection", "InvalidInstruction": "invalid opcode"}.get(name)
    return text or (str(error) or name)
