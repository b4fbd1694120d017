"""Start the explorer for a network directory: read network.json and the artifacts, run uvicorn."""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from devnet.explorer.abi import load_artifacts
from devnet.explorer.app import create_app
from devnet.solc import REPO_ROOT

DEFAULT_PORT = 8600


class ExplorerError(Exception):
    """The explorer cannot start (no network in the directory, an unreadable network.json)."""


def load_nodes(directory: Path) -> tuple[dict[str, str], object]:
    """Node name → JSON-RPC URL from DIR/network.json (read as a file: the explorer imports nothing of
    the launcher, which imports the node and the manager), and the chain id."""
    path = directory / "network.json"
    try:
        spec = json.loads(path.read_text())
        return {str(n["name"]): str(n["rpc_url"]) for n in spec["nodes"]}, spec.get("chain_id", "?")
    except FileNotFoundError:
        raise ExplorerError(f"no network in {directory} (run privnet up)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExplorerError(f"{path}: not a network.json: {type(exc).__name__}: {exc}") from None


def default_artifact_dirs() -> list[Path]:
    """The repo's build/ (where `privnet compile` writes build/contracts), if present."""
    build = REPO_ROOT / "build"
    return [build] if build.is_dir() else []


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(directory: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          artifact_dirs: Sequence[Path] | None = None) -> None:
    """Serve until interrupted. Raises ExplorerError when `directory` holds no network."""
    nodes, chain_id = load_nodes(directory)
    dirs = list(artifact_dirs) if artifact_dirs else default_artifact_dirs()
    registry = load_artifacts(dirs)
    app = create_app(nodes, registry, title=f"privnet explorer · chain {chain_id}",
                     allowed_hosts=("127.0.0.1", "localhost", "::1", host))
    if not _is_loopback(host):
        print(f"warning: serving on {host}: anyone who reaches it sees every node's private data",
              file=sys.stderr)
    print(f"explorer on http://{host}:{port}/ for {len(nodes)} nodes; {len(registry.contracts)} contract ABIs "
          f"from {', '.join(str(d) for d in dirs) or '(no artifacts)'}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
