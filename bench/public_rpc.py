"""Part A (b): the same presigned transactions through a real node's JSON-RPC server.

The node runs as `python -m engine --config node.toml` in a subprocess; this process is the
client. Each phase (transfers, then calls) is timed from the first send until every
transaction is in a block on the node (a `BlockWatcher` subscribed to `newHeads`;
a mined transaction has its receipt); then every receipt is fetched and checked
(status 1), outside the timed window.

Modes:
- `batch`: one client thread, sequential JSON-RPC batch requests of `batch_size`
  `eth_sendRawTransaction` entries.
- `single`: `threads` client threads, one request per transaction over a keep-alive
  connection each; thread t owns the senders with index % threads == t, so every sender's
  nonces arrive in order.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from eth_utils import keccak

from bench.common import log
from bench.profiling import PySpy
from bench.rpc import BlockWatcher, NodeProcess, RpcClient, cpu_seconds, load_average
from bench.workload import PublicWorkload

POLL_INTERVAL_S = 0.02


def _submit_batches(url: str, raws: list[bytes], batch_size: int, errors: list[str], done: dict[str, float]) -> None:
    with RpcClient(url) as client:
        for start in range(0, len(raws), batch_size):
            chunk = raws[start : start + batch_size]
            replies = client.batch(("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in chunk)
            errors.extend(str(r["error"]) for r in replies if "error" in r)
    done["submitted"] = time.perf_counter()


def _submit_singles(url: str, raws: list[tuple[int, bytes]], errors: list[str], done: list[float]) -> None:
    with RpcClient(url) as client:
        for _, raw in raws:
            try:
                client.call("eth_sendRawTransaction", ["0x" + raw.hex()])
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(str(exc))
    done.append(time.perf_counter())


def wait_for_receipts(url: str, hashes: list[bytes], deadline_s: float, errors: list[str]) -> float:
    """Poll until every hash has a receipt; return the perf_counter time it was seen."""
    pending = list(hashes)
    end = time.monotonic() + deadline_s
    with RpcClient(url) as watcher:
        while pending:
            found = watcher.receipts(pending)
            pending = [h for h, r in zip(pending, found, strict=True) if r is None]
            if not pending:
                break
            if time.monotonic() > end:
                raise RuntimeError(
                    f"{len(pending)} receipts missing after {deadline_s:.0f} s; submission errors: {errors[:3]}"
                )
            time.sleep(POLL_INTERVAL_S)
    return time.perf_counter()


def run_phase(
    node: NodeProcess, workload: PublicWorkload, raws: list[bytes], mode: str, batch_size: int, threads: int
) -> dict[str, Any]:
    errors: list[str] = []
    watcher = BlockWatcher(node.url).start()
    cpu0 = cpu_seconds(node.pid)
    t0 = time.perf_counter()
    workers: list[threading.Thread] = []
    finished: list[float] = []
    if mode == "batch":
        done: dict[str, float] = {}
        workers.append(threading.Thread(target=_submit_batches, args=(node.url, raws, batch_size, errors, done)))
    else:
        n_senders = len(workload.senders)
        for t in range(threads):
            mine = [(i, raw) for i, raw in enumerate(raws) if (i % n_senders) % threads == t]
            workers.append(threading.Thread(target=_submit_singles, args=(node.url, mine, errors, finished)))
    for w in workers:
        w.start()
    try:
        t_done = watcher.wait_for([keccak(r) for r in raws], max(60.0, len(raws) / 20))
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}; submission errors: {errors[:3]}") from None
    finally:
        watcher.stop()
    cpu1 = cpu_seconds(node.pid)
    for w in workers:
        w.join()
    t_submitted = done["submitted"] if mode == "batch" else max(finished)
    elapsed = t_done - t0

    with RpcClient(node.url) as client:
        receipts = client.receipts([keccak(r) for r in raws])
    statuses = Counter(int(r["status"], 16) if r else None for r in receipts)
    per_block = Counter(int(r["blockNumber"], 16) for r in receipts if r)
    return {
        "txs": len(raws),
        "mode": mode,
        "batch_size": batch_size if mode == "batch" else 1,
        "client_threads": 1 if mode == "batch" else threads,
        "elapsed_s": elapsed,
        "tx_s": len(raws) / elapsed,
        "submit_s": t_submitted - t0,
        "submitted_tx_s": len(raws) / (t_submitted - t0),
        "send_errors": len(errors),
        "first_errors": errors[:3],
        "status_ok": statuses.get(1, 0),
        "status_failed": statuses.get(0, 0),
        "missing": statuses.get(None, 0),
        "blocks": len(per_block),
        "mean_txs_per_block": len(raws) / len(per_block) if per_block else 0.0,
        "max_txs_per_block": max(per_block.values()) if per_block else 0,
        "server_cpu_s": cpu1 - cpu0,
        "server_cpu_us_per_tx": (cpu1 - cpu0) / len(raws) * 1e6,
        "server_cores_busy": (cpu1 - cpu0) / elapsed,
    }


def run_public_rpc(
    workdir: Path,
    workload: PublicWorkload,
    mode: str,
    batch_size: int = 100,
    threads: int = 4,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """A fresh node; deploy (untimed), then the transfer phase, then the call phase."""
    with NodeProcess(workdir / f"node-{mode}") as node:
        with RpcClient(node.url) as client:
            client.call("eth_sendRawTransaction", ["0x" + workload.deploy.hex()])
        wait_for_receipts(node.url, [keccak(workload.deploy)], 60.0, [])
        out: dict[str, Any] = {"mode": mode, "load_before": load_average()}
        for kind, raws in (("transfer", workload.transfers), ("call", workload.calls)):
            spy = None
            if profile_dir is not None:
                spy = PySpy(node.pid, profile_dir / f"public-{mode}-{kind}.txt").start()
            try:
                out[kind] = run_phase(node, workload, raws, mode, batch_size, threads)
            finally:
                if spy is not None:
                    out[kind]["profile"] = spy.stop()
            r = out[kind]
            log(
                f"  rpc {mode:6} {kind:8}: {r['tx_s']:7.1f} tx/s  (submitted {r['submitted_tx_s']:.0f}/s, "
                f"{r['mean_txs_per_block']:.0f} tx/block, server {r['server_cores_busy']:.2f} cores, "
                f"errors {r['send_errors']}, failed {r['status_failed']})"
            )
        with RpcClient(node.url) as client:
            value = client.call("eth_getStorageAt", ["0x" + workload.contract.hex(), "0x0", "latest"])
        out["final_value"] = int(value, 16)
        out["load_after"] = load_average()
    return out
