"""The public workload: presigned EIP-1559 transactions (fees 0) for the node's dev genesis.

One deployment of SimpleStorage (solidity/test/Storage.sol), then N value transfers, then
N calls of `add(1)` (two storage writes each), spread round-robin over the node's dev
accounts. The same raw bytes feed the raw py-evm import (part A a) and the JSON-RPC server
(part A b), so both execute exactly the same transactions on the same genesis.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from eth._utils.address import generate_contract_address
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from bench.common import REPO
from engine.chain.genesis import DevAccount, GenesisSpec, derive_dev_accounts, dev_genesis
from engine.config import NodeSettings

TRANSFER_GAS = 21_000
CALL_GAS = 100_000
DEPLOY_GAS = 1_000_000
INITIAL_VALUE = 7
TRANSFER_RECIPIENTS = 256  # fresh addresses the transfers pay, round-robin


@cache
def simple_storage() -> Any:
    """The compiled SimpleStorage artifact (solc-js; cached under build/solc-cache)."""
    from devnet.solc import compile_paths

    return compile_paths([REPO / "solidity" / "test" / "Storage.sol"], base=REPO)["SimpleStorage"]


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def add_calldata(delta: int = 1) -> bytes:
    return selector("add(uint256)") + delta.to_bytes(32, "big")


def deploy_data(initial: int = INITIAL_VALUE) -> bytes:
    return bytes.fromhex(simple_storage().bytecode[2:]) + initial.to_bytes(32, "big")


@dataclass(frozen=True)
class DevChain:
    """The genesis and accounts a node with default settings starts from."""

    chain_id: int
    gas_limit: int
    max_txs_per_block: int
    seed: str
    accounts: tuple[DevAccount, ...]

    @property
    def genesis(self) -> GenesisSpec:
        return dev_genesis(self.chain_id, self.gas_limit, list(self.accounts))


def default_dev_chain() -> DevChain:
    fields = NodeSettings.model_fields  # the declared defaults: no environment, no files
    chain_id = int(fields["chain_id"].default)
    gas_limit = int(fields["block_gas_limit"].default)
    count = int(fields["dev_accounts"].default)
    seed = str(fields["dev_account_seed"].default)
    return DevChain(
        chain_id, gas_limit, int(fields["max_txs_per_block"].default), seed, tuple(derive_dev_accounts(seed, count))
    )


@dataclass
class PublicWorkload:
    deploy: bytes
    contract: bytes
    transfers: list[bytes]
    calls: list[bytes]
    senders: tuple[bytes, ...]


def _sign(fields: dict[str, Any], key: bytes) -> bytes:
    return bytes(Account.sign_transaction(fields, key).raw_transaction)


def build_public_workload(chain: DevChain, n_transfers: int, n_calls: int) -> PublicWorkload:
    accounts = chain.accounts
    nonces = [0] * len(accounts)
    base = {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2, "chainId": chain.chain_id}

    deployer = accounts[0]
    deploy = _sign({**base, "nonce": 0, "gas": DEPLOY_GAS, "value": 0, "data": deploy_data()}, deployer.private_key)
    contract = generate_contract_address(deployer.address, 0)
    nonces[0] = 1

    recipients = [to_checksum_address(keccak(f"bench-recipient-{i}".encode())[12:]) for i in range(TRANSFER_RECIPIENTS)]
    transfers = []
    for i in range(n_transfers):
        k = i % len(accounts)
        transfers.append(
            _sign(
                {
                    **base,
                    "nonce": nonces[k],
                    "gas": TRANSFER_GAS,
                    "value": 1,
                    "to": recipients[i % len(recipients)],
                    "data": b"",
                },
                accounts[k].private_key,
            )
        )
        nonces[k] += 1
    to = to_checksum_address(contract)
    data = add_calldata(1)
    calls = []
    for i in range(n_calls):
        k = i % len(accounts)
        calls.append(
            _sign(
                {**base, "nonce": nonces[k], "gas": CALL_GAS, "value": 0, "to": to, "data": data},
                accounts[k].private_key,
            )
        )
        nonces[k] += 1
    return PublicWorkload(deploy, contract, transfers, calls, tuple(a.address for a in accounts))
