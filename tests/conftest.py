"""Shared fixtures: compiled contracts (cached by the solc wrapper), free ports; how `make test`
splits the suite between its pytest-xdist workers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from devnet.solc import Artifact, compile_paths
from tests.helpers import worker_groups

REPO = Path(__file__).resolve().parent.parent
#: the contract sets most of the suite compiles: the engine's test contracts, and the whole tree
#: (the post-trade clients and unit harness); each takes solc-js seconds to tens of seconds cold
WARM_UP_SETS = ([REPO / "solidity" / "test"], [REPO / "solidity"])


def pytest_configure(config: pytest.Config) -> None:
    worker_groups.configure(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    worker_groups.record(config, items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """On a fresh checkout (no solc cache) compile the common contract sets on a thread of their own
    while the first tests run, when the session needs them (e2e or post-trade tests): the tests'
    own compile then waits for the cache (devnet/solc.py locks per input) instead of starting cold."""
    if any("/e2e/" in item.nodeid or "postrade" in item.nodeid for item in session.items):
        threading.Thread(target=_warm_solc_cache, name="solc-warm-up", daemon=True).start()


def _warm_solc_cache() -> None:
    for paths in WARM_UP_SETS:
        try:
            compile_paths(paths, base=REPO)
        except Exception:  # noqa: BLE001 - the fixture that needs the set compiles it again and reports
            return


@pytest.fixture(scope="session")
def compiled_contracts() -> dict[str, Artifact]:
    """Every contract under solidity/, compiled once per session by the pinned solc-js."""
    return compile_paths([REPO / "solidity"], base=REPO)


@pytest.fixture(scope="session")
def contract(compiled_contracts: dict[str, Artifact]) -> Callable[[str], Artifact]:
    """`contract("SimpleStorage")` → its artifact (abi, bytecode, deployedBytecode)."""

    def get(name: str) -> Artifact:
        try:
            return compiled_contracts[name]
        except KeyError:
            raise KeyError(f"no contract {name!r}; have {sorted(compiled_contracts)}") from None

    return get
