"""Running a decrypted payload on a private state, and what a party records of it."""

from __future__ import annotations

from typing import Any

from eth.abc import ComputationAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import ContractCreationCollision, Revert
from eth.vm.message import Message
from eth_bloom import BloomFilter

from engine.privacy.receipts import PrivateOutcome
from engine.privacy.state import DualPrivateState
from engine.types import Address, Hash32, LogView, ReceiptView

ZERO_ADDRESS = b"\x00" * 20


def run_message(state: DualPrivateState, sender: bytes, to: bytes | None, payload: bytes, gas: int,
                create_address: bytes | None = None) -> ComputationAPI:
    """Apply `payload` as a call to `to`, or as init code creating `create_address` when `to` is None."""
    tx_context = state.get_transaction_context_class()(gas_price=0, origin=sender)
    if to is None:
        assert create_address is not None
        message = Message(gas=gas, to=CREATE_CONTRACT_ADDRESS, sender=sender, value=0, data=b"",
                          code=payload, create_address=create_address)
        if state.has_code_or_nonce(create_address):
            computation = state.get_computation(message, tx_context)
            computation.error = ContractCreationCollision("address collision")
            return computation
        return state.computation_class.apply_create_message(state, message, tx_context)
    message = Message(gas=gas, to=to, sender=sender, value=0, data=payload, code=state.get_code(to))
    return state.computation_class.apply_message(state, message, tx_context)


def outcome_of(computation: Any, contract_address: bytes | None, gas: int) -> PrivateOutcome:
    """The private receipt's content: status, logs, created address, revert bytes, gas used."""
    success = not computation.is_error
    revert = None
    if not success and isinstance(computation.error, Revert):
        args = computation.error.args
        revert = bytes(args[0]) if args and isinstance(args[0], bytes) else b""
    logs = tuple((bytes(a), tuple(int(t) for t in topics), bytes(d))
                 for a, topics, d in computation.get_log_entries()) if success else ()
    return PrivateOutcome(
        status=1 if success else 0,
        logs=logs,
        contract_address=contract_address if success else None,
        revert_reason=revert,
        gas_used=gas - int(computation.get_gas_remaining()) if success else gas,
    )


def private_receipt_view(public: ReceiptView, outcome: PrivateOutcome) -> ReceiptView:
    """A party's receipt for a marker: the public receipt's place, the private outcome."""
    logs = tuple(
        LogView(address=Address(a), topics=tuple(Hash32(t.to_bytes(32, "big")) for t in topics), data=d,
                block_number=public.block_number, block_hash=public.block_hash,
                transaction_hash=public.transaction_hash, transaction_index=public.transaction_index,
                # Private logs are numbered after the transaction index so they never collide
                # with public logs of the same block (markers carry no public logs).
                log_index=public.transaction_index * 10_000 + i)
        for i, (a, topics, d) in enumerate(outcome.logs)
    )
    bloom = BloomFilter()
    for a, topics, _ in outcome.logs:
        bloom.add(a)
        for t in topics:
            bloom.add(t.to_bytes(32, "big"))
    return ReceiptView(
        transaction_hash=public.transaction_hash, transaction_index=public.transaction_index,
        block_hash=public.block_hash, block_number=public.block_number, sender=public.sender, to=public.to,
        # GoQuorum: a party's receipt is the private one, with gasUsed 0 (private execution
        # is not charged); the block's public gas accounting is unchanged.
        cumulative_gas_used=public.cumulative_gas_used, gas_used=0,
        effective_gas_price=public.effective_gas_price,
        contract_address=Address(outcome.contract_address) if outcome.contract_address else None,
        logs=logs, logs_bloom=int(bloom), status=outcome.status, tx_type=public.tx_type,
        revert_reason=outcome.revert_reason, is_private=True,
    )
