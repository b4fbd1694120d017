"""The `privnet` pytest plugin (entry point `pytest11`): a private-transaction network per test session,
each test isolated by a snapshot of every node and manager taken before it and reverted after it.

Loaded into every pytest run of an environment where privnet is installed, so it must cost nothing
where it is not used: this module imports only pytest; the network, web3 and the launcher are
imported, and processes started, only when a test (or a fixture it uses) asks for `privnet`.
docs/testing.md is the user's guide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from devnet.pytest_network import PrivnetNetwork

NO_ISOLATION = "privnet_no_isolation"
FIXTURE = "privnet"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("privnet", "private-contract test network (privnet)")
    group.addoption("--privnet-dir", metavar="DIR", type=Path, default=None,
                    help="use the network already running from DIR (`privnet up --dir DIR`) instead of starting one")
    group.addoption("--privnet-nodes", metavar="N", type=int, default=4,
                    help="nodes of the network the session starts (default 4; ignored with --privnet-dir)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{NO_ISOLATION}: the test's changes to the privnet network are not "
                                       "reverted after it (no snapshot/revert around it)")


@pytest.fixture(scope="session")
def privnet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivnetNetwork]:
    """The session's network: started in a temporary directory (local ordering, `privnet up`'s
    defaults) and stopped at the end, or the one running from `--privnet-dir` (left running)."""
    from devnet.pytest_session import attached_network, started_network

    directory: Path | None = request.config.getoption("--privnet-dir")
    if directory is not None:
        yield attached_network(directory)
        return
    with started_network(tmp_path_factory.mktemp("privnet"), request.config.getoption("--privnet-nodes")) as net:
        yield net


@pytest.fixture(autouse=True)
def _privnet_isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    """Snapshot before, revert after, each test that uses `privnet` (directly or through a fixture)
    and is not marked `privnet_no_isolation`; nothing at all for any other test."""
    if FIXTURE not in request.fixturenames or request.node.get_closest_marker(NO_ISOLATION) is not None:
        yield
        return
    net: PrivnetNetwork = request.getfixturevalue(FIXTURE)
    snapshot = net.snapshot()
    yield
    net.revert(snapshot)
