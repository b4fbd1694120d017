"""What `privnet up` writes before it starts anything (devnet.network.init_network): the secure
defaults, the explicit dev flags recorded in network.json, owner-only modes whatever the umask,
and the unix-socket path limit."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.network import MAX_SOCKET_PATH, NetworkError, init_network
from tests.helpers.file_modes import umask


@pytest.fixture
def wide_umask() -> Iterator[None]:
    with umask(0):
        yield


def key_type(node: dict[str, object]) -> str:
    key_file = Path(str(node["manager_config"])).parent / "key.key"
    return str(json.loads(key_file.read_text())["type"])


def test_defaults_tls_socket_and_encrypted_keys(tmp_path: Path) -> None:
    spec = init_network(tmp_path / "net", nodes=2)
    assert (spec["p2p_tls"], spec["dev_keys"]) == (True, False)
    assert spec["ca_file"] == str((tmp_path / "net" / "ca" / "ca.crt").resolve())
    for node in spec["nodes"]:
        assert node["ptm_p2p_url"].startswith("https://127.0.0.10")
        assert node["ptm_q2t_url"] == f"unix://{Path(node['manager_config']).parent / 'tm.ipc'}"
        assert key_type(node) == "scrypt-aes256gcm"
        manager = tomllib.loads(Path(node["manager_config"]).read_text())
        assert manager["tls"]["client_auth"] and manager["use_peer_allow_list"]
        assert manager["keys"][0]["password_file"] == "password"
        assert tomllib.loads(Path(node["node_config"]).read_text())["privacy"]["q2t_url"] == node["ptm_q2t_url"]


def test_dev_flags_are_explicit_recorded_and_kept(tmp_path: Path) -> None:
    spec = init_network(tmp_path, nodes=1, insecure_p2p=True, dev_keys=True)
    assert (spec["p2p_tls"], spec["dev_keys"]) == (False, True) and "ca_file" not in spec
    (node,) = spec["nodes"]
    assert node["ptm_p2p_url"].startswith("http://") and key_type(node) == "unlocked"
    assert not (Path(node["manager_config"]).parent / "password").exists() and not (tmp_path / "ca").exists()
    assert init_network(tmp_path) == spec  # flags left out: the directory keeps its own
    with pytest.raises(NetworkError, match="plain HTTP"):
        init_network(tmp_path, insecure_p2p=False)


def test_a_secure_network_refuses_the_dev_flags_later(tmp_path: Path) -> None:
    init_network(tmp_path, nodes=1)
    with pytest.raises(NetworkError, match="mutual TLS; use that or a new --dir"):
        init_network(tmp_path, insecure_p2p=True)
    with pytest.raises(NetworkError, match="password-protected; use that or a new --dir"):
        init_network(tmp_path, dev_keys=True)


@pytest.mark.parametrize("flags", [{}, {"insecure_p2p": True, "dev_keys": True}])
def test_everything_is_owner_only_whatever_the_umask(tmp_path: Path, wide_umask: None,
                                                     flags: dict[str, bool]) -> None:
    init_network(tmp_path / "net", nodes=2, **flags)
    paths = [tmp_path / "net", *(tmp_path / "net").rglob("*")]
    assert {str(p.relative_to(tmp_path)) for p in paths} >= {"net/network.json", "net/nodes/node1/accounts.json",
                                                          "net/managers/node2/key.key", "net/managers/node1"}
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


def test_an_existing_network_is_tightened(tmp_path: Path) -> None:
    spec = init_network(tmp_path, nodes=1)
    (tmp_path / "network.json").chmod(0o644)
    (tmp_path / "nodes").chmod(0o755)
    init_network(tmp_path)
    assert stat.S_IMODE((tmp_path / "network.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "nodes").stat().st_mode) == 0o700
    assert spec["nodes"][0]["accounts"]


def test_a_directory_too_deep_for_the_q2t_socket_is_refused_before_writing(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * max(1, MAX_SOCKET_PATH - len(str(tmp_path)) - 20))
    with pytest.raises(NetworkError, match=f"over the {MAX_SOCKET_PATH}-byte limit of unix sockets; "
                                           "use a shorter --dir"):
        init_network(deep, nodes=1)
    assert not deep.exists()
