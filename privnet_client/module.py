"""`w3.privnet`: the flows of flows.py run against a `Web3` (blocking) or an `AsyncWeb3` (awaited).

`PrivnetModule` is the class to give web3.py (`Web3(..., modules={"privnet": PrivnetModule})` or
`attach(w3)`); built for an `AsyncWeb3` it becomes an `AsyncPrivnetModule`, whose methods are
coroutines. Both take the same arguments and share every step but the I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound
from web3.module import Module
from web3.providers.persistent import PersistentConnectionProvider

from privnet_client import flows
from privnet_client.errors import translate

DEFAULT_TIMEOUT_S = 30.0


def _fail(exc: BaseException) -> BaseException:
    typed = translate(exc)
    if typed is not exc:
        typed.__cause__ = exc
    return typed


def _advance(flow: flows.Flow[Any], value: Any, error: BaseException | None) -> flows.Step:
    return flow.throw(error) if error is not None else flow.send(value)


class _Base(Module):
    """The arguments of every method, turned into a flow (no I/O here)."""

    def _default_account(self) -> str | None:
        account = self.w3.eth.default_account
        return account if isinstance(account, str) else None

    def _send_flow(self, tx: dict[str, Any], private_for: Sequence[str], private_from: str | None,
                   privacy_flag: int, mandatory_for: Sequence[str] | None,
                   account: LocalAccount | None) -> flows.Flow[HexBytes]:
        private = flows.private_fields(private_for, private_from, privacy_flag, mandatory_for)
        return flows.send_private(tx, private, account, self._default_account())

    def _deploy_flow(self, abi: list[dict[str, Any]], bytecode: str | bytes, args: tuple[Any, ...],
                     private_for: Sequence[str], private_from: str | None, privacy_flag: int,
                     mandatory_for: Sequence[str] | None, account: LocalAccount | None,
                     transaction: dict[str, Any] | None, timeout: float) -> flows.Flow[tuple[HexBytes, str]]:
        data = self.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args).data_in_transaction
        private = flows.private_fields(private_for, private_from, privacy_flag, mandatory_for)
        tx = {**(transaction or {}), "data": data}
        return flows.deploy_private(tx, private, account, self._default_account(), timeout)


class PrivnetModule(_Base):
    """GoQuorum's private transactions on a sync `Web3` (see docs/client.md)."""

    def __new__(cls, w3: Any) -> Any:
        if cls is PrivnetModule and isinstance(w3, AsyncWeb3):
            return AsyncPrivnetModule(w3)
        return super().__new__(cls)

    def _run(self, flow: flows.Flow[Any]) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = _advance(flow, value, error)
            except StopIteration as done:
                return done.value
            value, error = None, None
            try:
                value = self._perform(step)
            except Exception as exc:  # handed to the flow, which may handle it or let it out
                error = _fail(exc)

    def _perform(self, step: flows.Step) -> Any:
        if isinstance(step, flows.Sleep):
            time.sleep(step.seconds)
            return None
        w3 = self.w3 if step.w3 is None else step.w3
        if isinstance(step, flows.Receipt):
            try:
                return w3.eth.get_transaction_receipt(step.tx_hash)
            except TransactionNotFound:
                return None
        return w3.manager.request_blocking(step.method, step.params)

    def send_private(self, tx: dict[str, Any], *, private_for: Sequence[str], private_from: str | None = None,
                     privacy_flag: int = 0, mandatory_for: Sequence[str] | None = None,
                     account: LocalAccount | None = None) -> HexBytes:
        """Send a private transaction; its (marker's) hash."""
        return self._run(self._send_flow(tx, private_for, private_from, privacy_flag, mandatory_for, account))

    def deploy_private(self, abi: list[dict[str, Any]], bytecode: str | bytes, *args: Any,
                       private_for: Sequence[str], private_from: str | None = None, privacy_flag: int = 0,
                       mandatory_for: Sequence[str] | None = None, account: LocalAccount | None = None,
                       transaction: dict[str, Any] | None = None,
                       timeout: float = DEFAULT_TIMEOUT_S) -> tuple[HexBytes, str]:
        """Deploy privately and wait for the receipt on this node: (tx hash, contract address)."""
        return self._run(self._deploy_flow(abi, bytecode, args, private_for, private_from, privacy_flag,
                                           mandatory_for, account, transaction, timeout))

    def wait_for_private_receipt(self, tx_hash: HexBytes | bytes | str, parties: Sequence[Any] | None = None,
                                 timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """This node's receipt, once every node in `parties` has one with the same status."""
        return self._run(flows.wait_for_private_receipt(HexBytes(tx_hash), parties, timeout))

    def get_quorum_payload(self, payload_hash: bytes | str) -> HexBytes:
        """The decrypted private payload (empty on a node that is not a party)."""
        return self._run(flows.get_quorum_payload(payload_hash))

    def contract_privacy_metadata(self, address: str) -> dict[str, Any]:
        """The contract's creation payload hash, privacy flag and mandatory recipients."""
        return self._run(flows.contract_privacy_metadata(address))


class AsyncPrivnetModule(_Base):
    """The same methods on an `AsyncWeb3`, as coroutines."""

    is_async = True

    async def _run(self, flow: flows.Flow[Any]) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = _advance(flow, value, error)
            except StopIteration as done:
                return done.value
            value, error = None, None
            try:
                value = await self._perform(step)
            except Exception as exc:  # handed to the flow, which may handle it or let it out
                error = _fail(exc)

    async def _perform(self, step: flows.Step) -> Any:
        if isinstance(step, flows.Sleep):
            await asyncio.sleep(step.seconds)
            return None
        w3 = self.w3 if step.w3 is None else step.w3
        if isinstance(step, flows.Receipt):
            try:
                return await w3.eth.get_transaction_receipt(step.tx_hash)
            except TransactionNotFound:
                return None
        if isinstance(w3.provider, PersistentConnectionProvider):  # WebSocket/IPC: answers matched by id
            return await w3.manager.socket_request(step.method, step.params)
        return await w3.manager.coro_request(step.method, step.params)

    async def send_private(self, tx: dict[str, Any], *, private_for: Sequence[str], private_from: str | None = None,
                           privacy_flag: int = 0, mandatory_for: Sequence[str] | None = None,
                           account: LocalAccount | None = None) -> HexBytes:
        """Send a private transaction; its (marker's) hash."""
        return await self._run(self._send_flow(tx, private_for, private_from, privacy_flag, mandatory_for, account))

    async def deploy_private(self, abi: list[dict[str, Any]], bytecode: str | bytes, *args: Any,
                             private_for: Sequence[str], private_from: str | None = None, privacy_flag: int = 0,
                             mandatory_for: Sequence[str] | None = None, account: LocalAccount | None = None,
                             transaction: dict[str, Any] | None = None,
                             timeout: float = DEFAULT_TIMEOUT_S) -> tuple[HexBytes, str]:
        """Deploy privately and wait for the receipt on this node: (tx hash, contract address)."""
        return await self._run(self._deploy_flow(abi, bytecode, args, private_for, private_from, privacy_flag,
                                                 mandatory_for, account, transaction, timeout))

    async def wait_for_private_receipt(self, tx_hash: HexBytes | bytes | str, parties: Sequence[Any] | None = None,
                                       timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """This node's receipt, once every node in `parties` has one with the same status."""
        return await self._run(flows.wait_for_private_receipt(HexBytes(tx_hash), parties, timeout))

    async def get_quorum_payload(self, payload_hash: bytes | str) -> HexBytes:
        """The decrypted private payload (empty on a node that is not a party)."""
        return await self._run(flows.get_quorum_payload(payload_hash))

    async def contract_privacy_metadata(self, address: str) -> dict[str, Any]:
        """The contract's creation payload hash, privacy flag and mandatory recipients."""
        return await self._run(flows.contract_privacy_metadata(address))


def attach(w3: Any) -> PrivnetModule | AsyncPrivnetModule:
    """Attach `w3.privnet` (once; a second call returns the module already there)."""
    existing = getattr(w3, "privnet", None)
    if isinstance(existing, PrivnetModule | AsyncPrivnetModule):
        return existing
    w3.attach_modules({"privnet": PrivnetModule})
    module: PrivnetModule | AsyncPrivnetModule = w3.privnet
    return module
