"""The transport of the post-trade clients: parties, sending a step privately and waiting for every
party's receipt, reading a view on a party's own node, refused steps as `PostTradeError`."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, TimeExhausted, Web3Exception, Web3RPCError

from devnet.solc import REPO_ROOT, SOLIDITY_DIR, Artifact, compile_paths
from postrade import reference as ref

#: Party protection (PROTOCOL.md §3): the flag of every private instance (docs/postrade.md §6)...
PRIVACY_FLAG = 1
#: ...unless the network names mandatory recipients (a regulator): then GoQuorum's flag 2, under
#: which every later transaction to the instance must include them (the engine refuses it otherwise).
MANDATORY_RECIPIENTS_FLAG = 2
#: Gas limits of the transactions the clients send. Gas is free on this network; a limit only caps
#: a step, and the block's gas accounting counts the public marker's use, not the limit.
DEPLOY_GAS = 30_000_000
TX_GAS = 20_000_000
RECEIPT_TIMEOUT_S = 60.0
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = b"\0" * 32
def load_artifacts() -> dict[str, Artifact]:
    """The contracts under solidity/, the post-trade ones among them, compiled by the pinned solc.

    The whole tree, not the four post-trade directories alone: it is the unit the tests and the
    CLI compile too, so one compilation (cached under build/solc-cache) serves them all."""
    return compile_paths([SOLIDITY_DIR], base=REPO_ROOT)


# ---------------------------------------------------------------------------------------------
# Errors, parties, the network
# ---------------------------------------------------------------------------------------------


class PostTradeError(Exception):
    """A refused step: `reason` is the contract's revert reason, or the node's error message."""

    def __init__(self, reason: str, *, action: str = "", party: Party | None = None) -> None:
        who = f"{party.label} ({party.node})" if party is not None else ""
        super().__init__(" ".join(x for x in (who, action + ":" if action else "", reason) if x))
        self.reason = reason
        self.action = action
        self.party = party


class NotAParty(PostTradeError):
    """A read on a node that holds no state of the private instance (its node is not a party)."""


_ERROR_SELECTOR = function_signature_to_4byte_selector("Error(string)")  # require(cond, "reason") / revert("reason")
_PANIC_SELECTOR = function_signature_to_4byte_selector("Panic(uint256)")  # assert, overflow, bounds, ...


def error_string(data: bytes) -> str | None:
    """The reason string of an `Error(string)` revert payload, or None (a panic, a custom error, no data)."""
    if data[:4] != _ERROR_SELECTOR:
        return None
    try:
        return str(abi_decode(["string"], data[4:])[0])
    except (DecodingError, ValueError):  # truncated payload, bad padding, not UTF-8
        return None


def receipt_revert_reason(raw: Any) -> str | None:
    """A failed receipt's `revertReason` (0x-hex or bytes): the Error(string), `panic 0x..` for a Panic, else None."""
    data = bytes.fromhex(raw[2:]) if isinstance(raw, str) else bytes(raw)
    if data[:4] == _PANIC_SELECTOR and len(data) >= 36:
        return f"panic 0x{int.from_bytes(data[4:36], 'big'):02x}"
    return error_string(data)


def revert_reason(exc: BaseException) -> str:
    """The reason a web3 error carries: the decoded Error(string), else the node's message.

    For a Panic the node's message already names it ("execution reverted: panic: ... (0x11)").
    """
    data: Any = getattr(exc, "data", None)
    message = getattr(exc, "message", None) or str(exc)
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, Mapping) and isinstance(response.get("error"), Mapping):
        error = response["error"]
        data = error.get("data", data)
        message = str(error.get("message", message))
    if isinstance(data, str) and data.startswith("0x") and len(data) > 10:
        try:
            decoded = error_string(bytes.fromhex(data[2:]))
        except ValueError:
            decoded = None
        if decoded is not None:
            return decoded
    return str(message).removeprefix("execution reverted: ")  # a revert without a reason stays "execution reverted"


@dataclass(frozen=True)
class Party:
    """An institution's account on its node: who signs, where, and which manager key names it."""

    label: str  # "broker A", "asset manager M", ...
    node: str  # node name in network.json
    rpc_url: str
    address: str  # checksum address, unlocked on `node`
    ptm_public_key: str  # the node's manager public key (base64): what privateFor names

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], node: int | str, label: str, account: int = 0) -> Party:
        """Party on `node` (index or name) of a network.json spec, using its `account`-th account."""
        nodes = spec["nodes"]
        entry = nodes[node] if isinstance(node, int) else next(n for n in nodes if n["name"] == node)
        return cls(label, entry["name"], entry["rpc_url"], to_checksum_address(entry["accounts"][account]["address"]),
                   entry["ptm_public_key"])

    @property
    def ptm_key_bytes(self) -> bytes:
        return base64.b64decode(self.ptm_public_key)

    def __str__(self) -> str:
        return f"{self.label} ({self.node})"


def unique_keys(parties: Iterable[Party]) -> list[str]:
    keys: list[str] = []
    for p in parties:
        if p.ptm_public_key not in keys:
            keys.append(p.ptm_public_key)
    return keys


@dataclass(frozen=True)
class Sent:
    """One transaction as sent and imported: what the tests and the demo need to follow it."""

    tx_hash: str
    payload: bytes  # what the parties execute: init code + arguments, or call data
    contract: str  # the contract created or called
    action: str
    sender: Party
    parties: tuple[Party, ...] | None  # None: a public transaction
    receipts: Mapping[str, Mapping[str, Any]]  # node name -> receipt as that node serves it

    @property
    def logs(self) -> list[Mapping[str, Any]]:
        """The logs the sender's node holds for it (a party's private logs)."""
        return list(self.receipts[self.sender.node]["logs"])


class PostTradeNetwork:
    """Web3 connections to every node of a network.json spec, and the compiled contracts."""

    def __init__(self, spec: Mapping[str, Any], artifacts: Mapping[str, Artifact] | None = None,
                 timeout: float = RECEIPT_TIMEOUT_S, mandatory: Sequence[Party] = ()) -> None:
        self.spec = spec
        self.node_urls: dict[str, str] = {n["name"]: n["rpc_url"] for n in spec["nodes"]}
        self.artifacts: Mapping[str, Artifact] = artifacts if artifacts is not None else load_artifacts()
        self.timeout = timeout
        #: recipients added to every private deployment and step (DOMAIN.md §6: a regulator or
        #: administrator "added to every set when configured", Tessera's mandatory recipients)
        self.mandatory: tuple[Party, ...] = tuple(mandatory)
        self._web3: dict[str, Web3] = {}

    def with_mandatory_recipients(self, parties: Sequence[Party]) -> PostTradeNetwork:
        """The same network (connections, artifacts) adding `parties` to every private recipient set.

        Instances deployed through it carry privacy flag 2 with those keys as `mandatoryFor`, so
        the engine refuses any later step to them that leaves a mandatory recipient out. The
        network's own mandatory recipients stay (once each): instances deployed before still need them."""
        kept = {(p.node, p.address): p for p in (*self.mandatory, *parties)}
        other = PostTradeNetwork(self.spec, self.artifacts, self.timeout, tuple(kept.values()))
        other._web3 = self._web3
        return other

    def recipients(self, parties: Sequence[Party]) -> tuple[Party, ...]:
        """Who receives a private step to `parties`: they and the mandatory recipients, once each."""
        return tuple({(p.node, p.address): p for p in (*parties, *self.mandatory)}.values())

    def party(self, node: int | str, label: str, account: int = 0) -> Party:
        return Party.from_spec(self.spec, node, label, account)

    def web3(self, node: str | Party) -> Web3:
        name = node.node if isinstance(node, Party) else node
        if name not in self._web3:
            self._web3[name] = Web3(Web3.HTTPProvider(self.node_urls[name], request_kwargs={"timeout": 120}))
        return self._web3[name]

    def contract(self, reader: Party, name: str, address: str, decode_tuples: bool = True) -> Any:
        """The web3 contract object on `reader`'s node (struct results as named tuples)."""
        return self.web3(reader).eth.contract(address=to_checksum_address(address), abi=self.artifacts[name].abi,
                                              decode_tuples=decode_tuples)

    # -- sending ----------------------------------------------------------------------------------
    def deploy(self, sender: Party, name: str, args: Sequence[Any], parties: Sequence[Party] | None) -> Sent:
        """Deploy `name(*args)` from `sender`: public when `parties` is None, else private to them."""
        artifact = self.artifacts[name]
        data = self.web3(sender).eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(
            *args).data_in_transaction
        return self._send(sender, None, bytes.fromhex(data[2:]), parties, f"deploy {name}", DEPLOY_GAS)

    def transact(self, sender: Party, name: str, address: str, fn: str, args: Sequence[Any],
                 parties: Sequence[Party] | None) -> Sent:
        """Call `fn(*args)` of contract `name` at `address` as `sender` (private to `parties`)."""
        data = self.contract(sender, name, address).encode_abi(fn, list(args))
        return self._send(sender, address, bytes.fromhex(data[2:]), parties, fn, TX_GAS)

    def _send(self, sender: Party, to: str | None, payload: bytes, parties: Sequence[Party] | None, action: str,
              gas: int) -> Sent:
        w3 = self.web3(sender)
        tx: dict[str, Any] = {"from": sender.address, "data": "0x" + payload.hex(), "gas": gas}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if parties is not None:
            parties = self.recipients(parties)
            tx["privateFor"] = [k for k in unique_keys(parties) if k != sender.ptm_public_key]
            tx["privacyFlag"] = PRIVACY_FLAG
            if self.mandatory:
                tx["privacyFlag"] = MANDATORY_RECIPIENTS_FLAG
                tx["mandatoryFor"] = unique_keys(self.mandatory)
        try:
            tx_hash = w3.eth.send_transaction(tx)  # type: ignore[arg-type]
        except (Web3RPCError, ContractLogicError) as exc:
            raise PostTradeError(revert_reason(exc), action=action, party=sender) from exc
        # every node that executes it (the parties; all nodes for a public one) must have imported it
        nodes = list(dict.fromkeys([sender.node, *(p.node for p in parties)])) if parties is not None \
            else list(self.node_urls)
        receipts = {node: self._wait_receipt(node, tx_hash, action, sender) for node in nodes}
        failed = {n: r for n, r in receipts.items() if int(r["status"]) != 1}
        if failed:
            node, receipt = next(iter(failed.items()))
            raw = receipt.get("revertReason")
            reason = receipt_revert_reason(raw) if raw else None
            diverged = "" if len(failed) == len(receipts) else f" (diverged: failed on {sorted(failed)} only)"
            raise PostTradeError(f"{reason or 'transaction failed'} on {node}{diverged}", action=action, party=sender)
        address = receipts[sender.node]["contractAddress"] if to is None else to
        return Sent(tx_hash="0x" + bytes(tx_hash).hex(), payload=payload, contract=to_checksum_address(str(address)),
                    action=action, sender=sender, parties=tuple(parties) if parties is not None else None,
                    receipts=receipts)

    def _wait_receipt(self, node: str, tx_hash: Any, action: str, sender: Party) -> Mapping[str, Any]:
        try:
            return dict(self.web3(node).eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout,
                                                                         poll_latency=0.02))
        except TimeExhausted as exc:
            raise PostTradeError(f"{node} did not import the transaction within {self.timeout:.0f} s",
                                 action=action, party=sender) from exc

    # -- reading ----------------------------------------------------------------------------------
    def call(self, reader: Party, name: str, address: str, fn: str, args: Sequence[Any]) -> Any:
        """A view as `reader` on its own node: the private state when its node is a party."""
        # web3 names a result's fields after the outputs: functions with several unnamed outputs
        # decode as plain tuples (named tuples would collapse them)
        outputs = next(e["outputs"] for e in self.artifacts[name].abi if e["type"] == "function" and e["name"] == fn)
        contract = self.contract(reader, name, address, decode_tuples=len(outputs) == 1)
        function = getattr(contract.functions, fn)(*args)
        try:
            return function.call({"from": reader.address})
        except ContractLogicError as exc:
            raise PostTradeError(revert_reason(exc), action=fn, party=reader) from exc
        except (BadFunctionCallOutput, Web3Exception) as exc:
            if not self.has_state(reader, address):
                raise NotAParty(f"{reader.node} holds no state of {name} at {address}", action=fn,
                                party=reader) from exc
            raise PostTradeError(revert_reason(exc), action=fn, party=reader) from exc

    def has_state(self, reader: Party | str, address: str) -> bool:
        """Whether `reader`'s node holds the contract (a private one only on its parties' nodes)."""
        return len(self.web3(reader).eth.get_code(to_checksum_address(address))) > 0


# ---------------------------------------------------------------------------------------------
# Encoding helpers
# ---------------------------------------------------------------------------------------------


def fixed(text: str | bytes, size: int) -> bytes:
    """A `bytesN` value: the text right-padded with zero bytes (error when longer than N)."""
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if len(raw) > size:
        raise ValueError(f"{raw!r} is longer than bytes{size}")
    return raw.ljust(size, b"\0")


def b16(text: str | bytes) -> bytes:
    return fixed(text, 16)


def text_of(raw: bytes) -> str:
    """The text of a zero-padded `bytesN` value."""
    return bytes(raw).rstrip(b"\0").decode()


def figures_of(value: Any) -> ref.Figures:
    return ref.Figures(int(value[0]), int(value[1]), int(value[2]), int(value[3]))
