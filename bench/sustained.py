"""`python -m bench --sustained MINUTES`: the private flow held at 70 % of its maximum, to see drift.

1. Start the 4-node network (`local` ordering unless asked) and deploy SimpleStorage privateFor
   node2, as part B does (bench/private.py).
2. Maximum: a closed-loop burst of BURST_N private `add(1)` (part B's throughput method), timed
   until every transaction is in a block on node1 and node2.
3. Sustained: part B's paced open-loop sender at LOAD_SHARE of that rate for MINUTES minutes, fed
   CHUNK_S seconds of jobs at a time (made lazily: half an hour is ~100k transactions; nonces in
   order, in flight bounded by `_send_jobs`). Per transaction, send -> in a block on both parties
   (BlockWatchers), kept in two compact arrays.
4. RSS (VmRSS) and CPU of every process (4 nodes, 4 managers, this process): at the start, every
   SAMPLE_S seconds and at the end.
5. p50/p95 of the first and last 5 minutes (thirds when MINUTES < 10) and every process's RSS,
   start against end, flagged past DRIFT_LIMIT_PCT; sampled receipts checked on both parties;
   node2's private value; node3 (not a party) must see no contract.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.common import Row, log, percentile
from bench.private import (
    Job,
    _check_receipts,
    _jobs,
    _next_nonces,
    _private_value,
    _send_jobs,
    private_rig,
)
from bench.rpc import BlockWatcher, cpu_seconds, load_average
from bench.workload import INITIAL_VALUE

LOAD_SHARE = 0.70
DRIFT_LIMIT_PCT = 20.0
BURST_N = 400
CHUNK_S = 10.0
SAMPLE_S = 30.0
WINDOW_S = 300.0  # first / last 5 minutes
SAMPLE_EVERY = 100  # receipts checked: every 100th transaction ...
SAMPLE_LAST = 200  # ... and the last 200
CONFIRM_DEADLINE_S = 120.0


# -- pure pieces (unit-tested) ----------------------------------------------------------------------


def paced_chunks(
    senders: list[str], nonces: dict[str, int], rate: float, start: float, duration_s: float,
    chunk_s: float = CHUNK_S, start_index: int = 0,
) -> Iterator[list[Job]]:
    """Jobs due at `start + k / rate` while before `start + duration_s`, `chunk_s` seconds' worth
    at a time; nonces handed out in order as each chunk is made (so a stopped run leaves no gap)."""
    total = math.ceil(duration_s * rate - 1e-9)
    per_chunk = max(1, round(chunk_s * rate))
    k = 0
    while k < total:
        jobs = _jobs(senders, nonces, min(per_chunk, total - k), start_index + k)
        for offset, job in enumerate(jobs):
            job.due = start + (k + offset) / rate
        yield jobs
        k += len(jobs)


class LatencyLog:
    """Per confirmed transaction: when it was sent (s since the start) and its latency (s)."""

    def __init__(self) -> None:
        self.sent_at = array("d")
        self.latency = array("d")

    def __len__(self) -> int:
        return len(self.latency)

    def add(self, sent_at: float, latency: float) -> None:
        self.sent_at.append(sent_at)
        self.latency.append(latency)

    def window(self, lo: float, hi: float) -> list[float]:
        """Latencies of the transactions sent in [lo, hi)."""
        return [lat for sent, lat in zip(self.sent_at, self.latency, strict=True) if lo <= sent < hi]

    def since(self, index: int) -> list[float]:
        return self.latency[index:].tolist()

    def last_confirmed_s(self) -> float:
        """When the last transaction was confirmed (s since the start)."""
        return max(map(float.__add__, self.sent_at, self.latency), default=float("nan"))


def harvest(pending: list[Job], seen: list[dict[bytes, float]], t0: float, latencies: LatencyLog) -> list[Job]:
    """Log the jobs now in a block on every party (latency = send -> seen on the last of them) and
    return the others. Logged hashes are dropped from the watchers' dicts, which would otherwise
    grow with every transaction of the run."""
    left = []
    for job in pending:
        h = job.tx_hash
        if h is None:  # its send failed: counted by the caller
            continue
        times = [t for t in (s.get(h) for s in seen) if t is not None]
        if len(times) < len(seen):
            left.append(job)
            continue
        latencies.add(job.sent - t0, max(times) - job.sent)
        for s in seen:
            s.pop(h, None)
    return left


def window_s(duration_s: float) -> tuple[float, str]:
    """The length of the first and last windows and what to call them: 5 minutes, or a third of
    a run shorter than 10 minutes (two 5-minute windows would overlap or touch)."""
    if duration_s >= 2 * WINDOW_S:
        return WINDOW_S, "5 min"
    return duration_s / 3, "third"


def drift_pct(first: float, last: float) -> float:
    return (last - first) / first * 100 if first > 0 and not math.isnan(last) else float("nan")


def drift_flag(drifts: Iterable[float], limit: float = DRIFT_LIMIT_PCT) -> str:
    """'DRIFT > 20%' when any drift (either way) passes the limit, 'steady' when none does,
    'n/a' without a number."""
    values = list(drifts)
    if any(abs(d) > limit for d in values if not math.isnan(d)):
        return f"DRIFT > {limit:.0f}%"
    return "n/a" if not values or any(math.isnan(d) for d in values) else "steady"


def latency_drift(latencies: LatencyLog, duration_s: float) -> dict[str, Any]:
    length, label = window_s(duration_s)
    first = latencies.window(0.0, length)
    last = latencies.window(duration_s - length, math.inf)
    out: dict[str, Any] = {"window": label, "window_s": length, "first_n": len(first), "last_n": len(last)}
    for q in (50, 95):
        a, b = percentile(first, q) * 1e3, percentile(last, q) * 1e3
        out[f"first_p{q}_ms"], out[f"last_p{q}_ms"], out[f"p{q}_drift_pct"] = a, b, drift_pct(a, b)
    out["flag"] = drift_flag([out["p50_drift_pct"], out["p95_drift_pct"]])
    return out


def per_minute(latencies: LatencyLog) -> list[dict[str, Any]]:
    """p50/p95 per minute of sending (what a drift looks like over the run)."""
    buckets: dict[int, list[float]] = {}
    for sent, lat in zip(latencies.sent_at, latencies.latency, strict=True):
        buckets.setdefault(int(sent // 60), []).append(lat)
    return [
        {"minute": m, "n": len(v), "p50_ms": round(percentile(v, 50) * 1e3, 1),
         "p95_ms": round(percentile(v, 95) * 1e3, 1)}
        for m, v in sorted(buckets.items())
    ]


def vmrss_mib(status: str) -> float:
    """VmRSS of a /proc/<pid>/status text, in MiB (NaN when absent: a zombie, a kernel thread)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(value) / 1024
    return float("nan")


def rss_drift(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per process: RSS at the first and the last sample, the peak, drift % and its flag."""
    first, last = samples[0]["rss_mib"], samples[-1]["rss_mib"]
    out = {}
    for name in first:
        d = drift_pct(first[name], last[name])
        peak = max(s["rss_mib"][name] for s in samples)
        out[name] = {"start_mib": first[name], "end_mib": last[name], "peak_mib": peak, "drift_pct": d,
                     "flag": drift_flag([d])}
    return out


def receipt_sample(every: list[bytes], last: Iterable[bytes]) -> list[bytes]:
    """Every SAMPLE_EVERY-th hash and the last SAMPLE_LAST, each once, in order."""
    return list(dict.fromkeys([*every, *last]))


# -- the run --------------------------------------------------------------------------------------


def _rss(pid: int) -> float:
    try:
        return vmrss_mib(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return float("nan")


def _sample(pids: dict[str, int], t0: float) -> dict[str, Any]:
    return {
        "t_s": round(time.perf_counter() - t0, 2),
        "rss_mib": {name: _rss(pid) for name, pid in pids.items()},
        "cpu_s": {name: cpu_seconds(pid) for name, pid in pids.items()},
    }


def _burst(url: str, parties: dict[str, str], jobs: list[Job], contract: str, private_for: list[str],
           threads: int) -> dict[str, Any]:
    """Part B's closed loop: send `jobs` as fast as `threads` clients can, time until all are
    in a block at every party."""
    watchers = {name: BlockWatcher(u).start() for name, u in parties.items()}
    t0 = time.perf_counter()
    try:
        _send_jobs(url, jobs, contract, private_for, threads, paced=False)
        errors = [j.error for j in jobs if j.error]
        if errors:
            raise RuntimeError(f"{len(errors)} private sends of the burst failed after a retry; first: {errors[0]}")
        hashes = [j.tx_hash for j in jobs if j.tx_hash is not None]
        deadline = max(60.0, 3 * (time.perf_counter() - t0))
        t_done = max(w.wait_for(hashes, deadline) for w in watchers.values())
    finally:
        for w in watchers.values():
            w.stop()
    elapsed = t_done - t0
    return {
        "txs": len(jobs),
        "client_threads": threads,
        "elapsed_s": elapsed,
        "confirmed_tx_s": len(jobs) / elapsed,
        "retried_sends": sum(1 for j in jobs if j.retried_after),
    }


def _sender(url: str, chunks: Iterator[list[Job]], contract: str, private_for: list[str], threads: int,
            stop: threading.Event, done: queue.Queue[list[Job] | None], state: dict[str, Any]) -> None:
    """Send chunk after chunk (each paced by its jobs' due times) and hand each finished one over;
    stop after a chunk when asked, or when a send failed twice (its nonce would stall the rest)."""
    try:
        for jobs in chunks:
            if stop.is_set():
                break
            _send_jobs(url, jobs, contract, private_for, threads, paced=True)
            done.put(jobs)
            failed = [j for j in jobs if j.error]
            if failed:
                state["abort"] = f"{len(failed)} sends failed after a retry; first: {failed[0].error}"
                break
    except Exception as exc:  # noqa: BLE001 - reported with the results
        state["abort"] = f"{type(exc).__name__}: {exc}"
    finally:
        state["end"] = time.perf_counter()
        done.put(None)


def _drain(done: queue.Queue[list[Job] | None], timeout: float) -> list[list[Job] | None]:
    try:
        items = [done.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            items.append(done.get_nowait())
        except queue.Empty:
            return items


def run_sustained(
    workdir: Path, minutes: float, threads: int = 8, ordering: str = "local", burst_n: int = BURST_N
) -> dict[str, Any]:
    duration = minutes * 60
    out: dict[str, Any] = {"minutes": minutes, "ordering": ordering, "load_share": LOAD_SHARE,
                           "load_before": load_average()}
    with private_rig(workdir, ordering) as rig:
        net, spec, n1, n2 = rig.net, rig.spec, rig.n1, rig.n2
        parties, private_for, contract = rig.parties, rig.private_for, rig.contract
        out["startup_s"], out["producer"] = rig.startup_s, rig.producer
        senders = [a["address"] for a in n1["accounts"]]
        nonces = _next_nonces(n1["rpc_url"], senders)
        log(f"sustained ({ordering}): network up in {out['startup_s']:.1f} s, contract {contract}, "
            f"producer {out['producer']}; measuring the maximum with {burst_n} private txs")

        burst = _burst(n1["rpc_url"], parties, _jobs(senders, nonces, burst_n), contract, private_for, threads)
        out["burst"] = burst
        rate = max(1.0, LOAD_SHARE * burst["confirmed_tx_s"])
        out["offered_tx_s"] = rate
        log(f"sustained: maximum {burst['confirmed_tx_s']:.1f} tx/s confirmed at both parties; sending "
            f"{rate:.1f} tx/s ({LOAD_SHARE:.0%}) for {minutes:g} min")

        pids = {name: p.pid for name, p in sorted(net.processes, key=lambda e: ("manager" in e[0], e[0]))}
        pids["bench"] = os.getpid()
        watchers = {name: BlockWatcher(u).start() for name, u in parties.items()}
        seen = [w.seen for w in watchers.values()]
        t0 = time.perf_counter() + 0.2
        samples = [_sample(pids, t0)]
        chunks = paced_chunks(senders, nonces, rate, t0, duration, start_index=burst_n)
        stop = threading.Event()
        done: queue.Queue[list[Job] | None] = queue.Queue()
        state: dict[str, Any] = {}
        sender = threading.Thread(
            target=_sender, name="sustained-sender",
            args=(n1["rpc_url"], chunks, contract, private_for, max(4, threads), stop, done, state),
        )
        sender.start()

        latencies = LatencyLog()
        pending: list[Job] = []
        every: list[bytes] = []
        last: deque[bytes] = deque(maxlen=SAMPLE_LAST)
        counts = {"sent": 0, "send_errors": 0, "retried_sends": 0}
        next_sample, logged = t0 + SAMPLE_S, 0
        sender_done, deadline = False, math.inf
        try:
            while True:
                for jobs in _drain(done, 0.5):
                    if jobs is None:
                        sender_done, deadline = True, time.perf_counter() + CONFIRM_DEADLINE_S
                        continue
                    for job in jobs:
                        counts["send_errors"] += job.error is not None
                        counts["retried_sends"] += job.retried_after is not None
                        if job.tx_hash is not None:
                            counts["sent"] += 1
                            last.append(job.tx_hash)
                            if job.index % SAMPLE_EVERY == 0:
                                every.append(job.tx_hash)
                            pending.append(job)
                pending = harvest(pending, seen, t0, latencies)
                now = time.perf_counter()
                if now >= next_sample:
                    samples.append(_sample(pids, t0))
                    recent = latencies.since(logged)
                    logged = len(latencies)
                    log(f"sustained: {min(now - t0, duration) / 60:.1f}/{minutes:g} min, sent {counts['sent']}, "
                        f"confirmed {len(latencies)}, p50 {percentile(recent, 50) * 1e3:.0f} ms, "
                        f"node1 RSS {samples[-1]['rss_mib']['node1']:.0f} MiB")
                    next_sample += SAMPLE_S
                if sender_done and (not pending or now > deadline):
                    break
        finally:
            stop.set()
            sender.join()
            for w in watchers.values():
                w.stop()
        samples.append(_sample(pids, t0))
        sent_s = state["end"] - t0
        if "abort" in state:
            out["aborted"] = state["abort"]
            log(f"sustained: sending stopped early: {state['abort']}")

        checked = receipt_sample(every, last)
        out["receipts"] = _check_receipts(parties, checked)
        out["node2_value"] = _private_value(n2["rpc_url"], contract)
        out["node2_value_expected"] = INITIAL_VALUE + burst_n + counts["sent"]
        out["node3_value"] = _private_value(spec["nodes"][2]["rpc_url"], contract)

        first, end = samples[0], samples[-1]
        span = end["t_s"] - first["t_s"]
        network = [n for n in pids if n != "bench"]
        cpu = {n: end["cpu_s"][n] - first["cpu_s"][n] for n in pids}
        confirmed = len(latencies)
        out.update({
            "duration_s": duration,
            "sending_s": sent_s,
            **counts,
            "sent_tx_s": counts["sent"] / sent_s if sent_s > 0 else float("nan"),
            "confirmed": confirmed,
            "unconfirmed": len(pending),
            "confirmed_tx_s": confirmed / latencies.last_confirmed_s() if confirmed else float("nan"),
            "mean_txs_per_block": _mean_block(watchers["node2"].block_sizes),
            "latency": latency_drift(latencies, min(duration, sent_s)),
            "per_minute": per_minute(latencies),
            "rss": rss_drift(samples),
            "cores_busy": {n: cpu[n] / span for n in pids},
            "network_cpu_ms_per_tx": sum(cpu[n] for n in network) / confirmed * 1e3 if confirmed else float("nan"),
            "client_cpu_ms_per_tx": cpu["bench"] / confirmed * 1e3 if confirmed else float("nan"),
            "samples": samples,
            "load_after": load_average(),
        })
    out["flag"] = drift_flag([out["latency"]["p50_drift_pct"], out["latency"]["p95_drift_pct"],
                              *(r["drift_pct"] for r in out["rss"].values())])
    return out


def _mean_block(sizes: dict[int, int]) -> float:
    nonempty = [n for n in sizes.values() if n]
    return sum(nonempty) / len(nonempty) if nonempty else 0.0


# -- the printed rows -----------------------------------------------------------------------------


def sustained_rows(s: dict[str, Any]) -> list[Row]:
    part = f"S sustained ({s['ordering']})"
    lat = s["latency"]
    window = lat["window"]
    short = "" if window == "5 min" else " (a run under 10 min: first / last third instead of 5 min)"
    n_checked = sum(s["receipts"]["node1"][k] for k in ("status_ok", "status_failed", "missing"))
    receipts_ok = n_checked > 0 and all(r["status_ok"] == n_checked for r in s["receipts"].values())
    value_ok = s["node2_value"] == s["node2_value_expected"]
    rows = [
        Row(part, f"maximum, closed-loop burst of {s['burst']['txs']}", s["burst"]["confirmed_tx_s"], "tx/s",
            f"confirmed at node1 + node2, {s['burst']['client_threads']} client threads"),
        Row(part, f"sent (offered {s['offered_tx_s']:.1f} tx/s = {s['load_share']:.0%})", s["sent_tx_s"], "tx/s",
            f"{s['sent']} txs in {s['sending_s'] / 60:.1f} min" + (f"; STOPPED: {s['aborted']}" if "aborted" in s
                                                                   else "")),
        Row(part, "confirmed at all parties (node1 + node2)", s["confirmed_tx_s"], "tx/s",
            f"{s['confirmed']}/{s['sent']} confirmed, {s['unconfirmed']} not within {CONFIRM_DEADLINE_S:.0f} s; "
            f"{s['mean_txs_per_block']:.1f} tx/block"),
    ]
    for q in (50, 95):
        rows.append(Row(part, f"latency p{q}, first {window}", lat[f"first_p{q}_ms"], "ms",
                        f"{lat['first_n']} txs, send -> in a block on node1 and node2{short}"))
        rows.append(Row(part, f"latency p{q}, last {window}", lat[f"last_p{q}_ms"], "ms",
                        f"{lat['last_n']} txs; drift {lat[f'p{q}_drift_pct']:+.1f}%: "
                        f"{drift_flag([lat[f'p{q}_drift_pct']])}"))
    for name, r in s["rss"].items():
        rows.append(Row(part, f"RSS {name}, start -> end", r["end_mib"], "MiB",
                        f"start {r['start_mib']:.1f}, peak {r['peak_mib']:.1f} MiB; drift {r['drift_pct']:+.1f}%: "
                        f"{r['flag']}"))
    rows += [
        Row(part, "network CPU per confirmed tx", s["network_cpu_ms_per_tx"], "ms",
            f"{sum(v for k, v in s['cores_busy'].items() if k != 'bench'):.2f} cores busy (8 processes); "
            f"load generator {s['client_cpu_ms_per_tx']:.1f} ms/tx"),
        Row(part, "send errors after a retry", s["send_errors"], "",
            f"{s['retried_sends']} sends retried once"),
        Row(part, "sampled receipts, status 1 at node1 + node2", n_checked, "txs",
            f"every {SAMPLE_EVERY}th + the last {SAMPLE_LAST}: {'all ok' if receipts_ok else 'NOT ALL OK'}; "
            f"node2 value {s['node2_value']} == {s['node2_value_expected']}: {'yes' if value_ok else 'NO'}; "
            f"node3 sees {s['node3_value']}"),
        Row(part, "verdict (latency p50/p95 and every RSS)", None, "", s["flag"]),
    ]
    return rows
