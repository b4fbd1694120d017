"""`privnet demo`: one public and one private contract, then a post-trade day, and what each node can see.

Part 1 deploys SimpleStorage publicly and privately (node1 privateFor node2) and prints each
node's view. Part 2 runs the post-trade scenario (postrade/scenario.py) with the clients:
node1 = broker A, node2 = asset manager M, node3 = trust bank TB1, node4 = broker B (the
outsider), node5 (if any) = trust bank TB2, node6 (if any) = regulator R, a mandatory recipient of
every private record (`privnet up --demo` starts six nodes on a new network). Every run deploys
fresh instances, so it can run again on the same network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from web3 import Web3

REPO = Path(__file__).resolve().parent.parent


def _deploy(w3: Web3, artifact: Any, sender: str, args: list[Any], private_for: list[str] | None) -> str:
    contract = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx: dict[str, Any] = {"from": sender, "gas": 3_000_000}
    if private_for is not None:
        tx["privateFor"] = private_for
    tx_hash = contract.constructor(*args).transact(tx)  # type: ignore[arg-type]
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    if receipt["status"] != 1:
        raise RuntimeError(f"deployment failed: {receipt}")
    return str(receipt["contractAddress"])


def run_storage_demo(spec: dict[str, Any]) -> None:
    """SimpleStorage, public and private: what each node sees."""
    from devnet.solc import compile_paths

    artifact = compile_paths([REPO / "solidity" / "test"], base=REPO)["SimpleStorage"]
    nodes = spec["nodes"]
    if len(nodes) < 2:
        raise RuntimeError("the demo needs at least two nodes")
    clients = [Web3(Web3.HTTPProvider(n["rpc_url"])) for n in nodes]
    sender = nodes[0]["accounts"][0]["address"]
    party_key = nodes[1]["ptm_public_key"]

    public_address = _deploy(clients[0], artifact, sender, [100], None)
    private_address = _deploy(clients[0], artifact, sender, [42], [party_key])
    contract = clients[0].eth.contract(address=private_address, abi=artifact.abi)
    tx_hash = contract.functions.set(4242).transact({"from": sender, "privateFor": [party_key], "gas": 200_000})
    for w3 in clients:
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    print()
    print(f"public contract  {public_address}: deployed by {nodes[0]['name']}, visible to all")
    print(f"private contract {private_address}: {nodes[0]['name']} privateFor {nodes[1]['name']}, then set(4242)")
    print(f"on chain the private transaction's input is only the manager's hash: "
          f"{clients[0].eth.get_transaction(tx_hash)['input'].hex()[:24]}… (64 bytes)")
    print()
    header = f"{'node':<8}{'public value':>14}{'private code':>14}{'private value':>15}{'private event':>15}"
    print(header)
    print("-" * len(header))
    for node, w3 in zip(nodes, clients, strict=True):
        public_value = w3.eth.contract(address=public_address, abi=artifact.abi).functions.get().call()
        code = w3.eth.get_code(private_address)
        value = "-"
        if code:
            value = str(w3.eth.contract(address=private_address, abi=artifact.abi).functions.get().call())
        logs = len(w3.eth.get_transaction_receipt(tx_hash)["logs"])
        print(f"{node['name']:<8}{public_value:>14}{(str(len(code)) + ' bytes') if code else 'none':>14}"
              f"{value:>15}{(str(logs) + ' log') if logs else 'none':>15}")
    print()


def print_step(step: Any) -> None:
    """One line per step: node, role, action, detail → outcome."""
    print(f"  {step.actor.node:<6}{step.actor.label:<17}{step.action:<26} {step.detail}  → {step.outcome}")


def format_table(headers: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    """The per-node view as fixed-width lines (node names on the first header line, roles on the second)."""
    label_width = max(len("record"), *(len(label) for label, _ in rows)) + 2
    widths = [max(len(h.split(" ", 1)[1]), *(len(cells[i]) for _, cells in rows)) + 2 for i, h in enumerate(headers)]
    nodes = "".join(h.split(" ", 1)[0].ljust(w) for h, w in zip(headers, widths, strict=True))
    roles = "".join(h.split(" ", 1)[1].ljust(w) for h, w in zip(headers, widths, strict=True))
    lines = ["".ljust(label_width) + nodes, "record".ljust(label_width) + roles,
             "-" * (label_width + sum(widths))]
    lines += [label.ljust(label_width) + "".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
              for label, cells in rows]
    return [line.rstrip() for line in lines]


def run_postrade_demo(spec: dict[str, Any]) -> None:
    """The post-trade day of postrade/scenario.py, then what each node sees."""
    from postrade import reference as ref
    from postrade.clients import PostTradeNetwork
    from postrade.scenario import Cast, PostTradeScenario

    if len(spec["nodes"]) < 4:
        print("post-trade scenario skipped: it needs at least four nodes (privnet up --nodes 4)")
        return
    net = PostTradeNetwork(spec)
    cast = Cast.from_network(net)
    roles = ", ".join(f"{p.node} = {p.label}" + (" (outsider)" if p == cast.broker_b else "") for p in cast.per_node)
    print(f"Post-trade day on the private network: {roles}; admin = {cast.admin.node}'s second account")
    print()
    scenario = PostTradeScenario(net, cast, on_step=print_step).run()
    print()
    calendar = scenario.infra.calendar
    start, end = (ref.to_iso(d) for d in calendar.coverage(cast.admin))
    print(f"Business calendar {calendar.address}: holidays loaded {start} .. {end}; extend it with "
          f"`privnet calendar refresh --address {calendar.address}`")
    if cast.regulator is None:
        print("No regulator: with six nodes (privnet up --demo on a new --dir) node6 is regulator R, a mandatory "
              "recipient of every private record")
    print()
    print("What each node can see (read from its own node; — = no code, no state: not a party)")
    print()
    for line in format_table(*scenario.visibility()):
        print(line)
    print()


def run_demo(spec: dict[str, Any]) -> None:
    run_storage_demo(spec)
    run_postrade_demo(spec)
