"""Real py-evm chains on in-memory `AtomicDB`s, and signed transactions, for the chain unit tests."""

from __future__ import annotations

from typing import Any

import rlp
from eth.abc import BlockAPI, SignedTransactionAPI
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_utils import to_checksum_address

from engine.chain.builder import BuiltBlock, build_block
from engine.chain.genesis import DevAccount, GenesisSpec, derive_dev_accounts, dev_genesis
from engine.chain.txpool import AccountView
from engine.chain.vm import PrivnetTransactionBuilder, make_vm_class

CHAIN_ID = 1337
COINBASE = b"\x00" * 20
VM_CLASS = make_vm_class(None)
CHAIN_CLASS = Chain.configure(__name__="TestPrivnetChain", vm_configuration=((0, VM_CLASS),), chain_id=CHAIN_ID)
BLOCK_CLASS = VM_CLASS.get_block_class()
ACCOUNTS: list[DevAccount] = derive_dev_accounts("chain-unit-tests", 4)


def genesis_spec(gas_limit: int = 30_000_000, accounts: list[DevAccount] = ACCOUNTS) -> GenesisSpec:
    return dev_genesis(CHAIN_ID, gas_limit, accounts)


def new_chain(spec: GenesisSpec) -> Chain:
    return CHAIN_CLASS.from_genesis(AtomicDB(), spec.header_params(), spec.state())


def sign_raw(key: bytes, nonce: int, to: bytes | None = b"\x11" * 20, value: int = 0, gas: int = 21_000,
             gas_price: int | None = 0, chain_id: int | None = CHAIN_ID, data: bytes = b"",
             max_fee: int | None = None, tip: int | None = None) -> bytes:
    """A raw signed transaction: legacy (`gas_price`) or type 2 (`max_fee`/`tip`), as wallets send them."""
    fields: dict[str, Any] = {"nonce": nonce, "gas": gas, "value": value, "data": data}
    if to is not None:
        fields["to"] = to_checksum_address(to)
    if chain_id is not None:
        fields["chainId"] = chain_id
    if max_fee is not None:
        fields.update(maxFeePerGas=max_fee, maxPriorityFeePerGas=tip or 0, type=2)
    else:
        fields["gasPrice"] = gas_price
    return bytes(Account.sign_transaction(fields, key).raw_transaction)


def decode(raw: bytes) -> SignedTransactionAPI:
    return PrivnetTransactionBuilder.decode(raw)


def sign(key: bytes, nonce: int, **kwargs: Any) -> SignedTransactionAPI:
    return decode(sign_raw(key, nonce, **kwargs))


def head_reader(chain: Chain) -> Any:
    """The pool's `state_reader`, reading the chain's current head state."""

    def read(address: bytes) -> AccountView:
        state = chain.get_vm(chain.get_canonical_head()).state
        return AccountView(nonce=state.get_nonce(address), balance=state.get_balance(address))

    return read


def build_on_head(chain: Chain, txs: list[SignedTransactionAPI], timestamp: int | None = None) -> BuiltBlock:
    parent = chain.get_canonical_head()
    return build_block(chain, parent, txs, parent.timestamp if timestamp is None else timestamp, COINBASE)


def over_the_wire(block: BlockAPI) -> BlockAPI:
    """The block as another node receives it: RLP bytes decoded with the network's block sedes."""
    return rlp.decode(rlp.encode(block), sedes=BLOCK_CLASS)
