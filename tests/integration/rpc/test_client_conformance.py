"""Over the wire: the client-conformance fixes as geth-speaking clients meet them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3._utils.contract_sources.contract_data.emitter_contract import EMITTER_CONTRACT_DATA

from engine.chain.node import Node
from engine.config import NodeSettings
from engine.rpc.app import create_rpc_app
from tests.helpers.servers import serve_in_thread

from .conftest import MAX_BODY_BYTES

pytestmark = pytest.mark.integration

LOG_SINGLE_WITH_INDEX = 7  # web3's emitter enum: one indexed argument → two topics


def rpc(http: httpx.Client, method: str, *params: object) -> dict:
    return http.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()


def test_get_logs_null_topic_beyond_a_logs_topics_matches_nothing(w3: Web3):
    sender = w3.eth.accounts[0]
    factory = w3.eth.contract(**EMITTER_CONTRACT_DATA)
    address = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": sender}))["contractAddress"]
    emitter = w3.eth.contract(address=address, **EMITTER_CONTRACT_DATA)
    tx = emitter.functions.logSingle(LOG_SINGLE_WITH_INDEX, 5).transact({"from": sender})
    block = w3.eth.wait_for_transaction_receipt(tx)["blockNumber"]
    query = {"fromBlock": block, "toBlock": block, "address": address}
    assert len(w3.eth.get_logs({**query, "topics": [None, None]})) == 1
    assert w3.eth.get_logs({**query, "topics": [None, None, None]}) == []


def test_type_as_a_json_number_is_accepted_like_the_hex_string(http: httpx.Client, w3: Web3):
    request = {"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": "0x1", "type": 2}
    assert rpc(http, "eth_estimateGas", request)["result"] == "0x5208"
    tx_hash = rpc(http, "eth_sendTransaction", request)["result"]
    assert w3.eth.wait_for_transaction_receipt(tx_hash)["type"] == 2


def test_same_fee_replacement_is_refused_with_gethS_wording(http: httpx.Client, w3: Web3, funded: LocalAccount):
    nonce = w3.eth.get_transaction_count(funded.address, "pending")
    tx = {"to": funded.address, "value": 0, "gas": 21_000, "gasPrice": 0, "chainId": w3.eth.chain_id,
          "nonce": nonce + 1}  # behind a gap: stays pending
    first = funded.sign_transaction(tx).raw_transaction
    again = funded.sign_transaction({**tx, "value": 1}).raw_transaction
    assert "result" in rpc(http, "eth_sendRawTransaction", "0x" + first.hex())
    error = rpc(http, "eth_sendRawTransaction", "0x" + again.hex())["error"]
    assert error == {"code": -32000, "message": "replacement transaction underpriced"}
    gap = funded.sign_transaction({**tx, "nonce": nonce}).raw_transaction
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(gap))
    w3.eth.wait_for_transaction_receipt(w3.keccak(first))


def test_fee_data_is_zero_from_genesis_on(http: httpx.Client):
    genesis = rpc(http, "eth_getBlockByNumber", "0x0", False)["result"]
    assert genesis["baseFeePerGas"] == "0x0"
    assert rpc(http, "eth_gasPrice")["result"] == "0x0"
    assert rpc(http, "eth_maxPriorityFeePerGas")["result"] == "0x0"
    assert set(rpc(http, "eth_feeHistory", "0x1", "0x0", [])["result"]["baseFeePerGas"]) == {"0x0"}


@pytest.fixture
def paused(tmp_path: Path) -> Iterator[tuple[httpx.Client, Node]]:
    """A node that never produces (another, idle one on its ordering file holds the producer
    role), so what it is sent stays in its pool; with a client for its RPC server."""
    ordering = {"kind": "local", "path": tmp_path / "ordering.sqlite"}
    holder = Node.open(NodeSettings(data_dir=tmp_path / "holder", chain_id=1337, ordering=ordering))
    assert holder.ordering.is_producer()  # takes the role (the ordering file's lock) for good
    served = Node.open(NodeSettings(data_dir=tmp_path / "served", chain_id=1337, ordering=ordering))
    served.start()
    try:
        app = create_rpc_app(served, max_body_bytes=MAX_BODY_BYTES, max_batch_size=200)
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client, served
    finally:
        served.stop()
        holder.stop()


def test_pending_block_is_the_pools_ready_transactions_on_the_head_with_gethS_null_fields(paused):
    http, node = paused
    sender = Account.from_key(node.dev_accounts[1][1])
    tx = {"to": sender.address, "value": 1, "gas": 21_000, "gasPrice": 0, "chainId": 1337, "nonce": 0}
    ready = sender.sign_transaction(tx)
    gapped = sender.sign_transaction({**tx, "nonce": 2})  # behind a gap: pooled, not executable
    for signed in (ready, gapped):
        assert "result" in rpc(http, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
    latest = rpc(http, "eth_getBlockByNumber", "latest", False)["result"]

    pending = rpc(http, "eth_getBlockByNumber", "pending", False)["result"]
    assert (pending["hash"], pending["nonce"], pending["miner"]) == (None, None, None)
    assert int(pending["number"], 16) == int(latest["number"], 16) + 1
    assert pending["parentHash"] == latest["hash"]
    assert pending["transactions"] == ["0x" + ready.hash.hex()]
    assert rpc(http, "eth_getBlockTransactionCountByNumber", "pending")["result"] == "0x1"
    full = rpc(http, "eth_getBlockByNumber", "pending", True)["result"]
    assert [t["hash"] for t in full["transactions"]] == pending["transactions"]
    assert full["transactions"][0]["blockHash"] is None  # as eth_getTransactionByHash shows a pooled one
    by_index = rpc(http, "eth_getTransactionByBlockNumberAndIndex", "pending", "0x0")["result"]
    assert by_index["hash"] == pending["transactions"][0]

    # A view only: nothing was built or stored.
    assert rpc(http, "eth_getBlockByNumber", "latest", False)["result"] == latest
    assert rpc(http, "eth_getBlockTransactionCountByNumber", "latest")["result"] == hex(len(latest["transactions"]))
    assert rpc(http, "eth_getTransactionReceipt", "0x" + ready.hash.hex())["result"] is None
