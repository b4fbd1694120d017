"""The producer loop of a real node behind the real JSON-RPC server: mining without further
submissions, the transactions-per-block cap, and a transaction rejected at execution."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound

from engine.chain.node import Node
from engine.config import NodeSettings
from engine.rpc.app import create_rpc_app
from tests.helpers.servers import serve_in_thread

pytestmark = pytest.mark.integration

MAX_TXS_PER_BLOCK = 5


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = Node.open(NodeSettings(data_dir=tmp_path_factory.mktemp("producer"), chain_id=1337,
                                  max_txs_per_block=MAX_TXS_PER_BLOCK, max_block_time_ms=100))
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def w3(node: Node) -> Iterator[Web3]:
    with serve_in_thread(create_rpc_app(node)) as url:
        yield Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))


def key_of(node: Node, index: int) -> bytes:
    return node.dev_accounts[index][1]


def transfer(key: bytes, nonce: int, value: int = 1, to: str = "0x" + "ef" * 20, gas: int = 21_000) -> bytes:
    fields = {"nonce": nonce, "gasPrice": 0, "gas": gas, "chainId": 1337,
              "to": Web3.to_checksum_address(to), "value": value}
    return bytes(Account.sign_transaction(fields, key).raw_transaction)


def wait(w3: Web3, tx_hash: bytes):
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.02)


def test_a_single_transaction_is_mined_without_further_submissions(w3: Web3, node: Node):
    key = key_of(node, 0)
    start = w3.eth.block_number
    tx_hash = w3.eth.send_raw_transaction(transfer(key, w3.eth.get_transaction_count(Account.from_key(key).address)))
    receipt = wait(w3, tx_hash)
    assert receipt.status == 1 and receipt.blockNumber == start + 1
    assert [bytes(t) for t in w3.eth.get_block(receipt.blockNumber)["transactions"]] == [bytes(tx_hash)]
    assert w3.eth.get_transaction(tx_hash)["blockNumber"] == receipt.blockNumber
    assert len(node.pool) == 0


def test_no_block_exceeds_the_transactions_per_block_cap(w3: Web3, node: Node):
    key = key_of(node, 1)
    count = 8 * MAX_TXS_PER_BLOCK + 3
    start = w3.eth.block_number
    raws = [transfer(key, n, value=n + 1) for n in range(count)]
    # Highest nonce first: nothing is executable until nonce 0 arrives, then all of them are at once.
    hashes = [w3.eth.send_raw_transaction(raw) for raw in reversed(raws[1:])]
    assert w3.eth.block_number == start
    hashes.append(w3.eth.send_raw_transaction(raws[0]))
    receipts = [wait(w3, h) for h in hashes]
    assert all(r.status == 1 for r in receipts)

    blocks = sorted({r.blockNumber for r in receipts})
    sizes = [len(w3.eth.get_block(n)["transactions"]) for n in blocks]
    assert max(sizes) == MAX_TXS_PER_BLOCK
    assert sum(sizes) == count and len(blocks) == -(-count // MAX_TXS_PER_BLOCK)
    by_block = sorted((r.blockNumber, r.transactionIndex, w3.eth.get_transaction(r.transactionHash)["nonce"])
                      for r in receipts)
    assert [nonce for _, _, nonce in by_block] == list(range(count))


def test_a_transaction_rejected_at_execution_is_dropped_and_production_goes_on(w3: Web3, node: Node):
    key = key_of(node, 2)
    address = Account.from_key(key).address
    balance = w3.eth.get_balance(address)
    nonce = w3.eth.get_transaction_count(address)
    everything = transfer(key, nonce, value=balance)
    one_more = transfer(key, nonce + 1, value=1)  # admitted (the balance covers it) but cannot run after the first
    overdraft = w3.eth.send_raw_transaction(one_more)
    spent = wait(w3, w3.eth.send_raw_transaction(everything))
    assert spent.status == 1 and w3.eth.get_balance(address) == 0
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction(overdraft)  # dropped from the pool when its block was built

    other = key_of(node, 3)
    after = wait(w3, w3.eth.send_raw_transaction(
        transfer(other, w3.eth.get_transaction_count(Account.from_key(other).address))))
    assert after.status == 1 and after.blockNumber > spent.blockNumber


def test_a_later_nonce_behind_a_transaction_that_did_not_fit_is_kept(tmp_path: Path):
    settings = NodeSettings(data_dir=tmp_path, chain_id=1337, block_gas_limit=100_000)
    node = Node.open(settings)
    try:
        key = key_of(node, 4)
        hashes = [node.send_raw_transaction(transfer(key, 0)),  # 79,000 gas left in its block
                  node.send_raw_transaction(transfer(key, 1, gas=90_000)),  # does not fit: the next block
                  node.send_raw_transaction(transfer(key, 2))]  # fits, but only after nonce 1
        node.start()
        for tx_hash in hashes:
            receipt = _poll_receipt(node, tx_hash)
            assert receipt.status == 1
        assert node.block_number() == 2
    finally:
        node.stop()


def _poll_receipt(node: Node, tx_hash: bytes):
    deadline = time.monotonic() + 30
    while (receipt := node.get_receipt(tx_hash)) is None:
        assert time.monotonic() < deadline, f"0x{tx_hash.hex()} was not mined"
        time.sleep(0.01)
    return receipt
