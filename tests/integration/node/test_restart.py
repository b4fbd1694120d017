"""A real node process stopped (SIGTERM) or killed (SIGKILL, mid-stream) restarts on its data dir
with the same chain, and keeps producing blocks."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx
import pytest
from eth_account import Account
from web3 import Web3

from engine.chain.genesis import DEV_BALANCE, derive_dev_accounts
from engine.config import NodeSettings

pytestmark = pytest.mark.integration

DEV_KEYS = [a.private_key for a in derive_dev_accounts(NodeSettings().dev_account_seed, 10)]


def wait(w3: Web3, tx_hash: bytes) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.02)
    assert receipt.status == 1
    return receipt


def snapshot(w3: Web3, addresses: list[str], contract: Any) -> dict[str, Any]:
    head = w3.eth.block_number
    return {
        "head": head,
        "hashes": [w3.eth.get_block(n)["hash"] for n in range(head + 1)],
        "state_root": w3.eth.get_block(head)["stateRoot"],
        "balances": {a: w3.eth.get_balance(a) for a in addresses},
        "nonces": {a: w3.eth.get_transaction_count(a) for a in addresses},
        "value": contract.functions.get().call(),
        "slot0": w3.eth.get_storage_at(contract.address, 0),
        "code": w3.eth.get_code(contract.address),
    }


def test_sigterm_then_restart_keeps_blocks_balances_and_storage(node_process, contract):
    node = node_process()
    w3 = node.start()
    sender, other = w3.eth.accounts[0], w3.eth.accounts[1]
    recipient = Web3.to_checksum_address("0x" + "ab" * 20)
    artifact = contract("SimpleStorage")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    deployed = wait(w3, factory.constructor(7).transact({"from": sender}))
    storage = w3.eth.contract(address=deployed.contractAddress, abi=artifact.abi)
    wait(w3, storage.functions.set(42).transact({"from": sender}))
    wait(w3, storage.functions.add(5).transact({"from": other}))
    for value in (1, 2, 3):
        wait(w3, w3.eth.send_transaction({"from": sender, "to": recipient, "value": value}))
    before = snapshot(w3, [sender, other, recipient], storage)
    assert before["value"] == 47 and before["balances"][recipient] == 6 and before["head"] >= 6

    assert node.stop(signal.SIGTERM) == 0
    assert "Traceback" not in node.log()

    w3 = node.start()
    storage = w3.eth.contract(address=deployed.contractAddress, abi=artifact.abi)
    assert snapshot(w3, [sender, other, recipient], storage) == before

    receipt = wait(w3, storage.functions.set(99).transact({"from": other}))
    assert receipt.blockNumber == before["head"] + 1
    assert w3.eth.get_block(receipt.blockNumber)["parentHash"] == before["hashes"][-1]
    assert storage.functions.get().call() == 99
    assert node.stop(signal.SIGTERM) == 0


class TransferStream:
    """Presigned value transfers sent one after another over raw HTTP until told to stop or the node dies."""

    def __init__(self, url: str, key: bytes, recipients: list[str]) -> None:
        self.url, self.key, self.recipients = url, key, recipients
        self.sent = 0
        self.error: object = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="transfer-stream", daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stopped.is_set():
                n = self.sent
                raw = Account.sign_transaction({"nonce": n, "gasPrice": 0, "gas": 21_000, "chainId": 1337,
                                                "to": self.recipients[n % len(self.recipients)], "value": n + 1},
                                               self.key).raw_transaction
                try:
                    reply = client.post(self.url, json={"jsonrpc": "2.0", "id": n, "method": "eth_sendRawTransaction",
                                                        "params": ["0x" + bytes(raw).hex()]}).json()
                except httpx.TransportError:
                    return  # the node was killed
                if "result" not in reply:
                    self.error = reply
                    return
                self.sent += 1


def test_sigkill_mid_stream_then_restart_is_consistent(node_process):
    node = node_process(max_txs_per_block=20)
    w3 = node.start()
    key = DEV_KEYS[3]
    sender = Account.from_key(key).address
    recipients = [Web3.to_checksum_address(f"0x{i:02x}" + "cd" * 19) for i in range(1, 6)]
    stream = TransferStream(node.url, key, recipients)
    stream.thread.start()
    try:
        while w3.eth.block_number < 5 or w3.eth.get_transaction_count(sender) < 60:
            assert stream.thread.is_alive(), f"the stream stopped before the kill: {stream.error}"
            threading.Event().wait(0.01)
        assert stream.thread.is_alive()  # the kill lands while transactions are flowing
        assert node.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        stream.stopped.set()
        stream.thread.join(timeout=30)
    sent_before_kill = stream.sent

    w3 = node.start()
    # Acknowledged means durable: every transaction the node answered before the kill waits in
    # the ordering service and is mined after the restart (at most one more was in flight).
    deadline = time.monotonic() + 60
    while (w3.eth.get_transaction_count(sender) < sent_before_kill
           or w3.eth.get_transaction_count(sender, "pending") != w3.eth.get_transaction_count(sender)):
        assert time.monotonic() < deadline, f"only {w3.eth.get_transaction_count(sender)} of {sent_before_kill} mined"
        threading.Event().wait(0.05)
    head = w3.eth.block_number
    assert head >= 5
    expected = dict.fromkeys(recipients, 0)
    mined_nonces: list[int] = []
    previous = w3.eth.get_block(0)
    for number in range(1, head + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        assert block["number"] == number and block["parentHash"] == previous["hash"]
        for tx in block["transactions"]:
            assert tx["from"] == sender
            mined_nonces.append(tx["nonce"])
            expected[tx["to"]] += tx["value"]
        previous = block
    assert mined_nonces == list(range(len(mined_nonces)))  # no gap, no duplicate
    assert sent_before_kill <= len(mined_nonces) <= sent_before_kill + 1  # none acknowledged is lost
    assert {r: w3.eth.get_balance(r) for r in recipients} == expected
    assert w3.eth.get_balance(sender) == DEV_BALANCE - sum(expected.values())  # gas price 0
    assert w3.eth.get_transaction_count(sender) == len(mined_nonces)

    next_tx = Account.sign_transaction({"nonce": len(mined_nonces), "gasPrice": 0, "gas": 21_000, "chainId": 1337,
                                        "to": recipients[0], "value": 1}, key).raw_transaction
    receipt = wait(w3, w3.eth.send_raw_transaction(next_tx))
    assert receipt.blockNumber == head + 1
    assert w3.eth.get_block(head + 1)["parentHash"] == previous["hash"]
    assert w3.eth.get_balance(recipients[0]) == expected[recipients[0]] + 1
    assert node.stop(signal.SIGTERM) == 0
