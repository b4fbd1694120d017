"""The e2e suite's network: one 4-node LocalNetwork (real managers, real nodes) for the session.

Tests that stop or restart processes start their own network (test_outages.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.solc import Artifact, compile_paths
from tests.helpers.network import E2ENetwork, running_network

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def compiled_contracts() -> dict[str, Artifact]:
    """Only the engine's own test contracts (solidity/test), as the RPC integration tests do:
    this suite must not depend on the post-trade contracts other work is changing."""
    return compile_paths([REPO / "solidity" / "test"], base=REPO)


@pytest.fixture(scope="session")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    with running_network(tmp_path_factory.mktemp("e2e-network")) as network:
        yield network
