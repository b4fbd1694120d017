"""load_settings: node.toml with paths relative to its folder, PRIVNET_ environment overrides,
and a ConfigError that names the field for every invalid value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config import ConfigError, NodeSettings, load_settings

NODE_TOML = """
name = "node7"
data_dir = "data"
chain_id = 4242
genesis_file = "../shared/genesis.json"
unlocked_keys_file = "/abs/keys.json"
max_txs_per_block = 50

[rpc]
host = "127.0.0.1"
port = 9000

[ordering]
kind = "local"
path = "ordering/blocks.sqlite"
poll_interval_ms = 20

[privacy]
enabled = true
q2t_url = "http://127.0.0.1:9101"
"""


@pytest.fixture(autouse=True)
def no_privnet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: start every test without PRIVNET_ variables."""
    for name in os.environ:
        if name.startswith("PRIVNET_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "conf"
    folder.mkdir(exist_ok=True)
    path = folder / "node.toml"
    path.write_text(text)
    return path


def test_relative_paths_resolve_against_the_file_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write(tmp_path, NODE_TOML)
    monkeypatch.chdir(tmp_path)  # not the file's folder
    settings = load_settings(path)
    folder = path.resolve().parent
    assert settings.name == "node7" and settings.chain_id == 4242 and settings.max_txs_per_block == 50
    assert settings.data_dir == folder / "data"
    assert settings.genesis_file == folder / "../shared/genesis.json"
    assert settings.unlocked_keys_file == Path("/abs/keys.json")
    assert settings.ordering.path == folder / "ordering/blocks.sqlite"
    assert settings.ordering_path() == folder / "ordering/blocks.sqlite"
    assert settings.ordering.poll_interval_ms == 20
    assert (settings.rpc.host, settings.rpc.port) == ("127.0.0.1", 9000)
    assert settings.privacy.enabled and settings.privacy.q2t_url == "http://127.0.0.1:9101"


def test_defaults_without_a_file():
    settings = load_settings()
    assert settings.chain_id == 1337 and settings.rpc.port == 8545 and settings.ordering.kind == "local"
    assert settings.ordering_path() == settings.data_dir / "ordering.sqlite"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PRIVNET_RPC__PORT", "9100")
    monkeypatch.setenv("PRIVNET_CHAIN_ID", "777")
    monkeypatch.setenv("PRIVNET_ORDERING__POLL_INTERVAL_MS", "7")
    monkeypatch.setenv("PRIVNET_SOLC_DIR", "/elsewhere")  # another tool's variable: not a setting, ignored
    settings = load_settings(write(tmp_path, NODE_TOML))
    assert settings.rpc.port == 9100
    assert settings.rpc.host == "127.0.0.1"  # the rest of [rpc] still comes from the file
    assert settings.chain_id == 777
    assert settings.ordering.poll_interval_ms == 7
    assert settings.ordering.path == tmp_path.resolve() / "conf" / "ordering/blocks.sqlite"
    assert settings.max_txs_per_block == 50


def test_keyword_overrides_win_over_the_file(tmp_path: Path):
    settings = load_settings(write(tmp_path, NODE_TOML), max_txs_per_block=3)
    assert settings.max_txs_per_block == 3


@pytest.mark.parametrize(
    ("toml", "env", "field"),
    [
        ("max_txs_per_block = 0", {}, "max_txs_per_block"),
        ("chain_id = -5", {}, "chain_id"),
        ("block_gas_limit = 4999", {}, "block_gas_limit"),
        ('max_block_time_ms = "soon"', {}, "max_block_time_ms"),
        ("[rpc]\nport = 70000", {}, "rpc.port"),
        ('[ordering]\nkind = "zookeeper"', {}, "ordering.kind"),
        ("[privacy]\nretries = -1", {}, "privacy.retries"),
        ('[privacy]\nq2t_url = "127.0.0.1:9101"', {}, "privacy.q2t_url"),
        ('[privacy]\nq2t_url = "ftp://127.0.0.1:9101"', {}, "privacy.q2t_url"),
        ("", {"PRIVNET_RPC__PORT": "not-a-port"}, "rpc.port"),
        ("", {"PRIVNET_TXPOOL_MAX_SIZE": "0"}, "txpool_max_size"),
        ("colour = 'blue'", {}, "colour"),
        ("[rpc]\nprot = 9000", {}, "rpc.prot"),
        ("[ordering]\npoll_interval = 5", {}, "ordering.poll_interval"),
        ('[ordering]\nkind = "etcd"', {}, "ordering.etcd_endpoints"),
        ('[ordering]\nkind = "etcd"\netcd_endpoints = ["127.0.0.1:2379"]', {}, "ordering.etcd_endpoints"),
        ("[ordering]\nlease_ttl_s = 0", {}, "ordering.lease_ttl_s"),
        ("[ordering]\nrequest_timeout_s = 0", {}, "ordering.request_timeout_s"),
        ("", {"PRIVNET_ORDERING__KIND": "etcd"}, "ordering.etcd_endpoints"),
    ],
)
def test_invalid_value_gives_a_config_error_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             toml: str, env: dict[str, str], field: str):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"invalid node settings: (.*; )?{field}: "):
        load_settings(write(tmp_path, toml))


def test_chain_id_1_is_rejected(tmp_path: Path):
    with pytest.raises(ConfigError, match="chain_id: .*chain id 1 is reserved"):
        load_settings(write(tmp_path, "chain_id = 1"))
    with pytest.raises(ValueError, match="chain id 1 is reserved"):
        NodeSettings(chain_id=1)


def test_missing_file_and_bad_toml(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(write(tmp_path, "chain_id = = 3"))


def test_etcd_ordering_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PRIVNET_ORDERING__LEASE_TTL_S", "5")
    settings = load_settings(write(tmp_path, '[ordering]\nkind = "etcd"\n'
                                   'etcd_endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]\n'))
    assert settings.ordering.kind == "etcd"
    assert settings.ordering.etcd_endpoints == ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
    assert (settings.ordering.lease_ttl_s, settings.ordering.request_timeout_s) == (5, 3.0)
    monkeypatch.delenv("PRIVNET_ORDERING__LEASE_TTL_S")
    assert load_settings().ordering.lease_ttl_s == 2  # defaults: a 2 s lease, 3 s per request
