"""What the explorer knows about contracts: the ABIs of compiled artifacts, and decoding with them.

Why its own module: decoding is pure (bytes and ABIs in, display values out), so it is tested
without a network; the explorer never compiles at run time, it only reads JSON artifacts
(`privnet compile` / devnet.solc's format, or anything with an `abi` list).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import eth_abi
from eth_utils import keccak, to_checksum_address

#: A decoded value longer than this is cut for display (payloads are attacker-controlled).
MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class ContractAbi:
    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str = ""  # init code, hex without 0x ("" when unknown)
    deployed_bytecode: str = ""

    def functions(self) -> Iterable[dict[str, Any]]:
        return (e for e in self.abi if e.get("type") == "function")

    def getters(self) -> list[dict[str, Any]]:
        """Views without inputs and with outputs: what the explorer may call to show a contract's state."""
        return [f for f in self.functions() if not f.get("inputs") and f.get("outputs")
                and f.get("stateMutability") in ("view", "pure")]


@dataclass(frozen=True)
class Arg:
    name: str
    type: str
    value: str  # display form


@dataclass(frozen=True)
class DecodedCall:
    """A call (`function` set) or a deployment (`function` = "constructor")."""

    contract: str | None
    function: str
    args: tuple[Arg, ...] = ()
    error: str | None = None  # why the arguments could not be decoded

    @property
    def is_deployment(self) -> bool:
        return self.function == "constructor"


@dataclass(frozen=True)
class DecodedLog:
    address: str
    event: str | None  # None: no known ABI has this topic
    args: tuple[Arg, ...] = ()
    topics: tuple[str, ...] = ()
    data: str = "0x"


def canonical_type(param: dict[str, Any]) -> str:
    """The ABI type string eth_abi takes: tuples spelled out as (t1,t2), arrays kept."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(canonical_type(p) for p in entry.get('inputs', []))})"


def format_value(value: Any) -> str:
    """A decoded ABI value as text: ints in decimal, bytes as 0x hex, addresses checksummed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        text = "0x" + value.hex()
    elif isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        try:
            text = to_checksum_address(value)
        except ValueError:
            text = repr(value)
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (list, tuple)):
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        text = open_ + ", ".join(format_value(v) for v in value) + close
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _decode_args(params: Sequence[dict[str, Any]], data: bytes) -> tuple[Arg, ...]:
    types = [canonical_type(p) for p in params]
    values = eth_abi.decode(types, data)
    return tuple(Arg(str(p.get("name") or f"arg{i}"), t, format_value(v))
                 for i, (p, t, v) in enumerate(zip(params, types, values, strict=True)))


@dataclass
class AbiRegistry:
    """Every known contract ABI, indexed by function selector, event topic and init code."""

    contracts: list[ContractAbi] = field(default_factory=list)
    _selectors: dict[bytes, list[tuple[ContractAbi, dict[str, Any]]]] = field(default_factory=dict)
    _events: dict[bytes, list[tuple[ContractAbi, dict[str, Any]]]] = field(default_factory=dict)

    def add(self, contract: ContractAbi) -> None:
        self.contracts.append(contract)
        for entry in contract.abi:
            if entry.get("type") == "function":
                self._selectors.setdefault(keccak(text=signature(entry))[:4], []).append((contract, entry))
            elif entry.get("type") == "event" and not entry.get("anonymous"):
                self._events.setdefault(keccak(text=signature(entry)), []).append((contract, entry))

    def by_name(self, name: str) -> ContractAbi | None:
        return next((c for c in self.contracts if c.name == name), None)

    def by_code(self, code_hex: str) -> ContractAbi | None:
        """The contract whose runtime bytecode is exactly `code_hex` (0x-prefixed or not)."""
        code = code_hex.removeprefix("0x").lower()
        return next((c for c in self.contracts if code and c.deployed_bytecode == code), None)

    def decode_call(self, data: bytes, code_hex: str | None = None) -> DecodedCall | None:
        """Call data → function and arguments; None when no known ABI has its selector.

        Several contracts may share a selector (same signature): the one whose runtime code is
        `code_hex` wins, else the first whose argument decoding succeeds."""
        candidates = self._selectors.get(data[:4], []) if len(data) >= 4 else []
        if code_hex:
            exact = self.by_code(code_hex)
            candidates = sorted(candidates, key=lambda c: c[0] is not exact)
        error = None
        for contract, entry in candidates:
            try:
                return DecodedCall(contract.name, str(entry["name"]), _decode_args(entry.get("inputs", []), data[4:]))
            except Exception as exc:  # eth_abi raises many kinds; the message is shown
                error = f"{type(exc).__name__}: {exc}"
        if candidates:
            contract, entry = candidates[0]
            return DecodedCall(contract.name, str(entry["name"]), (), error=error)
        return None

    def decode_deployment(self, init_code: bytes) -> DecodedCall | None:
        """Init code → the contract whose bytecode it starts with, and its constructor arguments."""
        code = init_code.hex()
        matches = [c for c in self.contracts if c.bytecode and code.startswith(c.bytecode)]
        if not matches:
            return None
        contract = max(matches, key=lambda c: len(c.bytecode))
        ctor = next((e for e in contract.abi if e.get("type") == "constructor"), {"inputs": []})
        rest = init_code[len(contract.bytecode) // 2:]
        try:
            return DecodedCall(contract.name, "constructor", _decode_args(ctor.get("inputs", []), rest))
        except Exception as exc:
            return DecodedCall(contract.name, "constructor", (), error=f"{type(exc).__name__}: {exc}")

    def decode_log(self, log: dict[str, Any]) -> DecodedLog:
        topics = tuple(str(t) for t in log.get("topics", []))
        data = str(log.get("data", "0x"))
        address = str(log.get("address", ""))
        if not topics:
            return DecodedLog(address, None, (), topics, data)
        for _contract, entry in self._events.get(bytes.fromhex(topics[0].removeprefix("0x")), []):
            try:
                return DecodedLog(address, str(entry["name"]), _decode_event(entry, topics[1:], data), topics, data)
            except Exception:  # try the next ABI with this topic
                continue
        return DecodedLog(address, None, (), topics, data)

    def decode_outputs(self, entry: dict[str, Any], data_hex: str) -> str:
        values = _decode_args(entry.get("outputs", []), bytes.fromhex(data_hex.removeprefix("0x")))
        return ", ".join(a.value for a in values)


def _decode_event(entry: dict[str, Any], topics: Sequence[str], data_hex: str) -> tuple[Arg, ...]:
    inputs = entry.get("inputs", [])
    indexed = [p for p in inputs if p.get("indexed")]
    plain = [p for p in inputs if not p.get("indexed")]
    if len(indexed) != len(topics):
        raise ValueError("topic count does not match the event")
    by_name: dict[int, Arg] = {}
    data_args = iter(_decode_args(plain, bytes.fromhex(data_hex.removeprefix("0x"))))
    topic_iter = iter(topics)
    for i, param in enumerate(inputs):
        name = str(param.get("name") or f"arg{i}")
        kind = canonical_type(param)
        if param.get("indexed"):
            topic = bytes.fromhex(next(topic_iter).removeprefix("0x"))
            dynamic = kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")
            shown = "0x" + topic.hex() if dynamic else format_value(eth_abi.decode([kind], topic)[0])
            by_name[i] = Arg(name, kind, shown)
        else:
            arg = next(data_args)
            by_name[i] = Arg(name, kind, arg.value)
    return tuple(by_name[i] for i in range(len(inputs)))


def _from_json(data: Any, fallback_name: str) -> ContractAbi | None:
    if not isinstance(data, dict) or not isinstance(data.get("abi"), list):
        return None
    bytecode = data.get("bytecode", "")
    if isinstance(bytecode, dict):  # hardhat/truffle-like {"object": ...}
        bytecode = bytecode.get("object", "")
    deployed = data.get("deployedBytecode", "")
    if isinstance(deployed, dict):
        deployed = deployed.get("object", "")
    return ContractAbi(str(data.get("contractName") or fallback_name),
                       tuple(e for e in data["abi"] if isinstance(e, dict)),
                       str(bytecode or "").removeprefix("0x").lower(),
                       str(deployed or "").removeprefix("0x").lower())


def load_artifacts(paths: Iterable[Path]) -> AbiRegistry:
    """Read every JSON artifact under `paths` (files or directories, walked); other JSON is skipped."""
    registry = AbiRegistry()
    for path in paths:
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        for file in files:
            try:
                contract = _from_json(json.loads(file.read_text()), file.stem)
            except (OSError, ValueError):
                continue
            if contract is not None:
                registry.add(contract)
    return registry
