"""Concurrent `eth_sendTransaction` calls from one unlocked account get consecutive nonces."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from engine.chain.node import Node
from engine.config import NodeSettings
from engine.rpc.app import create_rpc_app
from tests.helpers.servers import serve_in_thread

pytestmark = pytest.mark.integration


def test_parallel_sends_from_one_account_all_land(tmp_path: Path) -> None:
    node = Node.open(NodeSettings(data_dir=tmp_path, chain_id=1337, dev_accounts=2))
    node.start()
    try:
        with serve_in_thread(create_rpc_app(node)) as url:
            sender, receiver = (Web3.to_checksum_address(a) for a, _ in node.dev_accounts)

            def send(_: int) -> bytes:
                w3 = Web3(HTTPProvider(url))
                return bytes(w3.eth.send_transaction({"from": sender, "to": receiver, "value": 1, "gas": 21_000}))

            with ThreadPoolExecutor(max_workers=8) as pool:
                hashes = list(pool.map(send, range(40)))
            w3 = Web3(HTTPProvider(url))
            receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
            assert all(r["status"] == 1 for r in receipts)
            nonces = sorted(w3.eth.get_transaction(h)["nonce"] for h in hashes)
            assert nonces == list(range(40))
            assert w3.eth.get_transaction_count(sender) == 40
    finally:
        node.stop()
