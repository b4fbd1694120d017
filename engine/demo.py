"""`privnet demo`: one public and one private contract, and what each node can see."""

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


def run_demo(spec: dict[str, Any]) -> None:
    from engine.solc import compile_paths

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
