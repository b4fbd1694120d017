"""The pure parts of `bench --sustained`: lazy paced jobs, latency harvesting, drift windows and
flags, RSS parsing, the receipt sample."""

from __future__ import annotations

import math
import os
from itertools import islice
from pathlib import Path

import pytest

from bench.private import Job
from bench.sustained import (
    LatencyLog,
    drift_flag,
    drift_pct,
    harvest,
    latency_drift,
    paced_chunks,
    per_minute,
    receipt_sample,
    rss_drift,
    vmrss_mib,
    window_s,
)

SENDERS = ["0xa", "0xb"]


def test_paced_chunks_are_lazy_in_nonce_order_and_evenly_due() -> None:
    nonces = {"0xa": 5, "0xb": 9}
    chunks = paced_chunks(SENDERS, nonces, rate=20.0, start=100.0, duration_s=60.0, chunk_s=10.0, start_index=400)
    first = next(chunks)
    assert len(first) == 200
    assert nonces == {"0xa": 105, "0xb": 109}  # only the chunk made so far took nonces
    assert [j.index for j in first[:3]] == [400, 401, 402]
    assert [(j.sender, j.nonce) for j in first[:4]] == [("0xa", 5), ("0xb", 9), ("0xa", 6), ("0xb", 10)]
    rest = list(chunks)
    jobs = first + [j for chunk in rest for j in chunk]
    assert len(jobs) == 1200 and len(rest) == 5
    assert [j.due for j in jobs[:3]] == pytest.approx([100.0, 100.05, 100.1])
    assert jobs[-1].due < 160.0
    for sender in SENDERS:
        mine = [j.nonce for j in jobs if j.sender == sender]
        assert mine == list(range(mine[0], mine[0] + 600))


def test_paced_chunks_of_half_an_hour_are_not_built_up_front() -> None:
    chunks = paced_chunks(SENDERS, {"0xa": 0, "0xb": 0}, rate=70.0, start=0.0, duration_s=1800.0)
    assert sum(len(c) for c in islice(chunks, 2)) == 1400  # 126,000 jobs in all, 700 per 10 s chunk


def _job(index: int, sent: float, tx_hash: bytes | None) -> Job:
    job = Job(index, "0xa", index)
    job.sent, job.tx_hash = sent, tx_hash
    return job


def test_harvest_logs_jobs_seen_at_every_party_and_forgets_them() -> None:
    both, one, failed = _job(0, 10.0, b"\x01"), _job(1, 10.5, b"\x02"), _job(2, 11.0, None)
    node1 = {b"\x01": 10.1, b"\x02": 10.6}
    node2 = {b"\x01": 10.3}
    log = LatencyLog()
    left = harvest([both, one, failed], [node1, node2], t0=9.0, latencies=log)
    assert left == [one]
    assert list(log.sent_at) == pytest.approx([1.0]) and list(log.latency) == pytest.approx([0.3])  # the later party
    assert node1 == {b"\x02": 10.6} and node2 == {}
    node2[b"\x02"] = 10.9
    assert harvest(left, [node1, node2], 9.0, log) == []
    assert list(log.latency) == pytest.approx([0.3, 0.4])


def test_windows_are_5_minutes_or_thirds_of_a_short_run() -> None:
    assert window_s(1800.0) == (300.0, "5 min")
    assert window_s(600.0) == (300.0, "5 min")
    assert window_s(60.0) == (20.0, "third")


def test_drift_and_its_flag() -> None:
    assert drift_pct(100.0, 125.0) == pytest.approx(25.0)
    assert drift_flag([25.0]) == "DRIFT > 20%"
    assert drift_flag([-21.0, 3.0]) == "DRIFT > 20%"  # either way
    assert drift_flag([19.9, -19.9]) == "steady"
    assert math.isnan(drift_pct(0.0, 5.0))
    assert drift_flag([float("nan")]) == "n/a"
    assert drift_flag([float("nan"), 40.0]) == "DRIFT > 20%"


def _log(duration_s: float, latency_at) -> LatencyLog:  # one tx a second
    log = LatencyLog()
    for t in range(int(duration_s)):
        log.add(t + 0.5, latency_at(t))
    return log


def test_latency_drift_over_first_and_last_5_minutes() -> None:
    log = _log(1800, lambda t: 0.100 if t < 900 else 0.150)
    d = latency_drift(log, 1800.0)
    assert d["window"] == "5 min" and d["first_n"] == 300 and d["last_n"] == 300
    assert d["first_p50_ms"] == pytest.approx(100.0) and d["last_p50_ms"] == pytest.approx(150.0)
    assert d["p50_drift_pct"] == pytest.approx(50.0) and d["flag"] == "DRIFT > 20%"
    steady = latency_drift(_log(1800, lambda t: 0.100 + (t % 10) / 1000), 1800.0)
    assert steady["flag"] == "steady" and abs(steady["p95_drift_pct"]) < 1


def test_latency_drift_of_a_one_minute_run_uses_thirds() -> None:
    d = latency_drift(_log(60, lambda t: 0.1 if t < 20 else 0.2 if t < 40 else 0.3), 60.0)
    assert (d["window"], d["first_n"], d["last_n"]) == ("third", 20, 20)
    assert d["first_p95_ms"] == pytest.approx(100.0) and d["last_p95_ms"] == pytest.approx(300.0)


def test_per_minute() -> None:
    rows = per_minute(_log(150, lambda t: t / 1000))
    assert [(r["minute"], r["n"]) for r in rows] == [(0, 60), (1, 60), (2, 30)]


def test_vmrss_of_this_process_and_of_a_text() -> None:
    text = "Name:\tpython\nVmPeak:\t  300000 kB\nVmRSS:\t   51200 kB\nThreads:\t4\n"
    assert vmrss_mib(text) == pytest.approx(50.0)
    assert math.isnan(vmrss_mib("Name:\tkthreadd\nState:\tS\n"))
    mine = vmrss_mib(Path(f"/proc/{os.getpid()}/status").read_text())
    assert 5 < mine < 10_000


def test_rss_drift_per_process() -> None:
    samples = [
        {"rss_mib": {"node1": 100.0, "bench": 80.0}},
        {"rss_mib": {"node1": 140.0, "bench": 82.0}},
        {"rss_mib": {"node1": 130.0, "bench": 84.0}},
    ]
    r = rss_drift(samples)
    assert r["node1"]["drift_pct"] == pytest.approx(30.0) and r["node1"]["peak_mib"] == 140.0
    assert r["node1"]["flag"] == "DRIFT > 20%" and r["bench"]["flag"] == "steady"


def test_receipt_sample_keeps_order_without_duplicates() -> None:
    assert receipt_sample([b"a", b"c"], [b"c", b"d"]) == [b"a", b"c", b"d"]
