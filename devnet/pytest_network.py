"""What the `privnet` pytest fixture hands a test: the nodes of a running network, each with a web3
client, and the few operations every private-contract test needs (deploy, wait, snapshot, revert,
privacy assertions).

Kept apart from devnet/pytest_plugin.py so that loading the plugin imports nothing heavy: this
module (web3, the launcher) is imported only when a test asks for `privnet`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound

from devnet import pytest_assertions
from devnet.solc import Artifact, compile_paths

WAIT_S = 60.0  # a bound against hanging, not a performance target
POLL_S = 0.05
DEPLOY_GAS = 6_000_000


class PrivnetTestError(AssertionError):
    """A deployment or wait the fixture does for a test did not succeed (the test fails with this)."""


def _web3(url: str) -> Web3:
    """A web3 client for one node, with `w3.privnet` attached when the client library is installed."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
    try:
        import privnet_client
    except ModuleNotFoundError as exc:  # only a missing client library; a broken one must fail loudly
        if exc.name != "privnet_client":
            raise
        return w3
    privnet_client.attach(w3)
    return w3


@dataclass(eq=False)
class PrivnetNode:
    """One node of the network as a test uses it (compared by identity; prints as its name)."""

    name: str
    rpc_url: str
    ptm_public_key: str  # the manager's public key: what `privateFor` names
    accounts: list[LocalAccount]  # funded in genesis and unlocked on this node
    w3: Web3

    def __repr__(self) -> str:
        return self.name

    @property
    def account(self) -> LocalAccount:
        """The node's first account (the one `deploy_private` sends from)."""
        return self.accounts[0]

    def rpc(self, method: str, *params: Any) -> dict[str, Any]:
        """The raw JSON-RPC answer (`result` or `error`), for reads web3.py has no method for."""
        return dict(self.w3.provider.make_request(method, list(params)))  # type: ignore[arg-type]

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)


def _node(entry: dict[str, Any]) -> PrivnetNode:
    accounts = [Account.from_key(a["private_key"]) for a in entry["accounts"]]
    return PrivnetNode(name=entry["name"], rpc_url=entry["rpc_url"], ptm_public_key=entry["ptm_public_key"],
                       accounts=accounts, w3=_web3(entry["rpc_url"]))


NodeRef = PrivnetNode | str  # a node, or a manager public key as `privateFor` takes it


def public_keys(nodes: Iterable[NodeRef]) -> list[str]:
    """`privateFor` from nodes (or keys given as they are)."""
    return [n.ptm_public_key if isinstance(n, PrivnetNode) else n for n in nodes]


@dataclass(eq=False)
class PrivnetNetwork:
    """A running network of `directory` (started by the fixture, or attached with --privnet-dir)."""

    directory: Path
    spec: dict[str, Any]
    nodes: list[PrivnetNode]
    deployments: dict[str, str] = field(default_factory=dict)  # contract address → creation marker hash
    # deployments as each snapshot still live found them (a revert puts them back; oldest first)
    _deployments_at: list[tuple[Any, dict[str, str]]] = field(default_factory=list, repr=False)

    @classmethod
    def from_spec(cls, directory: Path, spec: dict[str, Any]) -> PrivnetNetwork:
        return cls(directory=directory, spec=spec, nodes=[_node(entry) for entry in spec["nodes"]])

    def node(self, name: str) -> PrivnetNode:
        """The node called `name` (`node2`)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r}; the network has {', '.join(n.name for n in self.nodes)}")

    # -- contracts ------------------------------------------------------------------------------
    @staticmethod
    def compile(*paths: str | Path) -> dict[str, Artifact]:
        """Compile Solidity files or directories with the pinned solc; artifacts by contract name."""
        return compile_paths([Path(p) for p in paths])

    def deploy_private(self, artifact: Artifact | dict[str, Any], *args: Any, sender: PrivnetNode | None = None,
                       private_for: Sequence[NodeRef], privacy_flag: int = 0,
                       mandatory_for: Sequence[NodeRef] | None = None, account: LocalAccount | None = None,
                       gas: int = DEPLOY_GAS) -> Contract:
        """Deploy privately through `sender` (default: the first node) to `private_for` (nodes or keys), from
        the sender's first unlocked account, or signed here by `account` (the client library's raw-signed
        flow); return the contract bound to the sender's w3 once every node has imported the creation."""
        sender = sender or self.nodes[0]
        abi, bytecode = _abi_bytecode(artifact)
        keys = public_keys(private_for)
        mandatory = public_keys(mandatory_for) if mandatory_for else None
        if account is not None:
            tx_hash = sender.w3.privnet.send_private(  # type: ignore[attr-defined]
                {"data": sender.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args).data_in_transaction,
                 "gas": gas}, private_for=keys, privacy_flag=privacy_flag, mandatory_for=mandatory, account=account)
        else:
            tx: dict[str, Any] = {"from": sender.account.address, "gas": gas, "gasPrice": 0, "privateFor": keys}
            if privacy_flag:
                tx["privacyFlag"] = privacy_flag
            if mandatory:
                tx["mandatoryFor"] = mandatory
            tx_hash = sender.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args).transact(tx)  # type: ignore[arg-type]
        receipt = self.wait_for_receipts(tx_hash)[sender.name]
        if receipt["status"] != 1 or not receipt.get("contractAddress"):
            raise PrivnetTestError(f"the private deployment {HexBytes(tx_hash).to_0x_hex()} failed on {sender.name} "
                                   f"(status {receipt['status']}): constructor reverted or out of gas")
        address = receipt["contractAddress"]
        self.deployments[address] = HexBytes(tx_hash).to_0x_hex()
        return sender.w3.eth.contract(address=address, abi=abi)

    # -- waiting --------------------------------------------------------------------------------
    def wait_for_receipts(self, tx_hash: bytes | str, nodes: Sequence[PrivnetNode] | None = None,
                          timeout: float = WAIT_S) -> dict[str, dict[str, Any]]:
        """Wait until every node (default: all of them) has imported the transaction; receipts by node name.

        Every node imports the public marker; a party's receipt is its private execution's."""
        wanted = list(nodes or self.nodes)
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while True:
            for node in wanted:
                if node.name not in found:
                    with contextlib.suppress(TransactionNotFound):
                        found[node.name] = dict(node.w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
            if len(found) == len(wanted):
                return found
            if time.monotonic() > deadline:
                missing = ", ".join(n.name for n in wanted if n.name not in found)
                raise PrivnetTestError(f"no receipt for {HexBytes(tx_hash).to_0x_hex()} on {missing} "
                                       f"within {timeout:.0f} s")
            time.sleep(POLL_S)

    def sync(self, timeout: float = WAIT_S) -> int:
        """Wait until every node is at the highest head any of them has now; that block number."""
        head = max(n.block_number() for n in self.nodes)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            while node.block_number() < head:
                if time.monotonic() > deadline:
                    raise PrivnetTestError(f"{node.name} did not reach block #{head} (at #{node.block_number()})")
                time.sleep(POLL_S)
        return head

    # -- isolation (devnet/snapshots.py: every node's chain, private states, pool and manager) -----
    def snapshot(self) -> Any:
        """Snapshot every node and its manager at one height (a `devnet.snapshots.NetworkSnapshot`)."""
        from devnet.snapshots import snapshot_network

        snapshot = snapshot_network(self.directory)
        self._deployments_at.append((snapshot, dict(self.deployments)))
        return snapshot

    def revert(self, snapshot: Any) -> None:
        """Put every node and manager back to `snapshot` (which it consumes, with every later one)."""
        from devnet.snapshots import revert_network

        revert_network(self.directory, snapshot)
        for i, (taken, deployments) in enumerate(self._deployments_at):
            if taken is snapshot:
                self.deployments = deployments
                del self._deployments_at[i:]  # consumed, with every later one
                break

    # -- privacy assertions ---------------------------------------------------------------------
    def assert_visible_only_to(self, address: str, nodes: Sequence[PrivnetNode]) -> None:
        """Parties (`nodes`) hold the contract's code, storage, privacy metadata and creation payload;
        every other node holds none of them. Fails naming the node and what it saw."""
        self.sync()
        pytest_assertions.visible_only_to(self.nodes, address, list(nodes), self.deployments.get(address))

    def assert_private_states_equal(self, address: str, nodes: Sequence[PrivnetNode] | None = None) -> None:
        """Every party (default: each node holding code at `address`) has the same storage root for the
        contract at the same block."""
        block = self.sync()
        pytest_assertions.private_states_equal(self.nodes, address, block, nodes)


def _abi_bytecode(artifact: Artifact | dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    if isinstance(artifact, Artifact):
        return artifact.abi, artifact.bytecode
    try:
        return list(artifact["abi"]), str(artifact["bytecode"])
    except (KeyError, TypeError):
        raise TypeError("an artifact is a devnet.solc.Artifact or a dict with 'abi' and 'bytecode'") from None
