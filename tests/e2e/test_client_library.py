"""privnet_client against a real 4-node network (its own, module-scoped: one test stops a manager).

node1 and node2 are the parties of every private contract here, node3 is the outsider whose
view is checked each time, node4 is the node whose manager is stopped. The library is driven
through web3.py only (sync `Web3` and `AsyncWeb3`); raw JSON-RPC (tests/helpers/network.py)
is used only to look at what the chain holds.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.exceptions import ContractLogicError

import privnet_client
from devnet.solc import Artifact
from privnet_client import (
    ManagerUnavailable,
    MandatoryRecipientsMissing,
    NotAParty,
    PrivacyFlagMismatch,
    PrivnetModule,
    UnknownKey,
)
from tests.helpers.network import E2ENetwork, NodeHandle, running_network

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("e2e-client-library")) as network:
        yield network


def web3_of(node: NodeHandle) -> Web3:
    return Web3(Web3.HTTPProvider(node.rpc.url, request_kwargs={"timeout": 120}),
                external_modules={"privnet": PrivnetModule})


async def async_web3_of(node: NodeHandle, websocket: bool = False) -> AsyncWeb3[Any]:
    """An AsyncWeb3 over HTTP, or over WebSocket (same port, ws://), with `privnet` attached."""
    if websocket:
        w3: AsyncWeb3[Any] = AsyncWeb3(WebSocketProvider(node.rpc.url.replace("http://", "ws://", 1)))
        await w3.provider.connect()
    else:
        w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(node.rpc.url, request_kwargs={"timeout": 120}))
    privnet_client.attach(w3)
    return w3


@pytest.fixture(scope="module")
def w3s(net: E2ENetwork) -> list[Web3]:
    return [web3_of(node) for node in net.nodes]


@pytest.fixture(scope="module")
def storage(compiled_contracts: dict[str, Artifact]) -> Artifact:
    return compiled_contracts["SimpleStorage"]


@pytest.fixture(scope="module")
def local_account(net: E2ENetwork, w3s: list[Web3]) -> LocalAccount:
    """A key no node knows, funded by a public transfer from node1's account."""
    account: LocalAccount = Account.create()
    assert account.address not in w3s[0].eth.accounts
    tx_hash = w3s[0].eth.send_transaction({"from": net.nodes[0].address, "to": account.address, "value": 10**18})
    assert w3s[0].eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] == 1
    return account


def value_of(w3: Web3, address: str, artifact: Artifact) -> int:
    return int(w3.eth.contract(address=address, abi=artifact.abi).functions.get().call())


def calldata(w3: Web3, artifact: Artifact, function: str, *args: Any) -> str:
    return str(w3.eth.contract(abi=artifact.abi).encode_abi(function, args=list(args)))


def payload_hash_of(w3: Web3, tx_hash: bytes) -> bytes:
    return bytes(w3.eth.get_transaction(tx_hash)["input"])


def assert_outsider_sees_nothing(outsider: Web3, address: str, payload_hash: bytes) -> None:
    assert outsider.eth.get_code(address) == b""
    assert int.from_bytes(outsider.eth.get_storage_at(address, 0), "big") == 0
    assert outsider.privnet.get_quorum_payload(payload_hash) == b""
    with pytest.raises(NotAParty):
        outsider.privnet.contract_privacy_metadata(address)


def test_send_through_the_node_s_unlocked_account(net: E2ENetwork, w3s: list[Web3], storage: Artifact) -> None:
    w1, w2, w3, _ = w3s
    key2 = net.nodes[1].key
    deploy_hash, address = w1.privnet.deploy_private(storage.abi, storage.bytecode, 7, private_for=[key2],
                                                     transaction={"from": net.nodes[0].address})
    w1.privnet.wait_for_private_receipt(deploy_hash, parties=[w2])
    assert value_of(w1, address, storage) == value_of(w2, address, storage) == 7

    data = calldata(w1, storage, "set", 42)
    tx_hash = w1.privnet.send_private({"from": net.nodes[0].address, "to": address, "data": data},
                                      private_for=[key2])
    receipt = w1.privnet.wait_for_private_receipt(tx_hash, parties=[w2])
    assert receipt["status"] == 1 and receipt["isPrivate"] is True
    assert value_of(w1, address, storage) == value_of(w2, address, storage) == 42
    # the parties read the payload and the contract's metadata; the outsider gets nothing
    payload_hash = payload_hash_of(w1, tx_hash)
    assert len(payload_hash) == 64
    assert w2.privnet.get_quorum_payload(payload_hash) == bytes.fromhex(data[2:])
    assert w2.privnet.contract_privacy_metadata(address)["privacyFlag"] == 0
    assert_outsider_sees_nothing(w3, address, payload_hash)


def test_send_signed_locally_with_a_key_the_node_does_not_know(net: E2ENetwork, w3s: list[Web3], storage: Artifact,
                                                              local_account: LocalAccount) -> None:
    w1, w2, w3, _ = w3s
    key2 = net.nodes[1].key
    nonce = w1.eth.get_transaction_count(local_account.address, "pending")
    deploy_hash, address = w1.privnet.deploy_private(storage.abi, storage.bytecode, 5, private_for=[key2],
                                                     account=local_account)
    # two sends back to back: the second's nonce comes from the pool (pending), not the chain
    first = w1.privnet.send_private({"to": address, "data": calldata(w1, storage, "add", 3)},
                                    private_for=[key2], account=local_account)
    second = w1.privnet.send_private({"to": address, "data": calldata(w1, storage, "add", 4)},
                                     private_for=[key2], account=local_account)
    for tx_hash in (first, second):
        assert w1.privnet.wait_for_private_receipt(tx_hash, parties=[w2])["status"] == 1
    assert value_of(w1, address, storage) == value_of(w2, address, storage) == 12

    # on the chain: markers from the local key, v = 37/38, consecutive nonces, data = the payload hash
    for offset, tx_hash in enumerate((deploy_hash, first, second)):
        tx = w1.eth.get_transaction(tx_hash)
        assert tx["from"] == local_account.address and tx["nonce"] == nonce + offset
        assert tx["gasPrice"] == 0 and len(tx["input"]) == 64
        raw = bytes(w1.eth.get_raw_transaction(tx_hash))
        assert int.from_bytes(rlp.decode(raw)[6], "big") in (37, 38)
    assert w2.privnet.contract_privacy_metadata(address)["creationTxHash"] == "0x" + payload_hash_of(
        w1, deploy_hash).hex()
    assert_outsider_sees_nothing(w3, address, payload_hash_of(w1, second))
    # a payload that reverts in the node's estimate is web3.py's ContractLogicError, signed or not
    unlucky = {"to": address, "data": calldata(w1, storage, "set", 13)}
    with pytest.raises(ContractLogicError, match="unlucky number"):
        w1.privnet.send_private(unlucky, private_for=[key2], account=local_account)
    with pytest.raises(ContractLogicError, match="unlucky number"):
        w1.privnet.send_private({**unlucky, "from": net.nodes[0].address}, private_for=[key2])


def test_a_non_party_named_as_a_party_is_not_a_party(net: E2ENetwork, w3s: list[Web3], storage: Artifact) -> None:
    w1, w2, w3, _ = w3s
    tx_hash = w1.privnet.send_private({"from": net.nodes[0].address, "data": storage.bytecode + "00" * 31 + "01"},
                                      private_for=[net.nodes[1].key])
    assert w1.privnet.wait_for_private_receipt(tx_hash, parties=[w2])["status"] == 1
    with pytest.raises(NotAParty, match="not its private payload"):
        w1.privnet.wait_for_private_receipt(tx_hash, parties=[w2, w3])


def test_an_unknown_private_for_key_is_unknown_key(net: E2ENetwork, w3s: list[Web3], storage: Artifact,
                                                   local_account: LocalAccount) -> None:
    stranger = base64.b64encode(os.urandom(32)).decode()
    nonce = w3s[0].eth.get_transaction_count(net.nodes[0].address, "pending")
    local_nonce = w3s[0].eth.get_transaction_count(local_account.address, "pending")
    with pytest.raises(UnknownKey) as caught:
        w3s[0].privnet.send_private({"from": net.nodes[0].address, "data": storage.bytecode + "00" * 32},
                                    private_for=[stranger])
    assert caught.value.code == -32000 and stranger in caught.value.message
    with pytest.raises(UnknownKey):  # the same through local signing: refused when the payload is distributed
        w3s[0].privnet.send_private({"data": storage.bytecode + "00" * 32}, private_for=[stranger],
                                    account=local_account)
    assert w3s[0].eth.get_transaction_count(net.nodes[0].address, "pending") == nonce  # nothing was sent
    assert w3s[0].eth.get_transaction_count(local_account.address, "pending") == local_nonce


def test_flag_and_mandatory_recipient_errors(net: E2ENetwork, w3s: list[Web3], storage: Artifact) -> None:
    w1, _, w3, _ = w3s
    me, key2, key3 = net.nodes[0].address, net.nodes[1].key, net.nodes[2].key
    _, psv = w1.privnet.deploy_private(storage.abi, storage.bytecode, 1, private_for=[key2], privacy_flag=3,
                                       transaction={"from": me})
    set_9 = {"from": me, "to": psv, "data": calldata(w1, storage, "set", 9)}
    for wrong in (0, 1):  # forgetting the flag, or another one
        with pytest.raises(PrivacyFlagMismatch) as caught:
            w1.privnet.send_private(set_9, private_for=[key2], privacy_flag=wrong)
        assert caught.value.message == "sent privacy flag doesn't match all affected contract flags"
    # flag 2 without mandatoryFor (the node's check), and with a mandatory key left out of privateFor (the manager's)
    with pytest.raises(MandatoryRecipientsMissing, match="missing mandatory recipients data"):
        w1.privnet.send_private({"from": me, "data": storage.bytecode + "00" * 32}, private_for=[key2],
                                privacy_flag=2)
    with pytest.raises(MandatoryRecipientsMissing, match="One or more mandatory recipients not included"):
        w1.privnet.send_private({"from": me, "data": storage.bytecode + "00" * 32}, private_for=[key2],
                                privacy_flag=2, mandatory_for=[key3])
    # the outsider, for whom the PSV contract does not exist, cannot transact with it
    with pytest.raises(NotAParty, match="contract not found"):
        w3.privnet.send_private({**set_9, "from": net.nodes[2].address}, private_for=[net.nodes[0].key, key2],
                                privacy_flag=3)
    # the right flag goes through at every party
    tx_hash = w1.privnet.send_private(set_9, private_for=[key2], privacy_flag=3)
    assert w1.privnet.wait_for_private_receipt(tx_hash, parties=[w3s[1]])["status"] == 1
    assert value_of(w3s[1], psv, storage) == 9


def test_a_stopped_manager_is_manager_unavailable(net: E2ENetwork, w3s: list[Web3], storage: Artifact,
                                                  local_account: LocalAccount) -> None:
    """node4's manager is stopped: node4's own sends fail, and so does node1's send to node4."""
    node4 = net.nodes[3]
    data = storage.bytecode + "00" * 32
    nonces = [w3s[i].eth.get_transaction_count(a, "pending")
              for i, a in ((3, node4.address), (3, local_account.address), (0, net.nodes[0].address))]
    net.local.stop_process(f"{node4.name}-manager")
    try:
        with pytest.raises(ManagerUnavailable, match="^private transaction manager at .* unavailable"):
            w3s[3].privnet.send_private({"from": node4.address, "data": data, "gas": 3_000_000},
                                        private_for=[net.nodes[0].key])
        with pytest.raises(ManagerUnavailable, match="^private transaction manager at .* unavailable"):
            w3s[3].privnet.send_private({"data": data, "gas": 3_000_000}, private_for=[net.nodes[0].key],
                                        account=local_account)
        with pytest.raises(ManagerUnavailable, match="^503 status: "):
            w3s[0].privnet.send_private({"from": net.nodes[0].address, "data": data, "gas": 3_000_000},
                                        private_for=[node4.key])
    finally:
        net.local.start_process(f"{node4.name}-manager")
    assert nonces == [w3s[i].eth.get_transaction_count(a, "pending")  # nothing was submitted
                      for i, a in ((3, node4.address), (3, local_account.address), (0, net.nodes[0].address))]


@pytest.mark.asyncio
async def test_async_send_and_wait(net: E2ENetwork, w3s: list[Web3], storage: Artifact,
                                   local_account: LocalAccount) -> None:
    """node1 over HTTP; node2 and node3 over WebSocket (persistent connections answer by request id)."""
    a1 = await async_web3_of(net.nodes[0])
    a2, a3 = [await async_web3_of(node, websocket=True) for node in net.nodes[1:3]]
    try:
        await _async_send_and_wait(net, w3s, storage, local_account, a1, a2, a3)
    finally:
        for w3 in (a1, a2, a3):
            await w3.provider.disconnect()


async def _async_send_and_wait(net: E2ENetwork, w3s: list[Web3], storage: Artifact, local_account: LocalAccount,
                               a1: AsyncWeb3[Any], a2: AsyncWeb3[Any], a3: AsyncWeb3[Any]) -> None:
    key2 = net.nodes[1].key
    _, address = await a1.privnet.deploy_private(storage.abi, storage.bytecode, 3, private_for=[key2],
                                                 transaction={"from": net.nodes[0].address})
    by_node = await a1.privnet.send_private({"from": net.nodes[0].address, "to": address,
                                             "data": calldata(w3s[0], storage, "add", 10)}, private_for=[key2])
    add_100 = calldata(w3s[0], storage, "add", 100)
    by_key = await a1.privnet.send_private({"to": address, "data": add_100}, private_for=[key2],
                                           account=local_account)
    for tx_hash in (by_node, by_key):
        receipt = await a1.privnet.wait_for_private_receipt(tx_hash, parties=[a2])
        assert receipt["status"] == 1 and receipt["isPrivate"] is True
    assert value_of(w3s[0], address, storage) == value_of(w3s[1], address, storage) == 113
    # the party reads the payload; the outsider gets nothing and is no party of it
    payload_hash = payload_hash_of(w3s[0], by_key)
    assert await a2.privnet.get_quorum_payload(payload_hash) == bytes.fromhex(add_100[2:])
    assert await a3.privnet.get_quorum_payload(payload_hash) == b""
    assert await a3.eth.get_code(address) == b""
    with pytest.raises(NotAParty):
        await a3.privnet.contract_privacy_metadata(address)
    with pytest.raises(NotAParty):
        await a1.privnet.wait_for_private_receipt(by_key, parties=[a2, a3])
    with pytest.raises(UnknownKey):
        await a1.privnet.send_private({"from": net.nodes[0].address, "to": address,
                                       "data": calldata(w3s[0], storage, "add", 1)},
                                      private_for=[base64.b64encode(os.urandom(32)).decode()])
