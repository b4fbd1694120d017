"""Genesis: the same bytes on every node, and the development accounts it funds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_keys import keys
from eth_utils import keccak, to_checksum_address

DEV_BALANCE = 10**6 * 10**18  # one million ether per development account
GENESIS_TIMESTAMP = 1_700_000_000
# What py-evm put in genesis headers before the spec carried a base fee (EIP-1559's initial
# 1 gwei, while every later block says 0). A genesis file without `baseFeePerGas` keeps it, so
# networks created then keep their genesis hash; new specs say 0, as GoQuorum's gas-free chain.
LEGACY_GENESIS_BASE_FEE = 10**9


@dataclass(frozen=True)
class DevAccount:
    address: bytes
    private_key: bytes

    @property
    def checksum_address(self) -> str:
        return to_checksum_address(self.address)

    def to_json(self) -> dict[str, str]:
        return {"address": self.checksum_address, "private_key": "0x" + self.private_key.hex()}


def derive_dev_accounts(seed: str, count: int, start: int = 0) -> list[DevAccount]:
    """Deterministic keys (keccak of seed and index): development only, never production."""
    accounts = []
    for index in range(start, start + count):
        secret = keccak(f"{seed}:dev-account:{index}".encode())
        accounts.append(DevAccount(keys.PrivateKey(secret).public_key.to_canonical_address(), secret))
    return accounts


@dataclass(frozen=True)
class GenesisSpec:
    chain_id: int
    gas_limit: int
    timestamp: int
    alloc: dict[bytes, int]  # address → balance in wei
    extra_data: bytes = b"privnet"
    base_fee_per_gas: int = 0
    # GoQuorum's `privacyPrecompileBlock`: privacy marker transactions from this block on (None: never).
    privacy_precompile_block: int | None = None

    def header_params(self) -> dict[str, Any]:
        return {
            "difficulty": 0,
            "gas_limit": self.gas_limit,
            "timestamp": self.timestamp,
            "extra_data": self.extra_data,
            "nonce": b"\x00" * 8,
            "base_fee_per_gas": self.base_fee_per_gas,
        }

    def state(self) -> dict[bytes, dict[str, Any]]:
        return {addr: {"balance": bal, "nonce": 0, "code": b"", "storage": {}} for addr, bal in self.alloc.items()}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "chainId": self.chain_id,
            "gasLimit": hex(self.gas_limit),
            "timestamp": hex(self.timestamp),
            "extraData": "0x" + self.extra_data.hex(),
            "baseFeePerGas": hex(self.base_fee_per_gas),
            "alloc": {to_checksum_address(a): {"balance": hex(b)} for a, b in sorted(self.alloc.items())},
        }
        if self.privacy_precompile_block is not None:
            data["privacyPrecompileBlock"] = self.privacy_precompile_block
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenesisSpec:
        return cls(
            chain_id=int(data["chainId"]),
            gas_limit=int(data["gasLimit"], 16),
            timestamp=int(data["timestamp"], 16),
            extra_data=bytes.fromhex(data.get("extraData", "0x")[2:]),
            base_fee_per_gas=int(data["baseFeePerGas"], 16) if "baseFeePerGas" in data else LEGACY_GENESIS_BASE_FEE,
            alloc={bytes.fromhex(a[2:]): int(v["balance"], 16) for a, v in data["alloc"].items()},
            privacy_precompile_block=_block_number(data.get("privacyPrecompileBlock"), "privacyPrecompileBlock"),
        )

    @classmethod
    def load(cls, path: Path) -> GenesisSpec:
        return cls.from_json(json.loads(path.read_text()))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def _block_number(value: object, name: str) -> int | None:
    """A fork block as GoQuorum's genesis config writes it (a JSON number; hex strings accepted)."""
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("0x"):
        value = int(value, 16)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"genesis {name} must be a block number, got {value!r}")
    return value


def dev_genesis(chain_id: int, gas_limit: int, accounts: list[DevAccount]) -> GenesisSpec:
    return GenesisSpec(chain_id=chain_id, gas_limit=gas_limit, timestamp=GENESIS_TIMESTAMP,
                       alloc={a.address: DEV_BALANCE for a in accounts})
