"""Every module of the package declares its public names, and they exist."""

from __future__ import annotations

import importlib
import importlib.resources
import pkgutil

import pytest

import tessera_like

MODULES = sorted(m.name for m in pkgutil.walk_packages(tessera_like.__path__, "tessera_like.")
                 if not m.ispkg and m.name != "tessera_like.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_module_exports_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"


def test_package_metadata() -> None:
    assert tessera_like.__version__ == "0.1.0"
    assert "2.1" in tessera_like.API_VERSIONS
    assert importlib.resources.files("tessera_like").joinpath("py.typed").is_file()
