"""`python -m bench [--quick] [--only public|private] [--profile] | --sustained MINUTES`: run, print, write JSON."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, Row, log, machine_info, render_table
from bench.rpc import load_average


@dataclass(frozen=True)
class Sizes:
    public_n: int  # transfers, and as many calls
    private_n: int
    latency_n: int
    private_threads: int
    rpc_single: bool


FULL = Sizes(public_n=2000, private_n=1000, latency_n=200, private_threads=8, rpc_single=True)
QUICK = Sizes(public_n=300, private_n=100, latency_n=40, private_threads=8, rpc_single=True)

PUBLIC_TARGET = 0.70
PRIVATE_TARGET = 0.30
ETCD_TARGET = 0.80  # etcd ordering keeps at least this share of the local ordering's private tx/s
IDLE_TARGET_CORES = 0.02


def verdict(ratio: float, target: float) -> str:
    return f"target >= {target:.2f}: {'met' if ratio >= target else 'MISSED'}"


# -- part A ---------------------------------------------------------------------------------------


def run_public(tmp: Path, sizes: Sizes, profile_dir: Path | None) -> dict[str, Any]:
    from bench.public_rpc import run_public_rpc
    from bench.raw_evm import measure_raw
    from bench.workload import build_public_workload, default_dev_chain

    chain = default_dev_chain()
    out: dict[str, Any] = {
        "n_transfers": sizes.public_n,
        "n_calls": sizes.public_n,
        "node_max_txs_per_block": chain.max_txs_per_block,
    }
    start = time.perf_counter()
    workload = build_public_workload(chain, sizes.public_n, sizes.public_n)
    out["presign_s"] = time.perf_counter() - start
    log(f"part A: presigned {2 * sizes.public_n + 1} transactions in {out['presign_s']:.1f} s")

    measure_raw(chain, build_public_workload(chain, 50, 50), 50)  # warm-up (imports, caches), discarded
    raw: dict[str, Any] = {}
    for key, block_size, sqlite in (
        ("B500", chain.max_txs_per_block, False),
        ("B100", 100, False),
        ("B500_sqlite", chain.max_txs_per_block, True),
    ):
        start = time.perf_counter()
        raw[key] = measure_raw(chain, workload, block_size, tmp / f"raw-{key}.sqlite" if sqlite else None)
        t, c = raw[key]["transfer"], raw[key]["call"]
        log(
            f"  raw {key:11}: transfers build {t['build_tx_s']:.0f} / import {t['import_tx_s']:.0f} tx/s, "
            f"calls build {c['build_tx_s']:.0f} / import {c['import_tx_s']:.0f} tx/s "
            f"({time.perf_counter() - start:.1f} s)"
        )
    out["raw"] = raw
    modes = ["batch"] + (["single"] if sizes.rpc_single else [])
    out["rpc"] = {}
    for mode in modes:
        out["rpc"][mode] = run_public_rpc(tmp, workload, mode, batch_size=100, threads=4, profile_dir=profile_dir)

    # The raw import again, at the block size the node really made in batch mode: how much of
    # the gap between (a) and (b) is the block size alone.
    batch = out["rpc"]["batch"]
    observed = max(1, round((batch["transfer"]["mean_txs_per_block"] + batch["call"]["mean_txs_per_block"]) / 2))
    small = min(sizes.public_n, 500)
    raw["observed"] = measure_raw(chain, build_public_workload(chain, small, small), observed)
    t, c = raw["observed"]["transfer"], raw["observed"]["call"]
    log(
        f"  raw B={observed} (as the node built them): transfers import {t['import_tx_s']:.0f} tx/s, "
        f"calls import {c['import_tx_s']:.0f} tx/s"
    )
    return out


def public_rows(pub: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    base = pub["raw"]["B500"]
    b = base["block_size"]
    rows.append(
        Row(
            "A(a) raw py-evm",
            "intake: rlp decode + sender recovery (calls)",
            base["call"]["decode_us_per_tx"],
            "us/tx",
            "as Node._decode_raw: rlp + check_signature_validity + sender (2 recover, 1 verify)",
        )
    )
    for kind, label in (("transfer", "transfers"), ("call", "add(1) calls")):
        rows.append(
            Row(
                "A(a) raw py-evm",
                f"{label}: build_block + persist, B={b}",
                base[kind]["build_tx_s"],
                "tx/s",
                "producer side, MemoryDB",
            )
        )
        rows.append(
            Row(
                "A(a) raw py-evm",
                f"{label}: block import, B={b}  [baseline a]",
                base[kind]["import_tx_s"],
                "tx/s",
                "follower side, MemoryDB",
            )
        )
    variants = [("B100", "MemoryDB"), ("B500_sqlite", "node's SqliteKV, commit per block")]
    if "observed" in pub["raw"]:
        variants.append(("observed", "MemoryDB; B = mean block size the node built in (b) batch mode"))
    for key, note in variants:
        r = pub["raw"][key]
        for kind, label in (("transfer", "transfers"), ("call", "add(1) calls")):
            rows.append(
                Row(
                    "A(a) raw py-evm",
                    f"{label}: block import, B={r['block_size']}",
                    r[kind]["import_tx_s"],
                    "tx/s",
                    note,
                )
            )
    for mode, r in pub["rpc"].items():
        how = "batches of 100, 1 client thread" if mode == "batch" else "1 request/tx, 4 keep-alive threads"
        part = f"A(b) JSON-RPC {mode}"
        for kind, label in (("transfer", "transfers"), ("call", "add(1) calls")):
            k = r[kind]
            ratio = k["tx_s"] / base[kind]["import_tx_s"]
            rows.append(
                Row(
                    part,
                    f"{label}: send -> every tx mined",
                    k["tx_s"],
                    "tx/s",
                    f"{how}; {k['status_ok']}/{k['txs']} status 1",
                )
            )
            rows.append(Row(part, f"{label}: ratio (b)/(a)", ratio, "x", verdict(ratio, PUBLIC_TARGET)))
            rows.append(
                Row(
                    part,
                    f"{label}: mean txs per block",
                    k["mean_txs_per_block"],
                    "tx",
                    f"max {k['max_txs_per_block']}, node allows {pub['node_max_txs_per_block']}",
                )
            )
            rows.append(
                Row(
                    part,
                    f"{label}: server CPU",
                    k["server_cores_busy"],
                    "cores",
                    f"submitted {k['submitted_tx_s']:.0f} tx/s, {k['send_errors']} send errors",
                )
            )
            raw_cpu = base[kind]["import_cpu_us_per_tx"]
            rows.append(
                Row(
                    part,
                    f"{label}: server CPU per tx",
                    k["server_cpu_us_per_tx"],
                    "us/tx",
                    f"raw import CPU {raw_cpu:.0f} us/tx; CPU ratio {raw_cpu / k['server_cpu_us_per_tx']:.2f}"
                    " (load-independent)",
                )
            )
    return rows


# -- part B ---------------------------------------------------------------------------------------


def run_private_part(
    tmp: Path,
    sizes: Sizes,
    profile_dir: Path | None,
    public: dict[str, Any] | None,
) -> dict[str, Any]:
    from bench.private import run_private, where_the_time_goes
    from bench.raw_evm import measure_raw
    from bench.workload import build_public_workload, default_dev_chain

    chain = default_dev_chain()
    out: dict[str, Any] = {}
    if public is not None and "raw" in public:
        baseline = public["raw"]["B500"]["call"]["import_tx_s"]
        out["baseline_source"] = "part A raw import of add(1), this run"
    else:
        n = max(500, sizes.public_n)
        log(f"part B: measuring the raw import baseline of add(1) ({n} calls)")
        raw = measure_raw(chain, build_public_workload(chain, 0, n), chain.max_txs_per_block)
        baseline = raw["call"]["import_tx_s"]
        out["baseline_source"] = f"raw import of {n} add(1) calls, B={chain.max_txs_per_block}, this run"
    out["baseline_raw_import_tx_s"] = baseline
    log(f"part B: 4-node network, {sizes.private_n} private add(1) calls, latency run of {sizes.latency_n}")
    out["run"] = run_private(
        tmp / "private", sizes.private_n, sizes.latency_n, sizes.private_threads, chain, profile_dir
    )
    log("part B: the same run on the etcd ordering service (a local 3-member cluster)")
    try:
        out["etcd"] = run_private(tmp / "private", sizes.private_n, sizes.latency_n, sizes.private_threads, chain,
                                  ordering="etcd")
        out["etcd_ratio_to_local"] = (out["etcd"]["throughput"]["confirmed_tx_s"]
                                      / out["run"]["throughput"]["confirmed_tx_s"])
    except Exception as exc:  # noqa: BLE001 - reported in the table; the local rows stand
        traceback.print_exc()
        out["etcd_error"] = f"{type(exc).__name__}: {exc}"
    block_size = round(out["run"]["throughput"]["receipts"]["node2"]["mean_txs_per_block"]) or 1
    log(f"part B: micro-benchmarks at the observed block size ({block_size} tx/block)")
    out["where"] = where_the_time_goes(chain, block_size, out["run"]["http"], out["run"]["producer"])
    out["ratio"] = out["run"]["throughput"]["confirmed_tx_s"] / baseline
    return out


def private_rows(priv: dict[str, Any]) -> list[Row]:
    run = priv["run"]
    t, lat = run["throughput"], run["latency"]
    part = "B private 4 nodes"
    ok = t["all_confirmed_status_1"] and t["node2_value"] == t["node2_value_expected"]
    rows = [
        Row(part, "network start-up (4 managers + 4 nodes)", run["startup_s"], "s", f"producer: {run['producer']}"),
        Row(
            part,
            "submitted (eth_sendTransaction privateFor node2)",
            t["submitted_tx_s"],
            "tx/s",
            f"{t['txs']} txs, {run['client_threads']} client threads, request p50/p95 {t['send_rtt_p50_ms']:.0f}/"
            f"{t['send_rtt_p95_ms']:.0f} ms, {t['retried_sends']} retried",
        ),
        Row(
            part,
            "confirmed at all parties (node1 + node2)",
            t["confirmed_tx_s"],
            "tx/s",
            f"all status 1 + node2 value {t['node2_value']} == {t['node2_value_expected']}: "
            f"{'yes' if ok else 'NO'}; node3 sees {t['node3_value']}",
        ),
        Row(
            part,
            "mean txs per block",
            t["receipts"]["node2"]["mean_txs_per_block"],
            "tx",
            f"max {t['receipts']['node2']['max_txs_per_block']}",
        ),
        Row(
            part,
            "public baseline: raw block import of add(1)",
            priv["baseline_raw_import_tx_s"],
            "tx/s",
            priv["baseline_source"],
        ),
        Row(part, "ratio private confirmed / raw import", priv["ratio"], "x", verdict(priv["ratio"], PRIVATE_TARGET)),
        Row(
            part,
            "latency p50, send -> mined at every party",
            lat["p50_ms"],
            "ms",
            f"paced at {lat['offered_tx_s']:.1f} tx/s (50% of confirmed), {lat['confirmed']}/{lat['txs']} ok",
        ),
        Row(
            part,
            "latency p95",
            lat["p95_ms"],
            "ms",
            f"max {lat['max_ms']:.0f} ms; blocks seen by a newHeads subscription",
        ),
        Row(
            part,
            "latency p50 at node1 / node2",
            lat["node1_p50_ms"],
            "ms",
            f"node2 {lat['node2_p50_ms']:.0f} ms; eth_sendTransaction answers in {lat['send_rtt_p50_ms']:.0f} ms; "
            f"1st / 2nd half {lat['first_half_p50_ms']:.0f} / {lat['second_half_p50_ms']:.0f} ms",
        ),
    ]
    cpu = t["cpu_ms_per_tx"]
    nodes = [k for k in cpu if "manager" not in k]
    managers = [k for k in cpu if "manager" in k]
    total = sum(cpu.values())
    rows.append(
        Row(
            "B measured CPU",
            "whole network, per confirmed tx",
            total,
            "ms",
            f"{sum(t['cores_busy'].values()):.2f} cores busy on average; /proc utime+stime",
        )
    )
    for k in nodes:
        rows.append(
            Row(
                "B measured CPU",
                f"{k}{' (producer)' if k == run['producer'] else ''}",
                cpu[k],
                "ms/tx",
                f"{t['cores_busy'][k]:.2f} cores",
            )
        )
    rows.append(
        Row(
            "B measured CPU",
            "managers (4)",
            sum(cpu[k] for k in managers),
            "ms/tx",
            ", ".join(f"{k.split('-')[0]} {cpu[k]:.1f}" for k in managers),
        )
    )
    rows.append(Row("B measured CPU", "load generator (this process)", t["client_cpu_ms_per_tx"], "ms/tx", ""))
    rows.append(Row("B measured CPU", "idle network (8 processes)", run["idle_cores"], "cores",
                    verdict_below(run["idle_cores"], IDLE_TARGET_CORES)))
    rows += etcd_rows(priv)
    return rows


def etcd_rows(priv: dict[str, Any]) -> list[Row]:
    """The same private run on the etcd ordering service, beside the local one."""
    part = "B private, etcd ordering"
    if "etcd" not in priv:
        return [Row(part, "not measured", float("nan"), "", priv.get("etcd_error", ""))]
    run, local = priv["etcd"], priv["run"]
    t, lat = run["throughput"], run["latency"]
    ok = t["all_confirmed_status_1"] and t["node2_value"] == t["node2_value_expected"]
    return [
        Row(part, "confirmed at all parties (node1 + node2)", t["confirmed_tx_s"], "tx/s",
            f"local {local['throughput']['confirmed_tx_s']:.1f} tx/s in this run; all status 1 + value: "
            f"{'yes' if ok else 'NO'}"),
        Row(part, "ratio etcd / local, confirmed private tx/s", priv["etcd_ratio_to_local"], "x",
            verdict(priv["etcd_ratio_to_local"], ETCD_TARGET)),
        Row(part, "latency p50 / p95, send -> mined at every party", lat["p50_ms"], "ms",
            f"p95 {lat['p95_ms']:.0f} ms at {lat['offered_tx_s']:.1f} tx/s; "
            f"local p50 {local['latency']['p50_ms']:.0f} ms"),
        Row(part, "network CPU per confirmed tx", sum(t["cpu_ms_per_tx"].values()), "ms",
            "nodes + managers (etcd members not counted)"),
        Row(part, "idle network (8 processes)", run["idle_cores"], "cores",
            verdict_below(run["idle_cores"], IDLE_TARGET_CORES)),
        Row(part, "idle network incl. the 3 etcd members", run["idle_cores"] + run.get("idle_etcd_cores", 0.0),
            "cores", verdict_below(run["idle_cores"] + run.get("idle_etcd_cores", 0.0), IDLE_TARGET_CORES)),
    ]


def verdict_below(value: float, limit: float) -> str:
    return f"target < {limit}: {'met' if value < limit else 'MISSED'}"


def where_table(where: dict[str, Any]) -> str:
    total = where["total_us_per_tx"]
    lines = [
        f"Part B, where the time goes: PER-STEP MICRO-BENCHMARKS x PER-TX COUNTS (an estimate from parts, "
        f"not a measurement of the flow; blocks of {where['block_size']} as observed)"
    ]
    width = max(len(r["step"]) for r in where["rows"])
    lines.append(f"{'step'.ljust(width)} | {'kind':10} | {'us each':>8} | {'count':>5} | {'us/tx':>8} | share")
    lines.append("-" * (width + 55))
    for r in where["rows"]:
        lines.append(
            f"{r['step'].ljust(width)} | {r['kind']:10} | {r['us_each']:8.0f} | {r['count']:5.1f} | "
            f"{r['us_per_tx']:8.0f} | {100 * r['us_per_tx'] / total:4.1f}%"
        )
    lines.append("-" * (width + 55))
    by_kind: dict[str, float] = {}
    for r in where["rows"]:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0.0) + r["us_per_tx"]
    lines.append(
        f"{'sum'.ljust(width)} | {'':10} | {'':8} | {'':5} | {total:8.0f} | "
        + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1]))
    )
    lines.append(
        f"=> ceiling if these steps were all: {where['ceiling_tx_s']:.0f} private tx/s on {where['cores']} cores"
    )
    if "compare" in where:
        c = where["compare"]
        lines.append(
            f"   the same sum with blocks of {c['block_size']}: {c['total_us_per_tx']:.0f} us/tx, ceiling "
            f"{c['ceiling_tx_s']:.0f} private tx/s"
        )
    ref = where["reference_only"]
    lines.append("reference (not summed): " + "; ".join(f"{k}: {_fmt(v)}" for k, v in ref.items()))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def profile_text(results: dict[str, Any]) -> str:
    """Top stages of each py-spy profile (when --profile ran)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for mode, r in results.get("public", {}).get("rpc", {}).items():
        for kind in ("transfer", "call"):
            if "profile" in r.get(kind, {}):
                found.append((f"public {mode} {kind}: node", r[kind]["profile"]))
    for name, prof in results.get("private", {}).get("run", {}).get("throughput", {}).get("profiles", {}).items():
        found.append((f"private: {name}", prof))
    lines = []
    for label, prof in found:
        if "error" in prof:
            lines.append(f"{label}: {prof['error']}")
            continue
        stages = ", ".join(f"{k} {v:.0f}%" for k, v in prof["stages_pct"][:6])
        threads = ", ".join(f"{k} {v:.0f}%" for k, v in prof["threads_pct"][:3])
        lines.append(f"{label} ({prof['samples']} GIL samples) stages: {stages} | threads: {threads}")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N (about a minute and a half)")
    parser.add_argument("--only", choices=("public", "private"), help="run one part")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy record the servers (needs .venv/bin/pip install py-spy)"
    )
    parser.add_argument("--public-n", type=int, help="transfers (and calls) in part A")
    parser.add_argument("--private-n", type=int, help="private calls in the part B throughput run")
    parser.add_argument("--latency-n", type=int, help="private calls in the part B latency run")
    parser.add_argument("--no-single", action="store_true", help="skip part A's one-request-per-tx RPC mode")
    parser.add_argument("--private-threads", type=int, help="client threads sending part B's private calls")
    parser.add_argument(
        "--sustained", type=float, metavar="MINUTES",
        help="only the sustained run: private load at 70%% of the measured maximum for MINUTES minutes",
    )
    parser.add_argument("--ordering", choices=("local", "etcd"), default="local",
                        help="ordering service of the --sustained run (default local)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sizes = Sizes(
        public_n=args.public_n or sizes.public_n,
        private_n=args.private_n or sizes.private_n,
        latency_n=args.latency_n or sizes.latency_n,
        private_threads=args.private_threads or sizes.private_threads,
        rpc_single=sizes.rpc_single and not args.no_single,
    )

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "started": stamp,
        "argv": sys.argv[1:],
        "sizes": sizes.__dict__,
        "machine": machine_info(),
        "load_start": load_average(),
    }
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="privnet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        profile_dir = tmp / "profiles" if args.profile else None
        if args.sustained is not None:
            try:
                from bench.sustained import run_sustained, sustained_rows

                results["sustained"] = run_sustained(
                    tmp / "sustained", args.sustained, sizes.private_threads, args.ordering
                )
                rows += sustained_rows(results["sustained"])
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                results["sustained_error"] = f"{type(exc).__name__}: {exc}"
        if args.sustained is None and args.only in (None, "public"):
            try:
                results["public"] = run_public(tmp, sizes, profile_dir)
                rows += public_rows(results["public"])
            except Exception as exc:  # noqa: BLE001 - reported, the other part still runs
                traceback.print_exc()
                results["public_error"] = f"{type(exc).__name__}: {exc}"
        if args.sustained is None and args.only in (None, "private"):
            try:
                results["private"] = run_private_part(tmp, sizes, profile_dir, results.get("public"))
                rows += private_rows(results["private"])
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                results["private_error"] = f"{type(exc).__name__}: {exc}"
        if profile_dir is not None and profile_dir.exists():
            # Raw py-spy stacks (collapsed format), for flame graphs: one git-ignored JSON file.
            raw = {p.name: p.read_text(errors="replace") for p in sorted(profile_dir.glob("*.txt"))}
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            (RESULTS_DIR / f"{stamp}-profiles.json").write_text(json.dumps(raw) + "\n")
            results["profiles_file"] = f"bench/results/{stamp}-profiles.json"
    results["elapsed_s"] = time.perf_counter() - started
    results["load_end"] = load_average()
    results["rows"] = [r.to_json() for r in rows]

    m = results["machine"]
    mode = f"sustained {args.sustained:g} min" if args.sustained is not None else "quick" if args.quick else "full"
    title = (
        f"privnet bench {stamp} ({mode}; {results['elapsed_s']:.0f} s) on "
        f"{m['nproc']} cores {m['cpu']}, Python {m['python']}, py-evm {m['py-evm']}, "
        f"ECDSA backend {m['eth_keys_backend']}; load avg {results['load_start']} -> {results['load_end']}"
    )
    print()
    print(render_table(rows, title))
    busy = max([*results["load_start"][:1], *results["load_end"][:1], 0.0])
    if busy > 0.75 * (m["nproc"] or 1):
        results["warning"] = f"machine busy (1-min load average up to {busy}): absolute rates are not comparable"
        print(f"WARNING: {results['warning']}; the CPU-per-tx rows are the load-independent ones")
    if "private" in results:
        print()
        print(where_table(results["private"]["where"]))
    text = profile_text(results)
    if text:
        print()
        print("py-spy profiles (share of GIL-holding samples):")
        print(text)
    run_b = results.get("private", {}).get("run", {}).get("throughput", {})
    if run_b.get("profiles"):
        from bench.profiling import cpu_by_step, cpu_by_step_text

        results["private"]["cpu_by_step"] = cpu_by_step(run_b["profiles"], run_b["cpu_ms_per_tx"])
        print()
        print(cpu_by_step_text(results["private"]["cpu_by_step"]))
    for key in ("public_error", "private_error", "sustained_error"):
        if key in results:
            print(f"\n{key}: {results[key]}")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    body = json.dumps(results, indent=2, default=_json_default) + "\n"
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(body)
    (RESULTS_DIR / "latest.json").write_text(body)
    print(f"\nresults: {path.relative_to(RESULTS_DIR.parent.parent)} (and bench/results/latest.json)")
    return 1 if any(k in results for k in ("public_error", "private_error", "sustained_error")) else 0


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Path):
        return str(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
