"""A real node (engine.chain.node.Node) behind the real JSON-RPC app on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from devnet.solc import Artifact, compile_paths
from engine.chain.node import Node
from engine.config import NodeSettings
from engine.rpc.app import create_rpc_app
from tests.helpers.servers import serve_in_thread

REPO = Path(__file__).resolve().parents[3]
MAX_BODY_BYTES = 256 * 1024


@pytest.fixture(scope="session")
def compiled_contracts() -> dict[str, Artifact]:
    """Only the engine's own test contracts (solidity/test): these tests must not depend on
    the post-trade contracts other work is changing. Same pinned compiler and cache."""
    return compile_paths([REPO / "solidity" / "test"], base=REPO)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = Node.open(NodeSettings(data_dir=tmp_path_factory.mktemp("rpc-node"), chain_id=1337))
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def rpc_url(node: Node) -> Iterator[str]:
    app = create_rpc_app(node, max_body_bytes=MAX_BODY_BYTES, max_batch_size=200)
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def w3(rpc_url: str) -> Web3:
    web3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    assert web3.is_connected()
    return web3


@pytest.fixture(scope="module")
def http(rpc_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rpc_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def funded(node: Node) -> LocalAccount:
    """A pre-funded dev account whose key the test holds (for raw transactions)."""
    address, key = node.dev_accounts[1]
    account: LocalAccount = Account.from_key(key)
    assert bytes.fromhex(account.address[2:]) == address
    return account


@pytest.fixture(scope="module")
def storage(w3: Web3, contract) -> object:
    """A deployed SimpleStorage(7), deployed with `transact()` (web3 estimates the gas)."""
    artifact = contract("SimpleStorage")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(7).transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1 and receipt.contractAddress
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)
