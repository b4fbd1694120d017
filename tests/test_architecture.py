"""The import rules of docs/architecture.md hold themselves: import-linter's contracts in pyproject.toml.

The second test plants a forbidden import in a copy of the packages and checks that the
same contracts catch it, so a broken configuration cannot pass silently.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "tessera_like", "postrade", "devnet", "privnet_client")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    script = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    command = [sys.executable, "-c", script, "--no-cache", "--config", str(REPO / "pyproject.toml")]
    environment = {"PYTHONPATH": str(cwd), "PATH": "", "COLUMNS": "200"}  # wide: no wrapped contract names
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def test_every_import_contract_is_kept():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "Contracts: 8 kept, 0 broken." in result.stdout


def test_a_planted_forbidden_import_breaks_the_contracts(tmp_path: Path):
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "engine" / "chain" / "marker.py"
    marker.write_text(marker.read_text() + "\nfrom engine.privacy import service  # planted\n")
    manager = tmp_path / "tessera_like" / "manager.py"
    manager.write_text(manager.read_text() + "\nimport engine.types  # planted\n")
    client = tmp_path / "privnet_client" / "errors.py"
    client.write_text(client.read_text() + "\nimport engine.errors  # planted\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "engine.chain imports neither engine.privacy nor engine.rpc BROKEN" in result.stdout
    assert "engine.chain.marker -> engine.privacy.service" in result.stdout
    assert "tessera_like.manager -> engine.types" in result.stdout
    assert "privnet_client talks to nodes over JSON-RPC only (web3, eth_account, eth_utils) BROKEN" in result.stdout
    assert "privnet_client.errors -> engine.errors" in result.stdout
