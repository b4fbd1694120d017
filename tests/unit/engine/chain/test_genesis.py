"""Genesis: one spec gives one hash on every node; a database keeps the genesis it was created with."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.chain.genesis import DEV_BALANCE, GenesisSpec, derive_dev_accounts, dev_genesis
from engine.chain.node import Node
from engine.config import NodeSettings
from engine.errors import ChainHalted


def open_node(data_dir: Path, **settings) -> Node:
    return Node.open(NodeSettings(data_dir=data_dir, chain_id=1337, **settings))


def genesis_hash(node: Node) -> bytes:
    try:
        block = node.get_block(0, False)
        assert block is not None
        return block.hash
    finally:
        node.stop()


def test_dev_accounts_are_deterministic_and_funded():
    first, again = derive_dev_accounts("seed", 3), derive_dev_accounts("seed", 3)
    assert first == again
    assert len({a.address for a in first}) == 3
    assert derive_dev_accounts("seed", 1, start=2) == first[2:]
    assert derive_dev_accounts("other", 1)[0] != first[0]
    spec = dev_genesis(1337, 30_000_000, first)
    assert spec.alloc == {a.address: DEV_BALANCE for a in first}


def test_same_spec_gives_the_same_genesis_hash_on_two_nodes(tmp_path: Path):
    one = genesis_hash(open_node(tmp_path / "one"))
    two = genesis_hash(open_node(tmp_path / "two"))
    assert one == two
    other_seed = genesis_hash(open_node(tmp_path / "three", dev_account_seed="another seed"))
    assert other_seed != one


def test_genesis_file_round_trip_gives_the_same_hash(tmp_path: Path):
    spec = dev_genesis(1337, 100_000_000, derive_dev_accounts("privnet", 10))
    path = tmp_path / "genesis.json"
    spec.write(path)
    assert GenesisSpec.load(path) == spec
    from_file = genesis_hash(open_node(tmp_path / "file", genesis_file=path))
    built_in = genesis_hash(open_node(tmp_path / "dev"))  # default seed "privnet", 10 accounts
    assert from_file == built_in


def test_genesis_file_with_another_chain_id_is_refused(tmp_path: Path):
    path = tmp_path / "genesis.json"
    dev_genesis(1338, 100_000_000, derive_dev_accounts("privnet", 1)).write(path)
    with pytest.raises(ValueError, match="genesis chain id 1338 differs from settings 1337"):
        open_node(tmp_path / "node", genesis_file=path)


def test_database_created_with_one_genesis_refuses_another(tmp_path: Path):
    data_dir = tmp_path / "node"
    created = genesis_hash(open_node(data_dir, dev_account_seed="first"))
    with pytest.raises(ChainHalted, match="the database was created with another genesis"):
        open_node(data_dir, dev_account_seed="second")
    with pytest.raises(ChainHalted, match="another genesis"):
        open_node(data_dir, dev_account_seed="first", block_gas_limit=50_000_000)
    assert genesis_hash(open_node(data_dir, dev_account_seed="first")) == created  # the right one still opens
