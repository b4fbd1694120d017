"""Fixtures of the example: the compiled contract, the two counterparties' keys, and the contract
deployed once for the whole session (before any test's snapshot, so every test finds it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


@pytest.fixture(scope="session")
def artifact(privnet):
    return privnet.compile(CONTRACTS)["TradeConfirmation"]


@pytest.fixture(scope="session")
def buyer_node(privnet):
    return privnet.nodes[0]


@pytest.fixture(scope="session")
def seller_node(privnet):
    return privnet.nodes[1]


@pytest.fixture(scope="session")
def buyer() -> LocalAccount:
    """The buyer's key, held by the test only: its node never learns it (raw-signed transactions)."""
    return Account.create()


@pytest.fixture(scope="session")
def seller() -> LocalAccount:
    return Account.create()


@pytest.fixture(scope="session")
def trade(privnet, artifact, buyer_node, seller_node, buyer, seller) -> Contract:
    """The confirmation contract between the buyer's and the seller's nodes, bound to the buyer's node."""
    return privnet.deploy_private(artifact, buyer.address, seller.address,
                                  sender=buyer_node, private_for=[seller_node])
