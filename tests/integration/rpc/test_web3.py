"""web3.py (unchanged, over HTTP) against the real node behind the JSON-RPC server."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound, ContractLogicError, ContractPanicError, TransactionNotFound

pytestmark = pytest.mark.integration


def wait(w3: Web3, tx_hash: bytes):
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)


def test_chain_basics(w3: Web3, node):
    assert w3.eth.chain_id == 1337
    assert w3.net.version == "1337"
    assert w3.net.listening is True
    assert w3.net.peer_count == 0
    assert w3.eth.syncing is False
    assert w3.client_version.startswith("privnet/v")
    accounts = w3.eth.accounts
    assert accounts and all(Web3.is_checksum_address(a) for a in accounts)
    assert w3.eth.get_balance(accounts[0]) > 0
    assert w3.eth.get_balance(accounts[0], "earliest") > 0
    assert w3.eth.block_number == node.block_number()
    assert w3.eth.gas_price == 0
    assert w3.eth.max_priority_fee == 0
    history = w3.eth.fee_history(1, "latest", [50])
    assert history["oldestBlock"] == w3.eth.block_number and len(history["reward"]) == 1
    genesis = w3.eth.get_block(0)
    assert genesis["number"] == 0 and w3.eth.get_block(genesis["hash"])["hash"] == genesis["hash"]
    assert Web3.keccak(text="hello") == HexBytes(w3.manager.request_blocking("web3_sha3", ["0x68656c6c6f"]))


def test_deploy_call_transact_and_read_back(w3: Web3, storage, contract):
    sender = w3.eth.accounts[0]
    assert storage.functions.get().call() == 7
    assert storage.functions.owner().call() == sender
    assert w3.eth.get_code(storage.address) == HexBytes(contract("SimpleStorage").deployed_bytecode)
    tx_hash = storage.functions.set(42).transact({"from": sender})
    receipt = wait(w3, tx_hash)
    assert receipt.status == 1 and receipt["from"] == sender and receipt.to == storage.address
    assert storage.functions.get().call() == 42
    assert storage.functions.get().call(block_identifier=receipt.blockNumber - 1) != 42 or receipt.blockNumber == 1
    assert int.from_bytes(w3.eth.get_storage_at(storage.address, 0), "big") == 42

    events = storage.events.ValueChanged().process_receipt(receipt)
    assert [(e.args.by, e.args.oldValue, e.args.newValue) for e in events] == [(sender, 7, 42)]

    tx = w3.eth.get_transaction(tx_hash)
    assert tx["hash"] == tx_hash and tx["blockNumber"] == receipt.blockNumber and tx["from"] == sender
    assert w3.eth.get_transaction_by_block(receipt.blockNumber, receipt.transactionIndex)["hash"] == tx_hash
    assert w3.eth.get_transaction_by_block(receipt.blockHash, receipt.transactionIndex)["hash"] == tx_hash
    block = w3.eth.get_block(receipt.blockNumber, full_transactions=True)
    assert block["hash"] == receipt.blockHash and tx_hash in [t["hash"] for t in block["transactions"]]
    assert w3.eth.get_block_transaction_count(receipt.blockNumber) == len(block["transactions"])
    assert w3.eth.get_block_transaction_count(receipt.blockHash) == len(block["transactions"])
    assert w3.eth.get_transaction_count(sender) == w3.eth.get_transaction_count(sender, "pending")


def test_events_through_get_logs(w3: Web3, storage):
    sender = w3.eth.accounts[0]
    start = w3.eth.block_number + 1
    receipts = [wait(w3, storage.functions.set(v).transact({"from": sender})) for v in (100, 101)]
    logs = storage.events.ValueChanged().get_logs(from_block=start)
    assert [log.args.newValue for log in logs] == [100, 101]
    topic = receipts[0].logs[0]["topics"][0]
    raw = w3.eth.get_logs({"fromBlock": start, "toBlock": "latest", "address": storage.address,
                           "topics": [topic]})
    assert [log["transactionHash"] for log in raw] == [r.transactionHash for r in receipts]
    by_hash = w3.eth.get_logs({"blockHash": receipts[1].blockHash})
    assert [log["transactionHash"] for log in by_hash] == [receipts[1].transactionHash]
    other_topic = w3.eth.get_logs({"fromBlock": start, "topics": [Web3.keccak(text="Nope()")]})
    assert other_topic == []


def test_require_revert_is_contract_logic_error(w3: Web3, storage):
    sender = w3.eth.accounts[0]
    with pytest.raises(ContractLogicError, match="execution reverted: unlucky number"):
        storage.functions.set(13).call({"from": sender})
    with pytest.raises(ContractLogicError, match="unlucky number"):
        storage.functions.set(13).estimate_gas({"from": sender})
    with pytest.raises(ContractLogicError, match="unlucky number"):
        storage.functions.set(13).transact({"from": sender})  # web3 estimates first
    with pytest.raises(ContractPanicError, match="Division by zero"):
        storage.functions.failWithPanic(0).call()


def test_estimate_gas_is_enough_and_not_wasteful(w3: Web3, storage):
    sender = w3.eth.accounts[0]
    estimate = storage.functions.set(12345).estimate_gas({"from": sender})
    assert 21_000 < estimate < 100_000
    receipt = wait(w3, storage.functions.set(12345).transact({"from": sender, "gas": estimate}))
    assert receipt.status == 1 and receipt.gasUsed <= estimate
    plain = w3.eth.estimate_gas({"from": sender, "to": w3.eth.accounts[1], "value": 1})
    assert 21_000 <= plain <= 22_000  # the node's search stops within 1,000 gas


def _send_signed(w3: Web3, account: LocalAccount, fields: dict) -> dict:
    signed = account.sign_transaction(fields)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == signed.hash
    return wait(w3, tx_hash)


def test_raw_transactions_of_each_type(w3: Web3, storage, funded: LocalAccount):
    call_data = storage.functions.set(77).build_transaction({"from": funded.address, "gas": 100_000,
                                                              "gasPrice": 0})["data"]
    nonce = w3.eth.get_transaction_count(funded.address)
    dynamic = _send_signed(w3, funded, {"type": 2, "chainId": 1337, "nonce": nonce, "to": storage.address,
                                        "data": call_data, "gas": 100_000, "maxFeePerGas": 0,
                                        "maxPriorityFeePerGas": 0})
    legacy = _send_signed(w3, funded, {"chainId": 1337, "nonce": nonce + 1, "to": storage.address,
                                       "data": call_data, "gas": 100_000, "gasPrice": 0})
    access_list = _send_signed(w3, funded, {
        "type": 1, "chainId": 1337, "nonce": nonce + 2, "to": storage.address, "data": call_data,
        "gas": 100_000, "gasPrice": 0,
        "accessList": [{"address": storage.address, "storageKeys": ["0x" + "00" * 32]}],
    })
    assert [r.type for r in (legacy, access_list, dynamic)] == [0, 1, 2]
    assert all(r.status == 1 for r in (legacy, access_list, dynamic))
    tx = w3.eth.get_transaction(access_list.transactionHash)
    assert tx["type"] == 1 and tx["accessList"][0]["address"] == storage.address
    assert w3.eth.get_transaction(dynamic.transactionHash)["type"] == 2
    assert w3.eth.get_transaction_count(funded.address) == nonce + 3


def test_value_transfer_via_send_transaction(w3: Web3):
    alice, bob = w3.eth.accounts[2], w3.eth.accounts[3]
    before = w3.eth.get_balance(bob)
    receipt = wait(w3, w3.eth.send_transaction({"from": alice, "to": bob, "value": 12345}))
    assert receipt.status == 1 and w3.eth.get_balance(bob) == before + 12345


def test_block_filter_and_log_filter(w3: Web3, storage):
    sender = w3.eth.accounts[0]
    block_filter = w3.eth.filter("latest")
    log_filter = storage.events.ValueChanged.create_filter(from_block="latest")
    assert block_filter.get_new_entries() == []
    assert log_filter.get_new_entries() == []
    receipt = wait(w3, storage.functions.set(555).transact({"from": sender}))
    new_blocks = block_filter.get_new_entries()
    assert receipt.blockHash in new_blocks
    entries = log_filter.get_new_entries()
    assert [e.args.newValue for e in entries] == [555]
    assert log_filter.get_new_entries() == []
    assert [e.args.newValue for e in log_filter.get_all_entries()] == [555]
    assert w3.eth.uninstall_filter(block_filter.filter_id) is True
    assert w3.eth.uninstall_filter(block_filter.filter_id) is False


def test_not_found_results(w3: Web3):
    missing = "0x" + "ab" * 32
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction(missing)
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt(missing)
    with pytest.raises(BlockNotFound):
        w3.eth.get_block(10**9)
    with pytest.raises(BlockNotFound):
        w3.eth.get_block(missing)
