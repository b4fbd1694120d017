"""The e2e suite's network: a 4-node LocalNetwork (real managers, real nodes) per ordering service.

Tests that stop or restart processes start their own network (test_outages.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.solc import Artifact, compile_paths
from tests.helpers.network import E2ENetwork, running_network
from tests.helpers.postrade_world import World, running_world

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def compiled_contracts() -> dict[str, Artifact]:
    """Only the engine's own test contracts (solidity/test), as the RPC integration tests do:
    this suite must not depend on the post-trade contracts other work is changing."""
    return compile_paths([REPO / "solidity" / "test"], base=REPO)


@pytest.fixture(scope="session", params=["local", "etcd"])
def net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    """The privacy suite runs once per ordering service: `local` (one machine) and `etcd` (a local
    3-member cluster started by the launcher, as `privnet up --ordering etcd` does)."""
    with running_network(tmp_path_factory.mktemp(f"e2e-network-{request.param}"), request.param) as network:
        yield network


@pytest.fixture(scope="session")
def postrade_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The post-trade network with the demo's day run once, shared by every post-trade e2e module."""
    with running_world(tmp_path_factory.mktemp("postrade-network")) as world:
        yield world
