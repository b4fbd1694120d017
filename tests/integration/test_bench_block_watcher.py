"""The bench's BlockWatcher against a real node process: it learns of blocks from the node's
`newHeads` pushes (no polling), records every transaction of every new block once, and reports
a transaction it never saw as missing rather than waiting forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.rpc import BlockWatcher, NodeProcess, RpcClient
from bench.workload import build_public_workload, default_dev_chain

pytestmark = pytest.mark.integration


def test_the_watcher_sees_each_transaction_of_the_pushed_blocks(tmp_path: Path) -> None:
    workload = build_public_workload(default_dev_chain(), n_transfers=6, n_calls=0)
    with NodeProcess(tmp_path).start() as node, RpcClient(node.url) as client:
        watcher = BlockWatcher(node.url).start()
        try:
            hashes = [bytes.fromhex(client.call("eth_sendRawTransaction", ["0x" + raw.hex()])[2:])
                      for raw in (workload.deploy, *workload.transfers)]  # the transfers' first nonce follows it
            seen_at = watcher.wait_for(hashes, 30)
            assert set(hashes) <= set(watcher.seen) and max(watcher.seen[h] for h in hashes) == seen_at
            head = int(client.call("eth_blockNumber"), 16)
            assert sum(watcher.block_sizes.values()) == len(hashes)  # each once, in the blocks it was pushed
            assert max(watcher.block_sizes) == head and watcher.error is None
            with pytest.raises(RuntimeError, match="1 of 1 transactions not in a block"):
                watcher.wait_for([b"\x01" * 32], 0.3)
        finally:
            watcher.stop()
