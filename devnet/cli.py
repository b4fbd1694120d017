"""`privnet`: start a local network, inspect it, compile contracts, run the demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devnet.network import LocalNetwork, NetworkError, network_status, stop_network


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def cmd_up(args: argparse.Namespace) -> int:
    if args.ordering != "local":
        raise NetworkError("ordering 'etcd' is not available in this build yet; use --ordering local")
    network = LocalNetwork(args.dir, nodes=args.nodes, ordering=args.ordering, etcd=args.etcd or None)
    spec = network.start(detach=args.detach)
    print(f"network in {args.dir.resolve()} (chain id {spec['chain_id']}, {spec['ordering']} ordering)")
    _print_table(["node", "rpc url", "manager public key", "account"],
                 [[n["name"], n["rpc_url"], n["ptm_public_key"], n["accounts"][0]["address"]] for n in spec["nodes"]])
    print(f"network.json: {(args.dir / 'network.json').resolve()}")
    if args.demo:
        from devnet.demo import run_demo

        run_demo(spec)
    if args.detach:
        print("detached: stop it with `privnet down --dir", str(args.dir) + "`")
        return 0
    print("running; Ctrl-C stops every node and manager")
    sys.stdout.flush()
    network.wait()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = stop_network(args.dir)
    print(f"stopped {len(stopped)} processes" if stopped else "nothing was running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    rows = network_status(args.dir)
    _print_table(["node", "rpc url", "node", "block", "manager"],
                 [[r["name"], r["rpc_url"], r["node"], "-" if r["block"] is None else str(r["block"]), r["manager"]]
                  for r in rows])
    return 0 if all(r["node"] == "up" and r["manager"] == "up" for r in rows) else 1


def cmd_compile(args: argparse.Namespace) -> int:
    from devnet.solc import CompilerError, compile_paths, write_artifacts

    paths = args.paths or [Path("solidity")]
    try:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="privnet", description="A Quorum-style private-transaction network.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start N nodes and N managers on free loopback ports")
    up.add_argument("--nodes", type=int, default=4)
    up.add_argument("--dir", type=Path, default=Path(".privnet"))
    up.add_argument("--ordering", choices=["local", "etcd"], default="local")
    up.add_argument("--etcd", action="append", help="etcd endpoint URL (with --ordering etcd)")
    up.add_argument("--detach", action="store_true", help="return once the network is up")
    up.add_argument("--demo", action="store_true", help="run the demo once the network is up")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop a detached network")
    down.add_argument("--dir", type=Path, default=Path(".privnet"))
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="which nodes and managers answer")
    status.add_argument("--dir", type=Path, default=Path(".privnet"))
    status.set_defaults(func=cmd_status)

    comp = sub.add_parser("compile", help="compile Solidity to JSON artifacts")
    comp.add_argument("paths", nargs="*", type=Path)
    comp.add_argument("--out", type=Path, default=Path("build/contracts"))
    comp.set_defaults(func=cmd_compile)

    demo = sub.add_parser("demo", help="run the demo against a running network")
    demo.add_argument("--dir", type=Path, default=Path(".privnet"))
    demo.set_defaults(func=cmd_demo)
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
