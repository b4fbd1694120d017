"""`privnet up` is secure by default, seen from outside a running network: P2P only over mutual TLS
with a member's certificate, Q2T only on an owner-only unix socket (no TCP port), manager keys
encrypted, and the network's files readable by their owner only, even when started with umask 0.
`--insecure-p2p --dev-keys` is the explicit, recorded, warned-about way back to plain HTTP and
unencrypted keys."""

from __future__ import annotations

import json
import os
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devnet.q2t import q2t_request, socket_path
from tests.helpers.network import listening_sockets, privnet

pytestmark = pytest.mark.e2e


def up(directory: Path, *args: str) -> dict[str, Any]:
    done = privnet(directory, "up", "--detach", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    spec: dict[str, Any] = json.loads((directory / "network.json").read_text())
    spec["_stderr"] = done.stderr
    return spec


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A 2-node network from `privnet up` with no security flag, started under umask 0."""
    directory = tmp_path_factory.mktemp("secure")
    old = os.umask(0)
    try:
        spec = up(directory, "--nodes", "2")
    finally:
        os.umask(old)
    try:
        yield directory, spec
    finally:
        privnet(directory, "down")


def member_context(spec: dict[str, Any], node: dict[str, Any] | None) -> ssl.SSLContext:
    """Trusts the network's CA; presents `node`'s manager certificate (None: no client certificate)."""
    context = ssl.create_default_context(cafile=spec["ca_file"])
    if node is not None:
        folder = Path(node["manager_config"]).parent
        context.load_cert_chain(str(folder / "tls.crt"), str(folder / "tls.key"))
    return context


def test_p2p_needs_tls_and_a_member_certificate(secure: tuple[Path, dict[str, Any]]) -> None:
    _, spec = secure
    node1, node2 = spec["nodes"]
    url = node2["ptm_p2p_url"]
    assert url.startswith("https://") and spec["p2p_tls"] is True
    with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port
        httpx.get(url.replace("https://", "http://") + "/upcheck", timeout=5)
    with pytest.raises(httpx.HTTPError):  # TLS, the right CA, but no client certificate
        httpx.get(url + "/upcheck", verify=member_context(spec, None), timeout=5)
    answer = httpx.get(url + "/upcheck", verify=member_context(spec, node1), timeout=5)
    assert answer.status_code == 200


def test_q2t_is_an_owner_only_socket_and_no_tcp_port(secure: tuple[Path, dict[str, Any]]) -> None:
    directory, spec = secure
    pids = json.loads((directory / "pids.json").read_text())
    for node in spec["nodes"]:
        path = Path(socket_path(node["ptm_q2t_url"]) or "")
        assert path.is_absolute() and stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert q2t_request(node["ptm_q2t_url"], "GET", "/upcheck", timeout=5).status_code == 200
        # the manager process listens on TCP for P2P only (other tests' networks may share its address)
        p2p = urlsplit(node["ptm_p2p_url"])
        assert listening_sockets(pid=pids[f"{node['name']}-manager"]) == {(p2p.hostname, p2p.port)}


def test_keys_are_encrypted_with_an_owner_only_password(secure: tuple[Path, dict[str, Any]]) -> None:
    _, spec = secure
    assert spec["dev_keys"] is False
    passwords = set()
    for node in spec["nodes"]:
        folder = Path(node["manager_config"]).parent
        assert json.loads((folder / "key.key").read_text())["type"] == "scrypt-aes256gcm"
        passwords.add((folder / "password").read_text())
    assert len(passwords) == len(spec["nodes"])  # one random password per manager


def test_files_and_directories_are_owner_only(secure: tuple[Path, dict[str, Any]]) -> None:
    directory, _ = secure
    named = [directory / "network.json", directory / "pids.json", directory / "ca" / "ca.key",
             directory / "nodes" / "node1" / "accounts.json", directory / "managers" / "node1" / "key.key",
             directory / "managers" / "node1" / "password", directory / "managers" / "node1" / "tls.key"]
    assert all(p.exists() for p in named)
    for path in [directory, *directory.rglob("*")]:  # what the running processes wrote too
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


def test_a_restarted_manager_keeps_tls(secure: tuple[Path, dict[str, Any]]) -> None:
    directory, spec = secure
    done = privnet(directory, "restart", "node2-manager")
    assert done.returncode == 0, done.stdout + done.stderr
    node1, node2 = spec["nodes"]
    answer = httpx.get(node2["ptm_p2p_url"] + "/upcheck", verify=member_context(spec, node1), timeout=5)
    assert answer.status_code == 200
    done = privnet(directory, "up", "--insecure-p2p", "--detach")
    assert done.returncode == 1 and "over mutual TLS; use that or a new --dir" in done.stderr


def test_insecure_p2p_and_dev_keys_are_explicit_and_kept(tmp_path: Path) -> None:
    spec = up(tmp_path, "--nodes", "1", "--insecure-p2p", "--dev-keys")
    try:
        assert "warning: managers talk P2P over plain HTTP" in spec["_stderr"]
        assert "warning: manager keys are stored unencrypted" in spec["_stderr"]
        assert (spec["p2p_tls"], spec["dev_keys"]) == (False, True)
        (node,) = spec["nodes"]
        folder = Path(node["manager_config"]).parent
        assert json.loads((folder / "key.key").read_text())["type"] == "unlocked"
        assert not (folder / "password").exists()
        done = privnet(tmp_path, "restart", "node1-manager")
        assert done.returncode == 0, done.stdout + done.stderr
        assert httpx.get(node["ptm_p2p_url"] + "/upcheck", timeout=5).status_code == 200  # still plain HTTP
        assert node["ptm_q2t_url"].startswith("unix://")  # Q2T stays on its socket either way
    finally:
        privnet(tmp_path, "down")
