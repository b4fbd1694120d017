"""The dispatcher: envelopes, batches, notifications, parameter counting, the method table."""

from __future__ import annotations

import pytest

from engine.rpc.app import method_table
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Dispatcher
from engine.rpc.filters import FilterRegistry

from .fakes import FakeNode

DESIGN_METHODS = {
    # DESIGN.md §3 and what web3.py needs
    "eth_chainId", "eth_blockNumber", "eth_getBalance", "eth_getTransactionCount", "eth_getCode",
    "eth_getStorageAt", "eth_call", "eth_estimateGas", "eth_gasPrice", "eth_maxPriorityFeePerGas",
    "eth_feeHistory", "eth_sendTransaction", "eth_sendRawTransaction", "eth_getTransactionByHash",
    "eth_getTransactionByBlockNumberAndIndex", "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionReceipt", "eth_getBlockByNumber", "eth_getBlockByHash",
    "eth_getBlockTransactionCountByNumber", "eth_getBlockTransactionCountByHash", "eth_getLogs",
    "eth_newFilter", "eth_newBlockFilter", "eth_getFilterChanges", "eth_getFilterLogs", "eth_uninstallFilter",
    "eth_accounts", "eth_syncing", "net_version", "net_listening", "net_peerCount", "web3_clientVersion",
    "web3_sha3",
    # GoQuorum (PROTOCOL.md §1)
    "eth_getQuorumPayload", "eth_getContractPrivacyMetadata", "eth_sendRawPrivateTransaction", "eth_storageRoot",
}


@pytest.fixture
def node() -> FakeNode:
    return FakeNode()


@pytest.fixture
def dispatcher(node: FakeNode) -> Dispatcher:
    context = RpcContext(node=node, filters=FilterRegistry(node), client_version="privnet/test", privacy=node)
    return Dispatcher(method_table(node), context, max_batch_size=5)


def req(method: str, params: list | None = None, id_: object = 1) -> dict:
    out: dict = {"jsonrpc": "2.0", "method": method, "id": id_}
    if params is not None:
        out["params"] = params
    return out


def test_table_serves_every_design_method(node):
    assert DESIGN_METHODS <= method_table(node).keys()


def test_single_call_echoes_id(dispatcher):
    for id_ in (1, "abc", "7", None, 2.5, 0):
        assert dispatcher.handle(req("eth_chainId", id_=id_)) == {"jsonrpc": "2.0", "id": id_, "result": "0x539"}


def test_params_may_be_omitted_or_null(dispatcher):
    assert dispatcher.handle({"jsonrpc": "2.0", "method": "eth_blockNumber", "id": 1})["result"] == "0x2"
    with_null = {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": None, "id": 1}
    assert dispatcher.handle(with_null)["result"] == "0x2"


def test_notification_gets_no_response_even_on_error(dispatcher, node):
    assert dispatcher.handle({"jsonrpc": "2.0", "method": "eth_sendRawTransaction", "params": ["0x01"]}) is None
    assert node.sent_raw == [b"\x01"]
    assert dispatcher.handle({"jsonrpc": "2.0", "method": "no_such_method"}) is None
    assert dispatcher.handle({"jsonrpc": "2.0", "method": "eth_getBalance", "params": [1]}) is None


@pytest.mark.parametrize(("request_", "code", "echo_id"), [
    ({"jsonrpc": "1.0", "method": "eth_chainId", "id": 3}, -32600, 3),
    ({"method": "eth_chainId", "id": 3}, -32600, 3),
    ({"jsonrpc": "2.0", "method": 5, "id": 3}, -32600, 3),
    ({"jsonrpc": "2.0", "id": 3}, -32600, 3),
    ({"jsonrpc": "2.0", "method": "eth_chainId", "params": "x", "id": 3}, -32600, 3),
    ({"jsonrpc": "2.0", "method": "eth_chainId", "params": {"a": 1}, "id": 3}, -32602, 3),
    ({"jsonrpc": "2.0", "method": "eth_chainId", "id": True}, -32600, None),
    ({"jsonrpc": "2.0", "method": "eth_chainId", "id": [1]}, -32600, None),
    ({"jsonrpc": "2.0", "method": "eth_chainId", "id": {"a": 1}}, -32600, None),
    ({"jsonrpc": "2.0", "method": "eth_nope", "id": 3}, -32601, 3),
    ("eth_chainId", -32600, None),
    (17, -32600, None),
    (None, -32600, None),
])
def test_invalid_requests(dispatcher, request_, code, echo_id):
    response = dispatcher.handle(request_)
    assert response["jsonrpc"] == "2.0" and response["id"] == echo_id and "result" not in response
    assert response["error"]["code"] == code and isinstance(response["error"]["message"], str)


def test_unknown_method_names_it(dispatcher):
    assert "eth_nope" in dispatcher.handle(req("eth_nope"))["error"]["message"]


def test_too_many_and_missing_params_are_named(dispatcher):
    too_many = dispatcher.handle(req("eth_chainId", [1]))["error"]
    assert too_many == {"code": -32602,
                        "message": "invalid params: too many params (this method takes at most 0, got 1)"}
    missing = dispatcher.handle(req("eth_getBalance", []))["error"]
    assert missing["code"] == -32602 and "param 0 (address)" in missing["message"]
    null_required = dispatcher.handle(req("eth_getTransactionByHash", [None]))["error"]
    assert "param 0 (transactionHash)" in null_required["message"]


def test_batch_mixes_results_errors_and_notifications_in_order(dispatcher):
    batch = [
        req("eth_chainId", id_=1),
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # notification: no entry
        req("eth_getBalance", ["0x12"], id_=2),
        5,
        req("eth_nope", id_="x"),
    ]
    responses = dispatcher.handle(batch)
    assert [r["id"] for r in responses] == [1, 2, None, "x"]
    assert responses[0]["result"] == "0x539"
    assert [r.get("error", {}).get("code") for r in responses] == [None, -32602, -32600, -32601]


def test_empty_batch_is_one_invalid_request(dispatcher):
    assert dispatcher.handle([]) == {"jsonrpc": "2.0", "id": None,
                                     "error": {"code": -32600, "message": "invalid request: empty batch"}}


def test_batch_size_limit(dispatcher):
    assert len(dispatcher.handle([req("eth_chainId", id_=i) for i in range(5)])) == 5
    response = dispatcher.handle([req("eth_chainId", id_=i) for i in range(6)])
    assert response["id"] is None and response["error"]["code"] == -32600
    assert "batch too large (max 5" in response["error"]["message"]


def test_batch_of_notifications_owes_nothing(dispatcher):
    assert dispatcher.handle([{"jsonrpc": "2.0", "method": "eth_chainId"}] * 3) is None


def test_batch_reuses_the_dispatcher_for_writes(dispatcher, node):
    raws = [bytes([i, 0xAA]) for i in range(4)]
    responses = dispatcher.handle([req("eth_sendRawTransaction", ["0x" + r.hex()], id_=i) for i, r in enumerate(raws)])
    assert node.sent_raw == raws
    assert [r["id"] for r in responses] == [0, 1, 2, 3] and all(len(r["result"]) == 66 for r in responses)


def test_unexpected_failure_inside_batch_is_generic(dispatcher, node):
    node.fail_with = RuntimeError("/secret/path exploded")
    responses = dispatcher.handle([req("eth_blockNumber", id_=1), req("eth_chainId", id_=2)])
    assert responses[0] == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "internal error"}}
    assert responses[1]["result"] == "0x539"


def test_needs_thread_only_when_a_method_may_wait_on_the_node(dispatcher):
    assert not dispatcher.needs_thread(req("eth_chainId"))
    assert not dispatcher.needs_thread([req("eth_chainId"), req("net_version"), req("web3_sha3", ["0x"])])
    assert dispatcher.needs_thread(req("eth_blockNumber"))
    assert dispatcher.needs_thread([req("eth_chainId"), req("eth_sendRawTransaction", ["0x01"])])
    assert not dispatcher.needs_thread([1, {"method": ["x"]}, req("eth_nope")])
    assert not dispatcher.needs_thread("garbage")
