"""eth_sign, eth_signTransaction, eth_fillTransaction, eth_getRawTransactionBy* and the pending
transaction filter against the real node, through web3.py as a user calls them; each paired
with its refusal."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError

STRANGER = "0x" + "11" * 20
RECIPIENT = "0x" + "22" * 20


def rpc(w3: Web3, method: str, *params: Any) -> dict[str, Any]:
    return dict(w3.provider.make_request(method, list(params)))  # type: ignore[arg-type]


def rpc_error(w3: Web3, method: str, *params: Any) -> dict[str, Any]:
    answer = rpc(w3, method, *params)
    assert "error" in answer, answer
    return dict(answer["error"])


# -- eth_sign ------------------------------------------------------------------------------


def test_eth_sign_is_an_eip191_signature_by_the_unlocked_account(w3: Web3) -> None:
    account = w3.eth.accounts[0]
    signature = w3.eth.sign(account, data=b"settle trade 42")
    assert len(signature) == 65 and signature[64] in (27, 28)
    assert Account.recover_message(encode_defunct(b"settle trade 42"), signature=signature) == account


def test_eth_sign_with_an_account_not_unlocked_here_is_refused(w3: Web3) -> None:
    with pytest.raises(Web3RPCError, match="unknown account"):
        w3.eth.sign(STRANGER, data=b"x")
    assert rpc_error(w3, "eth_sign", STRANGER, "0x00") == {"code": -32000, "message": "unknown account"}
    assert rpc_error(w3, "eth_sign", w3.eth.accounts[0], "0x0")["code"] == -32602  # odd-length data


# -- eth_signTransaction and the raw reads ---------------------------------------------------


def test_sign_transaction_signs_without_sending_and_raw_reads_return_the_bytes(w3: Web3) -> None:
    sender = w3.eth.accounts[2]
    nonce = w3.eth.get_transaction_count(sender, "pending")
    signed = w3.eth.sign_transaction({"from": sender, "to": RECIPIENT, "value": 5, "gas": 21_000,
                                      "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "nonce": nonce})
    assert Account.recover_transaction(signed.raw) == sender
    tx_hash = keccak(signed.raw)
    assert signed.tx["hash"] == tx_hash and signed.tx["nonce"] == nonce and signed.tx["value"] == 5
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction(tx_hash)  # signed, not sent
    assert w3.eth.send_raw_transaction(signed.raw) == tx_hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1
    assert w3.eth.get_raw_transaction(tx_hash) == signed.raw
    assert w3.eth.get_raw_transaction_by_block(receipt.blockNumber, receipt.transactionIndex) == signed.raw
    assert w3.eth.get_raw_transaction_by_block(receipt.blockHash, receipt.transactionIndex) == signed.raw


def test_sign_transaction_keeps_geths_preconditions_and_refuses_unknown_accounts(w3: Web3) -> None:
    sender = w3.eth.accounts[0]
    base = {"from": sender, "to": RECIPIENT, "gas": "0x5208", "gasPrice": "0x0", "nonce": "0x0"}
    assert rpc_error(w3, "eth_signTransaction", {**base, "gas": None})["message"] == "gas not specified"
    assert rpc_error(w3, "eth_signTransaction", {**base, "gasPrice": None})["message"] == (
        "missing gasPrice or maxFeePerGas/maxPriorityFeePerGas")
    assert rpc_error(w3, "eth_signTransaction", {**base, "nonce": None})["message"] == "nonce not specified"
    assert rpc_error(w3, "eth_signTransaction", {**base, "from": STRANGER}) == {
        "code": -32000, "message": "unknown account"}
    private = rpc_error(w3, "eth_signTransaction", {**base, "privateFor": ["A" * 43 + "="]})
    assert private["code"] == -32602 and "eth_fillTransaction" in private["message"]


def test_raw_reads_of_unknown_transactions_are_null(w3: Web3) -> None:
    with pytest.raises(TransactionNotFound):
        w3.eth.get_raw_transaction("0x" + "ab" * 32)
    with pytest.raises(TransactionNotFound):
        w3.eth.get_raw_transaction_by_block(0, 7)
    assert rpc(w3, "eth_getRawTransactionByBlockNumberAndIndex", "0xffffff", "0x0")["result"] is None
    assert rpc_error(w3, "eth_getRawTransactionByHash", "0x1234")["code"] == -32602


# -- eth_fillTransaction -------------------------------------------------------------------


def test_fill_transaction_then_sign_externally_and_send(w3: Web3, funded: LocalAccount) -> None:
    """GoQuorum's external-signing flow for a public transaction: the node fills, the key holder signs."""
    answer = w3.manager.request_blocking("eth_fillTransaction", [{"from": funded.address, "to": RECIPIENT,
                                                                  "value": "0x7"}])
    tx, raw = answer["tx"], bytes.fromhex(answer["raw"][2:])
    assert raw[0] == 2 and int(tx["v"], 16) == int(tx["r"], 16) == int(tx["s"], 16) == 0
    assert tx["nonce"] == hex(w3.eth.get_transaction_count(funded.address, "pending"))
    assert tx["hash"] == "0x" + keccak(raw).hex()
    fields = rlp.decode(raw[1:])
    assert [int.from_bytes(f, "big") for f in fields[-3:]] == [0, 0, 0]
    signed = funded.sign_transaction({
        "type": 2, "chainId": int(tx["chainId"], 16), "nonce": int(tx["nonce"], 16), "to": tx["to"],
        "gas": int(tx["gas"], 16), "maxFeePerGas": int(tx["maxFeePerGas"], 16),
        "maxPriorityFeePerGas": int(tx["maxPriorityFeePerGas"], 16), "value": int(tx["value"], 16),
        "data": tx["input"]})
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30).status == 1


def test_fill_transaction_refusals(w3: Web3) -> None:
    assert rpc_error(w3, "eth_fillTransaction", {"to": RECIPIENT})["code"] == -32602  # no from
    private = rpc_error(w3, "eth_fillTransaction", {"from": w3.eth.accounts[0], "data": "0x60",
                                                    "privateFor": ["A" * 43 + "="]})
    assert private == {"code": -32000, "message": "private transactions need a privacy manager on this node"}


# -- the pending-transaction filter --------------------------------------------------------


def test_pending_transaction_filter_delivers_new_hashes_once(w3: Web3) -> None:
    pending = w3.eth.filter("pending")
    sender = w3.eth.accounts[3]
    sent = [w3.eth.send_transaction({"from": sender, "to": RECIPIENT, "value": i + 1}) for i in range(2)]
    assert pending.get_new_entries() == sent
    assert pending.get_new_entries() == []
    assert w3.eth.uninstall_filter(pending.filter_id)


def test_pending_transaction_filter_is_not_a_log_filter(w3: Web3) -> None:
    filter_id = w3.eth.filter("pending").filter_id
    error = rpc_error(w3, "eth_getFilterLogs", filter_id)
    assert error["code"] == -32602 and "not a log filter" in error["message"]
