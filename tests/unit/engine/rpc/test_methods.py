"""Method handlers through the dispatcher, against the in-memory fake node."""

from __future__ import annotations

import base64

import pytest
from eth_utils import keccak

from engine.abc import ReceivedPayload
from engine.rpc import formatters as fmt
from engine.rpc.app import method_table
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Dispatcher
from engine.rpc.filters import FilterRegistry
from engine.types import PrivacyFlag, PtmPublicKey

from .fakes import ALICE, BOB, CONTRACT, TOPIC_A, TOPIC_B, FakeNode, block_hash, make_tx

KEY_A = base64.b64encode(b"\x01" * 32).decode()
KEY_B = base64.b64encode(b"\x02" * 32).decode()


@pytest.fixture
def node() -> FakeNode:
    return FakeNode()


def make_rpc(node: FakeNode, max_log_block_range: int = 10_000):
    context = RpcContext(node=node, filters=FilterRegistry(node, max_block_range=max_log_block_range),
                         client_version="privnet/test", max_log_block_range=max_log_block_range, privacy=node)
    dispatcher = Dispatcher(method_table(node), context)

    def rpc(method: str, *params):
        response = dispatcher.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        return response

    return rpc


@pytest.fixture
def rpc(node):
    return make_rpc(node)


def result(response):
    assert "error" not in response, response
    return response["result"]


def error(response):
    assert "result" not in response, response
    return response["error"]


def test_simple_reads(rpc, node):
    assert result(rpc("eth_chainId")) == "0x539"
    assert result(rpc("eth_blockNumber")) == "0x2"
    assert result(rpc("eth_syncing")) is False
    assert result(rpc("eth_accounts")) == [fmt.address(ALICE), fmt.address(BOB)]
    assert result(rpc("eth_gasPrice")) == hex(1_000_000_007)
    assert result(rpc("eth_maxPriorityFeePerGas")) == hex(1_000_000_000)
    assert result(rpc("net_version")) == "1337"
    assert result(rpc("net_listening")) is True
    assert result(rpc("net_peerCount")) == "0x0"
    assert result(rpc("web3_clientVersion")) == "privnet/test"
    assert result(rpc("web3_sha3", "0x68656c6c6f")) == "0x" + keccak(b"hello").hex()


def test_state_reads_default_to_latest_and_accept_every_block_form(rpc):
    alice = fmt.address(ALICE)
    assert result(rpc("eth_getBalance", alice)) == hex(10**21)
    assert result(rpc("eth_getBalance", alice, "0x1")) == hex(10**21)
    assert result(rpc("eth_getBalance", alice, fmt.data(block_hash(1)))) == hex(10**21)
    assert result(rpc("eth_getBalance", alice, {"blockNumber": "earliest"})) == hex(10**21)
    assert result(rpc("eth_getTransactionCount", alice, "pending")) == "0x5"
    assert result(rpc("eth_getTransactionCount", alice)) == "0x4"
    assert result(rpc("eth_getCode", fmt.address(CONTRACT), "latest")) == "0x6000"
    assert result(rpc("eth_getCode", fmt.address(BOB))) == "0x"
    assert result(rpc("eth_getStorageAt", alice, "0x5", "latest")) == "0x" + "00" * 31 + "05"


def test_unknown_block_for_state_is_resource_not_found(rpc):
    assert error(rpc("eth_getBalance", fmt.address(ALICE), "0x99"))["code"] == -32001


def test_call_and_estimate_forward_private_fields(rpc, node):
    tx = {"from": fmt.address(ALICE), "to": fmt.address(CONTRACT), "data": "0x0102",
          "privateFor": [KEY_A], "privateFrom": KEY_B, "privacyFlag": 1}
    assert result(rpc("eth_call", tx, "latest")) == "0x0201"
    assert result(rpc("eth_estimateGas", tx)) == hex(21_000 + 32)
    (call_request, call_block), (estimate_request, estimate_block) = node.calls
    assert call_block == "latest" and estimate_block == "latest"
    for request in (call_request, estimate_request):
        assert request.private.private_for == (KEY_A,) and request.private.private_from == KEY_B
        assert request.private.privacy_flag is PrivacyFlag.PARTY_PROTECTION


def test_call_parses_state_overrides_and_accepts_null(rpc):
    tx = {"to": fmt.address(CONTRACT), "data": "0x01"}
    assert result(rpc("eth_call", tx, "latest", None)) == "0x01"
    assert result(rpc("eth_call", tx, "latest", {})) == "0x01"
    assert result(rpc("eth_call", tx, "latest", {fmt.address(CONTRACT): {"balance": "0x1"}})) == "0x01"
    err = error(rpc("eth_call", tx, "latest", {fmt.address(CONTRACT): {"balance": "0xzz"}}))
    assert err["code"] == -32602 and "stateOverrides" in err["message"]


def test_call_revert_is_code_3_with_data(rpc):
    err = error(rpc("eth_call", {"to": fmt.address(CONTRACT), "data": "0x" + b"revert".hex()}))
    assert err == {"code": 3, "message": "execution reverted: unlucky number", "data": "0x08c379a0"}


def test_privacy_validation_surfaces_as_minus_32000(rpc):
    err = error(rpc("eth_sendTransaction", {"from": fmt.address(ALICE), "privateFor": [KEY_A], "privacyFlag": 2}))
    assert err == {"code": -32000, "message": "missing mandatory recipients data. if no mandatory recipients "
                                              "required consider using PrivacyFlag=1(PartyProtection)"}
    err = error(rpc("eth_estimateGas", {"privateFor": [KEY_A], "privacyFlag": 7}))
    assert err == {"code": -32000, "message": "invalid privacy flag"}


def test_send_transaction(rpc, node):
    tx = {"from": fmt.address(ALICE), "data": "0x6000", "gas": "0x100000", "privateFor": [KEY_A, KEY_B]}
    assert len(result(rpc("eth_sendTransaction", tx))) == 66
    assert node.sent[0].sender == ALICE and node.sent[0].private.private_for == (KEY_A, KEY_B)
    assert "transaction.from: missing" in error(rpc("eth_sendTransaction", {"data": "0x"}))["message"]


def test_send_raw_transaction(rpc, node):
    assert result(rpc("eth_sendRawTransaction", "0x02f8")) == fmt.data(keccak(b"\x02\xf8"))
    assert node.sent_raw == [b"\x02\xf8"]
    assert error(rpc("eth_sendRawTransaction", "0xdead")) == {"code": -32000, "message": "nonce too low"}
    assert "transaction: hex string has odd length" in error(rpc("eth_sendRawTransaction", "0x2f8"))["message"]
    assert "empty transaction" in error(rpc("eth_sendRawTransaction", "0x"))["message"]


def test_transactions_receipts_and_blocks(rpc, node):
    tx = make_tx(1, 0)
    assert result(rpc("eth_getTransactionByHash", fmt.data(tx.hash))) == fmt.transaction(tx)
    assert result(rpc("eth_getTransactionByHash", "0x" + "00" * 32)) is None
    assert result(rpc("eth_getTransactionByBlockNumberAndIndex", "0x1", "0x0")) == fmt.transaction(tx)
    assert result(rpc("eth_getTransactionByBlockHashAndIndex", fmt.data(block_hash(1)), "0x0")) == fmt.transaction(tx)
    assert result(rpc("eth_getTransactionByBlockNumberAndIndex", "0x1", "0x5")) is None
    assert result(rpc("eth_getTransactionReceipt", fmt.data(tx.hash)))["status"] == "0x1"
    assert result(rpc("eth_getTransactionReceipt", "0x" + "00" * 32)) is None
    latest = result(rpc("eth_getBlockByNumber", "latest", False))
    assert latest["number"] == "0x2" and latest["transactions"] == [fmt.data(make_tx(2, 0).hash)]
    full = result(rpc("eth_getBlockByHash", fmt.data(block_hash(1)), True))
    assert full["transactions"] == [fmt.transaction(tx)]
    assert result(rpc("eth_getBlockByNumber", "0x1"))["transactions"] == [fmt.data(tx.hash)]
    assert result(rpc("eth_getBlockByNumber", "0x64", False)) is None
    assert result(rpc("eth_getBlockTransactionCountByNumber", "0x0")) == "0x0"
    assert result(rpc("eth_getBlockTransactionCountByHash", fmt.data(block_hash(2)))) == "0x1"
    assert result(rpc("eth_getBlockTransactionCountByNumber", "0x64")) is None
    receipts = result(rpc("eth_getBlockReceipts", "0x1"))
    assert [r["transactionHash"] for r in receipts] == [fmt.data(tx.hash)]
    assert "fullTransactions: expected a boolean" in error(rpc("eth_getBlockByNumber", "latest", "yes"))["message"]


def test_fee_history(rpc):
    history = result(rpc("eth_feeHistory", "0x2", "latest", [10, 50]))
    assert history == {"oldestBlock": "0x1", "baseFeePerGas": ["0x7"] * 3, "gasUsedRatio": [0.5, 0.5],
                       "reward": [["0xa", "0x32"], ["0xa", "0x32"]]}
    assert result(rpc("eth_feeHistory", 2, "latest"))["oldestBlock"] == "0x1"
    assert "rewardPercentiles[1]: percentiles must be in non-decreasing order" in error(
        rpc("eth_feeHistory", "0x2", "latest", [50, 10]))["message"]
    assert "blockCount: must be between 1 and 1024" in error(rpc("eth_feeHistory", "0x0", "latest"))["message"]


def test_get_logs_ranges_topics_and_addresses(rpc, node):
    node.grow(topics=(TOPIC_B,))  # block 3
    logs = result(rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"}))
    assert [entry["blockNumber"] for entry in logs] == ["0x1", "0x2", "0x3"]
    only_b = result(rpc("eth_getLogs", {"fromBlock": "earliest", "topics": [fmt.data(TOPIC_B)]}))
    assert [entry["blockNumber"] for entry in only_b] == ["0x3"]
    either = result(rpc("eth_getLogs", {"fromBlock": "0x0", "topics": [[fmt.data(TOPIC_A), fmt.data(TOPIC_B)]]}))
    assert len(either) == 3
    assert result(rpc("eth_getLogs", {"fromBlock": "0x0", "address": fmt.address(BOB)})) == []
    assert len(result(rpc("eth_getLogs", {"fromBlock": "0x0", "address": [fmt.address(BOB),
                                                                          fmt.address(CONTRACT)]}))) == 3
    # default range is the latest block only; a range past the head is clamped to it
    assert [e["blockNumber"] for e in result(rpc("eth_getLogs", {}))] == ["0x3"]
    assert [e["blockNumber"] for e in result(rpc("eth_getLogs", {"fromBlock": "0x3", "toBlock": "0x50"}))] == ["0x3"]
    assert result(rpc("eth_getLogs", {"fromBlock": "0x10"})) == []
    assert node.log_queries[-1].to_block == 3  # the last query the node saw was clamped
    by_hash = result(rpc("eth_getLogs", {"blockHash": fmt.data(block_hash(2))}))
    assert [e["blockNumber"] for e in by_hash] == ["0x2"]
    assert error(rpc("eth_getLogs", {"blockHash": "0x" + "00" * 32}))["code"] == -32001


def test_get_logs_range_limit(node):
    rpc = make_rpc(node, max_log_block_range=2)
    assert len(result(rpc("eth_getLogs", {"fromBlock": "0x1", "toBlock": "0x2"}))) == 2
    err = error(rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"}))
    assert err["code"] == -32602 and "block range too large (3 blocks, at most 2)" in err["message"]


def test_quorum_payload(rpc, node):
    key = b"\x09" * 64
    node.payloads[key] = b"\x60\x80"
    assert result(rpc("eth_getQuorumPayload", fmt.data(key))) == "0x6080"
    assert result(rpc("eth_getQuorumPayload", "0x" + "07" * 64)) == "0x"
    assert "payloadHash: a privacy manager hash is 64 bytes" in error(rpc("eth_getQuorumPayload", "0x07"))["message"]


def test_quorum_payload_extra(rpc, node):
    node.payload_extras[b"\x09" * 64] = ReceivedPayload(b"\x60", PrivacyFlag.PARTY_PROTECTION, (), b"",
                                                         (PtmPublicKey(KEY_A),))
    assert result(rpc("eth_getQuorumPayloadExtra", "0x" + "09" * 64)) == {
        "payload": "0x60", "privacyFlag": 1, "affectedContractTransactions": [], "execHash": "0x",
        "mandatoryRecipients": [KEY_A]}
    assert result(rpc("eth_getQuorumPayloadExtra", "0x" + "07" * 64)) is None


def test_contract_privacy_metadata(rpc, node):
    node.privacy_metadata[CONTRACT] = {"creationTxHash": b"\x01" * 64, "privacyFlag": PrivacyFlag.PARTY_PROTECTION,
                                       "mandatoryFor": ()}
    assert result(rpc("eth_getContractPrivacyMetadata", fmt.address(CONTRACT))) == {
        "creationTxHash": "0x" + "01" * 64, "privacyFlag": 1, "mandatoryFor": []}
    assert error(rpc("eth_getContractPrivacyMetadata", fmt.address(BOB)))["code"] == -32001


def test_send_raw_private_transaction(rpc, node):
    assert error(rpc("eth_sendRawPrivateTransaction", "0xf8")) == {"code": -32000,
                                                                 "message": "transaction is not private"}
    assert error(rpc("eth_sendRawPrivateTransaction", "0xf8", {"privacyFlag": 1})) == {
        "code": -32000, "message": "transaction is not private"}
    assert error(rpc("eth_sendRawPrivateTransaction", "0xf8", {"privateFor": [KEY_A], "privacyFlag": 5}))[
        "message"] == "invalid privacy flag"
    assert error(rpc("eth_sendRawPrivateTransaction", "0xf8", {"privateFor": [KEY_A], "mandatoryFor": [KEY_B]}))[
        "message"].startswith("privacy metadata invalid.")
    assert "privateArgs.privateFor[0]: not valid base64" in error(
        rpc("eth_sendRawPrivateTransaction", "0xf8", {"privateFor": ["%%%"]}))["message"]
    assert "transaction: invalid hex digit" in error(
        rpc("eth_sendRawPrivateTransaction", "0xzz", {"privateFor": [KEY_A]}))["message"]
    tx_hash = result(rpc("eth_sendRawPrivateTransaction", "0xf8",
                         {"privateFor": [KEY_A], "privacyFlag": 2, "mandatoryFor": [KEY_B]}))
    assert tx_hash == fmt.data(keccak(b"\xf8"))
    assert node.sent_private == [(b"\xf8", (KEY_A,), PrivacyFlag.MANDATORY_RECIPIENTS, (KEY_B,))]


def test_storage_root(rpc):
    assert result(rpc("eth_storageRoot", fmt.address(CONTRACT))) == fmt.data(keccak(CONTRACT))
    assert result(rpc("eth_storageRoot", fmt.address(CONTRACT), "0x1")) == fmt.data(keccak(CONTRACT))
