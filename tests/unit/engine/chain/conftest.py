"""Chain unit tests compile only the engine's own test contracts (solidity/test), not the
post-trade contracts other work is changing; same pinned compiler and cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.solc import Artifact, compile_paths

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="session")
def compiled_contracts() -> dict[str, Artifact]:
    return compile_paths([REPO / "solidity" / "test"], base=REPO)
