"""Shared fixtures: compiled contracts (cached by the solc wrapper), free ports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devnet.solc import Artifact, compile_paths

REPO = Path(__file__).resolve().parent.parent


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
