"""Every module of the package declares its public names, they exist, and the layering holds."""

from __future__ import annotations

import ast
import importlib
import importlib.resources
import importlib.util
import pkgutil

import pytest

import tessera_like

_FOUND = list(pkgutil.walk_packages(tessera_like.__path__, "tessera_like."))
MODULES = sorted(m.name for m in _FOUND if not m.ispkg and m.name != "tessera_like.__main__")
ALL_MODULES = sorted(["tessera_like", *(m.name for m in _FOUND)])

#: The public surfaces the cleanup settled; a change here is an API change for the package's users.
SURFACES = {
    "tessera_like.crypto.envelope": ["CONTENT_KEY_SIZE", "NONCE_SIZE", "X25519Encryptor"],
    "tessera_like.crypto.keys": ["InMemoryKeyStore", "decode_key", "encode_key"],
    "tessera_like.crypto.proofs": ["PROOF_INFO", "check_ownership_proof", "make_ownership_proof"],
    "tessera_like.sealing": ["box_aad", "build_payload", "decrypt", "encrypt", "open_content_key", "open_raw",
                             "seal_raw", "security_hash", "verify_openable"],
    "tessera_like.partyinfo": ["MAX_CHALLENGE_SIZE", "MAX_PEERS", "MIN_CHALLENGE_SIZE", "Challenge", "KeyClaim",
                               "PartyInfo", "PartyView", "PeerState"],
    "tessera_like.peer_client": ["HttpPeerClient"],
    "tessera_like.peers": ["PeerNetwork"],
}

#: What `tessera_like.crypto` must stay independent of: it works on keys and bytes only.
NOT_FOR_CRYPTO = ("tessera_like.api", "tessera_like.store", "tessera_like.payload", "tessera_like.peers",
                  "tessera_like.manager")


def imports_of(name: str) -> set[str]:
    """Every module `name` imports anywhere in its source (TYPE_CHECKING blocks included)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name} uses a relative import"
            assert node.module is not None
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in ALL_MODULES)
    return found


@pytest.mark.parametrize("name", MODULES)
def test_module_exports_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_public_surfaces(name: str) -> None:
    assert sorted(importlib.import_module(name).__all__) == sorted(SURFACES[name])


def test_crypto_imports_no_payload_store_api_peers_or_manager() -> None:
    for name in (m for m in ALL_MODULES if m.startswith("tessera_like.crypto")):
        bad = sorted(i for i in imports_of(name) if i.startswith(NOT_FOR_CRYPTO))
        assert not bad, f"{name} imports {bad}"


def test_the_manager_does_not_depend_on_the_node() -> None:
    for name in ALL_MODULES:
        bad = sorted(i for i in imports_of(name) if i == "engine" or i.startswith("engine."))
        assert not bad, f"{name} imports {bad}"


def test_no_import_cycles() -> None:
    graph = {name: {i for i in imports_of(name) if i in ALL_MODULES and i != name} for name in ALL_MODULES}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(name):] + [name]))
        if name in done:
            return
        for child in sorted(graph[name]):
            visit(child, [*path, name])
        done.add(name)

    for name in ALL_MODULES:
        visit(name, [])


def test_package_metadata() -> None:
    assert tessera_like.__version__ == "0.1.0"
    assert "2.1" in tessera_like.API_VERSIONS
    assert importlib.resources.files("tessera_like").joinpath("py.typed").is_file()
