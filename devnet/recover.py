"""`privnet recover NODE`: bring back a node whose manager lost its store and/or whose private
state was lost, and prove it is back.

Steps (each says what it did; the first failure stops and exits non-zero):
1. Stop the node (its private state must not change under the replay) and restart its manager
   (so it runs on the database file that exists now, empty or not).
2. Manager recovery: Q2T `POST /recover` (tessera_like/recovery.py): the manager asks every peer
   for the payloads of its keys, paged; the report is printed per peer. A peer that failed stops
   here, the node left stopped: a replay without its payloads would execute its transactions as
   a non-party. Run the command again once the peer answers (recovery is idempotent).
3. Replay: `python -m engine --config node.toml --replay-private-state` (engine/privacy/replay.py)
   rebuilds the private state of every block the node holds and imports the rest from the
   ordering service; it prints the private contracts the node holds.
4. Start the node; once it is at the other nodes' head, check every private contract it holds:
   its `eth_storageRoot` at that block equals that of every other node holding the contract
   (the parties; a non-party has no code there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devnet.network import NetworkError, NotRunning, load_spec, start_member, stop_member
from devnet.q2t import q2t_request

RECOVER_TIMEOUT_S = 600.0
REPLAY_TIMEOUT_S = 3600.0
SYNC_TIMEOUT_S = 60.0


class RecoveryFailed(NetworkError):
    """Raised when a step of `privnet recover` fails; the message says what and what to do."""


@dataclass
class ContractCheck:
    address: str
    root: str
    parties: list[str] = field(default_factory=list)  # other nodes holding it, same root
    mismatched: dict[str, str] = field(default_factory=dict)  # other node -> its different root


def _rpc(url: str, method: str, *params: Any) -> Any:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                        timeout=30).json()
    if "error" in answer:
        raise RecoveryFailed(f"{url} {method}: {answer['error'].get('message')}")
    return answer["result"]


def _head(url: str) -> int | None:
    try:
        return int(_rpc(url, "eth_blockNumber"), 16)
    except (httpx.HTTPError, ValueError, KeyError, RecoveryFailed):
        return None


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


# -- the steps -----------------------------------------------------------------------------------

def stop_node_restart_manager(directory: Path, name: str) -> None:
    try:
        print(stop_member(directory, name))
    except NotRunning:
        print(f"{name} was not running")
    manager = f"{name}-manager"
    try:
        print(stop_member(directory, manager))
    except NotRunning:
        print(f"{manager} was not running")
    print(start_member(directory, manager))


def recover_manager(node: dict[str, Any], page_size: int) -> dict[str, Any]:
    """Run the manager's recovery; its report. Raises RecoveryFailed when a peer failed."""
    try:
        answer = q2t_request(node["ptm_q2t_url"], "POST", "/recover", json={"pageSize": page_size},
                             timeout=RECOVER_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise RecoveryFailed(f"the manager of {node['name']} did not answer /recover: {exc}") from None
    if answer.status_code != 200:
        raise RecoveryFailed(f"the manager of {node['name']} refused to recover ({answer.status_code}): {answer.text}")
    report: dict[str, Any] = answer.json()
    rows = [[p["url"], str(p["recovered"]), str(p["merged"]), str(p["alreadyHeld"]), str(p["refused"]),
             str(p["pages"]), p["error"] or "ok"] for p in report["peers"]]
    print(f"manager recovery of {node['name']}: {report['recovered']} payloads recovered, {report['merged']} "
          f"completed with more boxes, {report['alreadyHeld']} already held, {report['refused']} refused")
    print(_table(["peer", "recovered", "merged", "already held", "refused", "pages", "result"], rows))
    if report["failedPeers"]:
        raise RecoveryFailed(f"recovery from {', '.join(report['failedPeers'])} failed; {node['name']} is left "
                             f"stopped (a replay now would miss their payloads). Run `privnet recover "
                             f"{node['name']}` again once they answer: what was recovered is kept")
    return report


def replay_private_state(directory: Path, node: dict[str, Any]) -> dict[str, Any]:
    """Run the node's offline replay; its summary. Its log lines go to the node's log file."""
    env = dict(os.environ)
    repo_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    command = [sys.executable, "-m", "engine", "--config", node["node_config"], "--replay-private-state"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=REPLAY_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, umask=0o077)
    except subprocess.TimeoutExpired:
        raise RecoveryFailed(f"the private state replay of {node['name']} did not finish within "
                             f"{REPLAY_TIMEOUT_S:.0f} s") from None
    log = directory / "logs" / f"{node['name']}.log"
    with log.open("a", encoding="utf-8") as out:
        out.write(done.stderr)
    if done.returncode != 0:
        raise RecoveryFailed(f"the private state replay of {node['name']} failed (exit {done.returncode}); "
                             f"{node['name']} is left stopped:\n{done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"private state of {node['name']} replayed: blocks 1-{summary['replayedBlocks']} run again, "
          f"{summary['importedBlocks']} imported from the ordering service; {summary['privateReceipts']} private "
          f"transactions with {node['name']} as a party, {len(summary['contracts'])} private contracts held")
    return summary


def _wait_head(url: str, number: int, what: str) -> None:
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while (_head(url) or -1) < number:
        if time.monotonic() > deadline:
            raise RecoveryFailed(f"{what} did not reach block #{number} within {SYNC_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def check_roots(spec: dict[str, Any], node: dict[str, Any], contracts: list[str]) -> tuple[int, list[ContractCheck]]:
    """Compare `node`'s storage root of each contract with every other node holding it, at one block."""
    others = [n for n in spec["nodes"] if n["name"] != node["name"]]
    heads = {n["name"]: _head(n["rpc_url"]) for n in others}
    reachable = [n for n in others if heads[n["name"]] is not None]
    for name in sorted(set(heads) - {n["name"] for n in reachable}):
        print(f"warning: {name} does not answer JSON-RPC; its roots are not compared")
    _wait_head(node["rpc_url"], max((heads[n["name"]] or 0) for n in reachable) if reachable else 0, node["name"])
    block = _head(node["rpc_url"])
    assert block is not None
    for other in reachable:
        _wait_head(other["rpc_url"], block, other["name"])
    at = hex(block)
    checks = []
    for address in contracts:
        check = ContractCheck(address, _rpc(node["rpc_url"], "eth_storageRoot", address, at))
        for other in reachable:
            if _rpc(other["rpc_url"], "eth_getCode", address, at) == "0x":
                continue  # not a party
            root = _rpc(other["rpc_url"], "eth_storageRoot", address, at)
            if root == check.root:
                check.parties.append(other["name"])
            else:
                check.mismatched[other["name"]] = root
        checks.append(check)
    return block, checks


def recover_node(directory: Path, name: str, page_size: int = 50) -> None:
    """`privnet recover NAME`; raises RecoveryFailed (or NetworkError) on any failure or mismatch."""
    spec = load_spec(directory)
    node = next((n for n in spec["nodes"] if n["name"] == name), None)
    if node is None:
        raise NetworkError(f"no node {name!r} in this network; its nodes: "
                           f"{', '.join(n['name'] for n in spec['nodes'])}")
    stop_node_restart_manager(directory, name)
    recover_manager(node, page_size)
    summary = replay_private_state(directory, node)
    print(start_member(directory, name))
    block, checks = check_roots(spec, node, summary["contracts"])
    rows = [[c.address, c.root[:18] + "…", ", ".join(c.parties) or "(no other party)",
             "MISMATCH " + ", ".join(f"{k} {v[:18]}…" for k, v in c.mismatched.items()) if c.mismatched else "ok"]
            for c in checks]
    print(f"private storage roots at block #{block}, {name} against the other parties:")
    print(_table(["contract", f"{name} root", "same root on", "result"], rows))
    bad = [c for c in checks if c.mismatched]
    if bad:
        raise RecoveryFailed(f"{len(bad)} of {len(checks)} private contracts of {name} differ from another "
                             f"party's: {', '.join(c.address for c in bad)}")
    print(f"recovered: {name}'s private state root of each of its {len(checks)} private contracts equals every "
          f"other party's at block #{block}")


__all__ = ["ContractCheck", "RecoveryFailed", "check_roots", "recover_node"]
