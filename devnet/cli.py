"""`privnet`: start a local network, inspect it, stop and start its processes, compile contracts,
run the demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from devnet.network import (
    LocalNetwork,
    NetworkError,
    NotRunning,
    network_status,
    p2p_tls,
    start_member,
    start_steps,
    stop_member,
    stop_network,
)


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _ordering_line(spec: dict[str, Any]) -> str:
    if spec.get("ordering", "local") != "etcd":
        return "local ordering"
    where = "local cluster" if spec.get("etcd_cluster") == "local" else "cluster"
    return f"etcd ordering ({where} at {', '.join(spec['etcd_endpoints'])})"


def _security_warnings(spec: dict[str, Any]) -> list[str]:
    warnings = []
    if not p2p_tls(spec):
        warnings.append("managers talk P2P over plain HTTP without authentication (--insecure-p2p): "
                        "anyone who reaches their ports can read and inject payloads; for debugging only")
    if spec.get("dev_keys", True):
        warnings.append("manager keys are stored unencrypted (--dev-keys): development only")
    return warnings


#: `privnet up --demo` on a new network without --nodes: the demo's cast with trust bank TB2 and the
#: regulator, a mandatory recipient of every private record (postrade/scenario.py)
DEMO_NODES = 6


def cmd_up(args: argparse.Namespace) -> int:
    nodes = args.nodes
    if nodes is None and args.demo and not (args.dir / "network.json").exists():
        nodes = DEMO_NODES
    network = LocalNetwork(args.dir, nodes=nodes, ordering=args.ordering, etcd=args.etcd or None,
                           insecure_p2p=True if args.insecure_p2p else None, dev_keys=True if args.dev_keys else None,
                           privacy_marker=True if args.privacy_marker else None)
    for warning in _security_warnings(network.spec):
        print(f"warning: {warning}", file=sys.stderr)
    from devnet.progress import steps

    with steps(f"starting {len(network.spec['nodes'])} nodes", start_steps(network.spec)) as done:
        spec = network.start(detach=args.detach, progress=done)
    print(f"network in {args.dir.resolve()} (chain id {spec['chain_id']}, {_ordering_line(spec)})")
    if p2p_tls(spec):
        print(f"managers: P2P over mutual TLS (CA {spec['ca_file']}), Q2T on unix sockets")
    _print_table(["node", "rpc url", "manager q2t url", "manager public key", "account"],
                 [[n["name"], n["rpc_url"], n["ptm_q2t_url"], n["ptm_public_key"], n["accounts"][0]["address"]]
                  for n in spec["nodes"]])
    print(f"network.json: {(args.dir / 'network.json').resolve()}")
    if args.demo:
        from devnet.demo import run_demo

        run_demo(spec)
    if args.detach:
        print("detached: `privnet status --dir", str(args.dir) + "` shows it, `privnet down --dir",
              str(args.dir) + "` stops it")
        return 0
    print("running; Ctrl-C stops every process (`privnet stop/start NAME` from another shell work meanwhile)")
    sys.stdout.flush()
    network.wait()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from devnet.progress import working

    with working(f"stopping the network of {args.dir}"):
        stopped = stop_network(args.dir)
    print(f"stopped {len(stopped)} processes: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from devnet.progress import working

    with working(f"stopping {args.name}"):
        print(stop_member(args.dir, args.name, kill=args.kill))
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from devnet.progress import working

    with working(f"starting {args.name}"):
        print(start_member(args.dir, args.name))
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    from devnet.progress import working

    with working(f"restarting {args.name}"):
        try:
            print(stop_member(args.dir, args.name, kill=args.kill))
        except NotRunning:
            print(f"{args.name} was not running")
        print(start_member(args.dir, args.name))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from devnet.logs import follow, last_lines
    from devnet.network import log_path

    path = log_path(args.dir, args.name)
    if not path.exists():
        raise NetworkError(f"{args.name} has no log yet ({path}): it has never been started")
    lines, offset = last_lines(path, args.lines)
    for line in lines:
        print(line)
    if args.follow:
        sys.stdout.flush()
        follow(path, offset, lambda line: print(line, flush=True))
    return 0


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def cmd_status(args: argparse.Namespace) -> int:
    status = network_status(args.dir)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0 if status["ok"] else 1
    ordering = status["ordering"] + (f" ({status['etcd_cluster']} cluster)" if status["etcd_cluster"] else "")
    print(f"chain id {status['chain_id']}, ordering {ordering}, producer {status['producer'] or '(none)'}")
    _print_table(["node", "rpc url", "node", "head", "lag", "manager", "manager q2t url", "divergences"],
                 [[r["name"], r["rpc_url"], r["node"], _cell(r["head"]), _cell(r["lag"]), r["manager"], r["q2t_url"],
                   _cell(None if r["divergences"] is None else len(r["divergences"]))] for r in status["nodes"]])
    for r in status["nodes"]:
        for d in r["divergences"] or ():
            sides = "; ".join(f"root {s['storageRoot']} at {', '.join(s['parties'])}" for s in d["sides"])
            print(f"{r['name']}: private state divergence: contract {d['contract']} at block "
                  f"#{int(d['blockNumber'], 16)}: {sides}")
    if status["etcd"]:
        print()
        _print_table(["etcd", "client url", "health"], [[e["name"], e["url"], e["health"]] for e in status["etcd"]])
    return 0 if status["ok"] else 1


def cmd_recover(args: argparse.Namespace) -> int:
    from devnet.progress import working
    from devnet.recover import recover_node

    with working(f"recovering {args.name}"):
        recover_node(args.dir, args.name, page_size=args.page_size)
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from devnet.progress import working
    from devnet.solc import CompilerError, compile_paths, write_artifacts

    paths = args.paths or [Path("solidity")]
    try:
        with working(f"compiling {', '.join(str(p) for p in paths)}"):
            artifacts = compile_paths(paths)
    except CompilerError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for path in write_artifacts(artifacts, args.out):
        print(path)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from devnet.demo import run_demo

    spec_path = args.dir / "network.json"
    if not spec_path.exists():
        raise NetworkError(f"no network in {args.dir}: run `privnet up --dir {args.dir}` first")
    run_demo(json.loads(spec_path.read_text()))
    return 0


def cmd_calendar_refresh(args: argparse.Namespace) -> int:
    """Extend a deployed BusinessCalendar with the generated holidays of the missing years (as its admin)."""
    from postrade import reference as ref
    from postrade.calendar_data import holiday_days, horizon_until
    from postrade.clients import BusinessCalendar, PostTradeError, PostTradeNetwork

    spec_path = args.dir / "network.json"
    if not spec_path.exists():
        raise NetworkError(f"no network in {args.dir}: run `privnet up --dir {args.dir}` first")
    net = PostTradeNetwork(json.loads(spec_path.read_text()))
    admin = net.party(args.admin_node, "admin", account=args.admin_account)
    calendar = BusinessCalendar(net, args.address, None)
    start, end = calendar.coverage(admin)
    until = args.until or horizon_until()
    print(f"calendar {calendar.address}: loaded {ref.to_iso(start)} .. {ref.to_iso(end)}")
    if ref.to_day(until) <= end:
        print(f"already covers {until}: nothing to send")
        return 0
    days = holiday_days(end + 1, until)
    print(f"adding {len(days)} holidays for {ref.to_iso(end + 1)} .. {until}: "
          + ", ".join(ref.to_iso(d) for d in days))
    if args.dry_run:
        return 0
    try:
        sent = calendar.refresh(admin, until)
    except PostTradeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    start, end = calendar.coverage(admin)
    print(f"sent {', '.join(f'{s.action} {s.tx_hash}' for s in sent)}")
    print(f"calendar {calendar.address}: loaded {ref.to_iso(start)} .. {ref.to_iso(end)}")
    return 0


def cmd_explorer(args: argparse.Namespace) -> int:
    from devnet.explorer import ExplorerError, serve

    try:
        serve(args.dir, host=args.host, port=args.port, artifact_dirs=args.artifacts)
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="privnet", description="A Quorum-style private-transaction network.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start N nodes and N managers, each on its own loopback address")
    up.add_argument("--nodes", type=int, help="how many nodes (new network: 4, or 6 with --demo: the demo's "
                                              "regulator on node6; an existing DIR keeps its own)")
    up.add_argument("--dir", type=Path, default=Path(".privnet"))
    up.add_argument("--ordering", choices=["local", "etcd"],
                    help="local (a shared SQLite file; the default) or etcd (an existing DIR keeps its own)")
    up.add_argument("--etcd", action="append", metavar="URL",
                    help="an external etcd cluster's client URL (repeatable); without it, --ordering etcd "
                         "starts a 3-member cluster under DIR/etcd/")
    up.add_argument("--detach", action="store_true", help="return once the network is up")
    up.add_argument("--demo", action="store_true", help="run the demo once the network is up")
    up.add_argument("--insecure-p2p", action="store_true",
                    help="new network: managers talk P2P over plain HTTP without authentication (debugging "
                         "only; default: mutual TLS with the network's development CA)")
    up.add_argument("--dev-keys", action="store_true",
                    help="new network: store manager keys unencrypted (default: encrypted with a random "
                         "password per manager, kept in its directory)")
    up.add_argument("--privacy-marker", action="store_true",
                    help="new network: private transactions go on chain as GoQuorum's privacy marker "
                         "transactions (genesis privacyPrecompileBlock 0, every node's --privacymarker.enable)")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop every process of the network (nodes, managers, then etcd)")
    down.add_argument("--dir", type=Path, default=Path(".privnet"))
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="ordering, producer, each node's head and lag, managers, etcd")
    status.add_argument("--dir", type=Path, default=Path(".privnet"))
    status.add_argument("--json", action="store_true", help="print the status as one JSON object (same exit code)")
    status.set_defaults(func=cmd_status)

    logs = sub.add_parser("logs", help="print the end of one process's log (-f: follow it as it grows)")
    logs.add_argument("name", help="a node (node2), a manager (node2-manager) or a local etcd member (etcd2)")
    logs.add_argument("--dir", type=Path, default=Path(".privnet"))
    logs.add_argument("-n", "--lines", type=int, default=50, metavar="N", help="how many lines (default 50)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing what is appended (Ctrl-C stops)")
    logs.set_defaults(func=cmd_logs)

    names = "a node (node2), a manager (node2-manager) or a local etcd member (etcd2)"
    for command, func, what in (("stop", cmd_stop, "stop one process of a running network"),
                                ("start", cmd_start, "start one stopped process; returns once it answers"),
                                ("restart", cmd_restart, "stop (if running) and start one process")):
        one = sub.add_parser(command, help=what)
        one.add_argument("name", help=names)
        one.add_argument("--dir", type=Path, default=Path(".privnet"))
        if command != "start":
            one.add_argument("--kill", action="store_true", help="SIGKILL (a crash) instead of SIGTERM")
        one.set_defaults(func=func)

    recover = sub.add_parser("recover", help="recover a node's manager store from its peers, replay its private "
                                             "state, restart it and check its private roots against the parties'")
    recover.add_argument("name", help="a node (node2)")
    recover.add_argument("--dir", type=Path, default=Path(".privnet"))
    recover.add_argument("--page-size", type=int, default=50, choices=range(1, 101), metavar="1-100",
                         help="payloads asked of a peer per page (default 50)")
    recover.set_defaults(func=cmd_recover)

    comp = sub.add_parser("compile", help="compile Solidity to JSON artifacts")
    comp.add_argument("paths", nargs="*", type=Path)
    comp.add_argument("--out", type=Path, default=Path("build/contracts"))
    comp.set_defaults(func=cmd_compile)

    demo = sub.add_parser("demo", help="run the demo against a running network")
    demo.add_argument("--dir", type=Path, default=Path(".privnet"))
    demo.set_defaults(func=cmd_demo)

    calendar = sub.add_parser("calendar", help="the post-trade business calendar (docs/postrade.md)")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    refresh = calendar_sub.add_parser("refresh", help="extend a deployed BusinessCalendar to the horizon (the "
                                                      "current year + 3) with the holidays of the missing years, "
                                                      "from the `holidays` package, as its admin")
    refresh.add_argument("--address", required=True, help="the calendar's address")
    refresh.add_argument("--dir", type=Path, default=Path(".privnet"))
    refresh.add_argument("--until", metavar="YYYY-MM-DD", help="the new last covered day (default: 31 Dec of the "
                                                                 "current year + 3)")
    refresh.add_argument("--admin-node", default="node1", help="the admin's node (default node1, as the demo)")
    refresh.add_argument("--admin-account", type=int, default=1,
                         help="the admin's account index on that node (default 1, the demo's admin)")
    refresh.add_argument("--dry-run", action="store_true", help="print what would be sent, send nothing")
    refresh.set_defaults(func=cmd_calendar_refresh)

    explorer = sub.add_parser("explorer", help="serve a live page: the public chain and, per node, what it sees "
                                               "(decoded calls for a party, only the payload hash for others)")
    explorer.add_argument("--dir", type=Path, default=Path(".privnet"))
    explorer.add_argument("--port", type=int, default=8600)
    explorer.add_argument("--host", default="127.0.0.1",
                          help="address to bind (default 127.0.0.1: the page shows every node's private data)")
    explorer.add_argument("--artifacts", type=Path, nargs="+", action="extend", metavar="DIR",
                          help="directories of JSON artifacts (privnet compile) to decode calls with "
                               "(default: the repo's build/ if present)")
    explorer.set_defaults(func=cmd_explorer)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NetworkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
