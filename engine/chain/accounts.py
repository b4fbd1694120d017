"""The node's unlocked accounts: which senders it signs for, and how.

Public transactions and EIP-191 messages (`eth_sign`) are signed with eth-account, private
markers with `chain/marker.py`.
Concurrent sends from one account take `sender_lock`, so that nonce, signature and pool
admission happen in one step and concurrent callers get consecutive nonces.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from engine.chain.genesis import DevAccount
from engine.chain.marker import sign_private_marker
from engine.errors import TransactionRejected
from engine.types import Address

MSG_UNKNOWN_ACCOUNT = "unknown account"  # geth's accounts.ErrUnknownAccount, word for word


class UnlockedAccounts:
    def __init__(self, accounts: Iterable[DevAccount]) -> None:
        self._accounts = {a.address: a for a in accounts}
        self._locks: dict[bytes, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def addresses(self) -> list[Address]:
        return [Address(a) for a in self._accounts]

    def keys(self) -> list[tuple[bytes, bytes]]:
        """(address, private key) of every unlocked account (development networks)."""
        return [(a.address, a.private_key) for a in self._accounts.values()]

    def require(self, sender: bytes) -> DevAccount:
        account = self._accounts.get(sender)
        if account is None:
            raise TransactionRejected(f"unknown account: 0x{sender.hex()} is not unlocked on this node")
        return account

    def find(self, signer: bytes) -> DevAccount:
        """The account, or geth's bare `unknown account` (the signing methods' wording)."""
        account = self._accounts.get(signer)
        if account is None:
            raise TransactionRejected(MSG_UNKNOWN_ACCOUNT)
        return account

    def sender_lock(self, sender: bytes) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(sender)
            if lock is None:
                lock = self._locks[sender] = threading.Lock()
            return lock

    def nonce_guard(self, sender: bytes, nonce: int | None) -> AbstractContextManager[object]:
        """What a send holds while it picks a nonce and submits: the sender's lock when the node
        picks the nonce (concurrent sends get consecutive ones, as geth's nonce lock), nothing
        when the client gave it (the sends need not queue behind each other's durable write)."""
        return self.sender_lock(sender) if nonce is None else nullcontext()

    def sign_transaction(self, sender: bytes, fields: dict[str, Any]) -> bytes:
        """Sign an eth-account transaction dict; the raw signed bytes."""
        signed = Account.sign_transaction(fields, self.require(sender).private_key)
        return bytes(signed.raw_transaction)

    def sign_marker(self, sender: bytes, nonce: int, gas: int, to: bytes | None, payload_hash: bytes) -> bytes:
        """A signed private marker carrying `payload_hash`."""
        return sign_private_marker(self.require(sender).private_key, nonce, gas, to, payload_hash)

    def sign_message(self, signer: bytes, message: bytes) -> bytes:
        """geth's `eth_sign`: the 65-byte signature (r, s, v = 27/28) of keccak256 of
        "\\x19Ethereum Signed Message:\\n" + len(message) + message (EIP-191 version 0x45)."""
        signed = Account.sign_message(encode_defunct(primitive=message), self.find(signer).private_key)
        return bytes(signed.signature)
