"""The private state: py-evm state over its own trie, with GoQuorum's dual-state reads.

Rules (GoQuorum `core/state` + `core/vm/evm.go`):
1. An account that exists in this node's private state is read and written there.
2. An account that exists only in the public state is read from the public state and is
   read-only: a write raises `WriteProtection("VM in read-only mode. Mutating opcode
   prohibited")`, a value transfer "VM in read-only mode. Value transfer prohibited.".
   A private contract may therefore read public contracts but never change them.
3. An account that exists in neither is created privately (contract creation).
"""

from __future__ import annotations

from typing import Any

from eth.abc import StateAPI
from eth.exceptions import WriteProtection

from engine.chain.vm import PrivnetState

MUTATION_PROHIBITED = "VM in read-only mode. Mutating opcode prohibited"
TRANSFER_PROHIBITED = "VM in read-only mode. Value transfer prohibited."


class DualPrivateState(PrivnetState):
    """A private state that falls back to `public_state` for public-only accounts."""

    private_executor = None  # a private transaction never nests another
    public_state: StateAPI | None = None

    def attach_public(self, public_state: StateAPI | None) -> DualPrivateState:
        self.public_state = public_state
        self._public_only: dict[bytes, bool] = {}
        return self

    def is_public_only(self, address: bytes) -> bool:
        public = self.public_state
        if public is None:
            return False
        known = self._public_only.get(address)
        if known is not None:
            return known
        answer = not self._account_db.account_exists(address) and public.account_exists(address)
        self._public_only[address] = answer
        return answer

    def private_account_exists(self, address: bytes) -> bool:
        return bool(self._account_db.account_exists(address))

    # -- reads: the private account, else the public one ------------------------------------
    def get_storage(self, address: Any, slot: int, from_journal: bool = True) -> int:
        if self.is_public_only(address):
            assert self.public_state is not None
            return int(self.public_state.get_storage(address, slot, from_journal))
        return int(super().get_storage(address, slot, from_journal))

    def get_balance(self, address: Any) -> int:
        if self.is_public_only(address):
            assert self.public_state is not None
            return int(self.public_state.get_balance(address))
        return int(super().get_balance(address))

    def get_nonce(self, address: Any) -> int:
        if self.is_public_only(address):
            assert self.public_state is not None
            return int(self.public_state.get_nonce(address))
        return int(super().get_nonce(address))

    def get_code(self, address: Any) -> bytes:
        if self.is_public_only(address):
            assert self.public_state is not None
            return bytes(self.public_state.get_code(address))
        return bytes(super().get_code(address))

    def get_code_hash(self, address: Any) -> Any:
        if self.is_public_only(address):
            assert self.public_state is not None
            return self.public_state.get_code_hash(address)
        return super().get_code_hash(address)

    def has_code_or_nonce(self, address: Any) -> bool:
        if self.is_public_only(address):
            return True
        return bool(super().has_code_or_nonce(address))

    def account_exists(self, address: Any) -> bool:
        return self.is_public_only(address) or bool(super().account_exists(address))

    def account_is_empty(self, address: Any) -> bool:
        if self.is_public_only(address):
            assert self.public_state is not None
            return bool(self.public_state.account_is_empty(address))
        return bool(super().account_is_empty(address))

    # -- writes: never to a public-only account ---------------------------------------------
    def _guard(self, address: Any, message: str = MUTATION_PROHIBITED) -> None:
        if self.is_public_only(address):
            raise WriteProtection(message)

    def set_storage(self, address: Any, slot: int, value: int) -> None:
        self._guard(address)
        super().set_storage(address, slot, value)

    def delete_storage(self, address: Any) -> None:
        self._guard(address)
        super().delete_storage(address)

    def delete_account(self, address: Any) -> None:
        self._guard(address)
        super().delete_account(address)

    def set_balance(self, address: Any, balance: int) -> None:
        self._guard(address, TRANSFER_PROHIBITED)
        super().set_balance(address, balance)

    def delta_balance(self, address: Any, delta: int) -> None:
        if delta == 0:
            return
        self._guard(address, TRANSFER_PROHIBITED)
        super().delta_balance(address, delta)

    def set_nonce(self, address: Any, nonce: int) -> None:
        self._guard(address)
        super().set_nonce(address, nonce)

    def increment_nonce(self, address: Any) -> None:
        self._guard(address)
        super().increment_nonce(address)

    def set_code(self, address: Any, code: bytes) -> None:
        self._guard(address)
        super().set_code(address, code)

    def delete_code(self, address: Any) -> None:
        self._guard(address)
        super().delete_code(address)

    def touch_account(self, address: Any) -> None:
        if self.is_public_only(address):
            return  # reading a public contract must not leave a trace in the private trie
        super().touch_account(address)
