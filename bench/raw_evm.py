"""Part A (a): raw py-evm execution as a node does it, with no RPC and no threads.

Producer side: decode the raw transactions (rlp + sender recovery, as `eth_sendRawTransaction`
does), `build_block` each batch of B in one pass, `persist_block`. Follower side: decode the
block's RLP and `import_block` it on a second chain. Same VM class
(`make_vm_class(None)`), chain id and dev genesis as the node. "block import" tx/s is the
public baseline (a).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rlp
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB

from bench.workload import DevChain, PublicWorkload
from engine.chain.builder import build_block
from engine.chain.vm import make_vm_class


@dataclass
class ChainPair:
    producer: Any
    follower: Any
    block_class: Any
    tx_builder: Any
    follower_store: Any = None  # SqliteKV when the follower runs on the node's store


def new_chain_class(chain: DevChain) -> Any:
    vm_class = make_vm_class(None)
    return Chain.configure(__name__="BenchChain", vm_configuration=((0, vm_class),), chain_id=chain.chain_id)


def new_pair(chain: DevChain, follower_sqlite: Path | None = None) -> ChainPair:
    chain_class = new_chain_class(chain)
    genesis = chain.genesis
    producer = chain_class.from_genesis(AtomicDB(), genesis.header_params(), genesis.state())
    store = None
    if follower_sqlite is not None:
        from engine.db.store import SqliteKV

        store = SqliteKV(follower_sqlite)
        follower_db = AtomicDB(store)
    else:
        follower_db = AtomicDB()
    follower = chain_class.from_genesis(follower_db, genesis.header_params(), genesis.state())
    if store is not None:
        store.commit()
    vm_class = chain_class.vm_configuration[0][1]
    return ChainPair(producer, follower, vm_class.get_block_class(), vm_class.get_transaction_builder(), store)


@dataclass
class BlockRun:
    txs: int = 0
    blocks: int = 0
    decode_s: float = 0.0  # raw tx → signed tx with its sender recovered
    build_s: float = 0.0  # build_block + persist_block on the producer
    import_s: float = 0.0  # rlp decode of the block + import_block (+ commit) on the follower
    build_cpu_s: float = 0.0  # the same, in this process's CPU time (robust to a busy machine)
    import_cpu_s: float = 0.0
    failed: int = 0

    def rate(self, seconds: float) -> float:
        return self.txs / seconds if seconds else float("nan")


def run_blocks(pair: ChainPair, raws: list[bytes], block_size: int, timestamp: int) -> BlockRun:
    """Feed `raws` through producer and follower in blocks of `block_size`."""
    result = BlockRun()
    for start in range(0, len(raws), block_size):
        batch = raws[start : start + block_size]
        t0 = time.perf_counter()
        txs = []
        for raw in batch:
            tx = pair.tx_builder.decode(raw)
            tx.check_signature_validity()
            _ = tx.sender
            txs.append(tx)
        t1, c1 = time.perf_counter(), time.process_time()
        parent = pair.producer.get_canonical_head()
        built = build_block(pair.producer, parent, txs, max(timestamp, parent.timestamp), b"\x00" * 20)
        pair.producer.persist_block(built.block)
        t2, c2 = time.perf_counter(), time.process_time()
        if built.rejected or built.deferred:
            raise RuntimeError(
                f"block builder dropped {len(built.rejected)} and deferred {len(built.deferred)} "
                f"transactions: {built.rejected[:1]}"
            )
        block_rlp = rlp.encode(built.block)
        t3, c3 = time.perf_counter(), time.process_time()
        block = rlp.decode(block_rlp, sedes=pair.block_class)
        pair.follower.import_block(block)
        if pair.follower_store is not None:
            pair.follower_store.commit()
        t4, c4 = time.perf_counter(), time.process_time()
        result.failed += sum(1 for r in built.receipts if r.state_root != b"\x01")
        result.txs += len(batch)
        result.blocks += 1
        result.decode_s += t1 - t0
        result.build_s += t2 - t1
        result.import_s += t4 - t3
        result.build_cpu_s += c2 - c1
        result.import_cpu_s += c4 - c3
    return result


def measure_raw(
    chain: DevChain, workload: PublicWorkload, block_size: int, follower_sqlite: Path | None = None
) -> dict[str, Any]:
    """Deploy (untimed), then transfers, then calls, each timed on both chains."""
    pair = new_pair(chain, follower_sqlite)
    timestamp = chain.genesis.timestamp + 1
    setup = run_blocks(pair, [workload.deploy], 1, timestamp)
    if setup.failed:
        raise RuntimeError("SimpleStorage deployment failed in the raw chain")
    out: dict[str, Any] = {"block_size": block_size, "db": "SqliteKV" if follower_sqlite else "MemoryDB"}
    for kind, raws in (("transfer", workload.transfers), ("call", workload.calls)):
        if not raws:
            continue
        run = run_blocks(pair, raws, block_size, timestamp)
        out[kind] = {
            "txs": run.txs,
            "blocks": run.blocks,
            "failed": run.failed,
            "decode_us_per_tx": run.decode_s / run.txs * 1e6,
            "build_tx_s": run.rate(run.build_s),
            "build_with_decode_tx_s": run.rate(run.build_s + run.decode_s),
            "import_tx_s": run.rate(run.import_s),
            "import_us_per_tx": run.import_s / run.txs * 1e6,
            "build_cpu_us_per_tx": run.build_cpu_s / run.txs * 1e6,
            "import_cpu_us_per_tx": run.import_cpu_s / run.txs * 1e6,
        }
    value = pair.producer.get_vm().state.get_storage(workload.contract, 0)
    out["final_value"] = int(value)
    if pair.follower_store is not None:
        pair.follower_store.close()
    return out
