"""manager.toml + TESSERA_LIKE_* env: typed, validated at load, errors name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.managers import create_dev_network, dump_toml
from tessera_like.config import ManagerSettings, is_loopback_host, load_settings
from tessera_like.errors import ConfigError
from tessera_like.runtime import build_manager, load_keys

KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manager.toml"
    path.write_text(text)
    return path


BASE = """
q2t_port = 9101
p2p_port = 9001
peers = ["http://127.0.0.1:9002/"]

[[keys]]
public_key_file = "keys/a.pub"
private_key_file = "keys/a.key"
password_file = "keys/a.password"
"""


def test_loads_file_and_resolves_paths_against_it(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE))
    assert settings.q2t_port == 9101 and settings.peers == ["http://127.0.0.1:9002"]
    assert settings.keys[0].private_key_file == tmp_path / "keys/a.key"
    assert settings.keys[0].password_file == tmp_path / "keys/a.password"
    assert settings.db_url == f"sqlite:///{tmp_path / 'tessera_like.db'}"
    assert settings.max_payload_bytes == 10 * 1024 * 1024
    assert settings.advertised_p2p_url == "http://127.0.0.1:9001"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_LIKE_Q2T_PORT", "9555")
    monkeypatch.setenv("TESSERA_LIKE_PEERS", '["https://peer.example:9000"]')
    monkeypatch.setenv("TESSERA_LIKE_MAX_PAYLOAD_BYTES", "2048")
    settings = load_settings(write(tmp_path, BASE))
    assert settings.q2t_port == 9555
    assert settings.peers == ["https://peer.example:9000"]
    assert settings.max_payload_bytes == 2048


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ('q2t_host = "0.0.0.0"', "q2t_host: the Q2T API binds to loopback only"),
        ('q2t_port = "ninety"', "q2t_port"),
        ('peers = ["ftp://x"]', "peers"),
        (f'always_send_to = ["{KEY[:-4]}"]', "always_send_to"),
        ("max_payload_bytes = -1", "max_payload_bytes"),
        ('surprise = "field"', "surprise"),
        ("[tls]\nenabled = true", "tls: cert_file and key_file are required"),
    ],
)
def test_invalid_values_fail_at_load_naming_the_field(tmp_path: Path, extra: str, field: str) -> None:
    name = extra.split("=")[0].strip()
    base = "\n".join(line for line in BASE.splitlines() if not line.startswith(name + " "))
    text = base + "\n" + extra if extra.startswith("[") else extra + "\n" + base
    with pytest.raises(ConfigError, match=field):
        load_settings(write(tmp_path, text))


def test_missing_key_field_is_named_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"keys\.0\.private_key_file: Field required"):
        load_settings(write(tmp_path, '[[keys]]\npublic_key_file = "a.pub"\n'))
    with pytest.raises(ConfigError, match="keys: Field required"):
        load_settings(write(tmp_path, "q2t_port = 1\n"))


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "q2t_port = = 3"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.toml")


@pytest.mark.parametrize(("host", "ok"), [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True),
                                          ("localhost", True), ("0.0.0.0", False), ("10.0.0.1", False),
                                          ("example.com", False)])
def test_loopback_rule(host: str, ok: bool) -> None:
    assert is_loopback_host(host) is ok


def test_dev_network_configs_load_and_hold_the_right_keys(tmp_path: Path) -> None:
    managers = create_dev_network(tmp_path, ["n1", "n2"], ports=[(9101, 9001), (9102, 9002)],
                                  password="pw", scrypt_n=2**14)
    settings = load_settings(managers[0].config_path)
    assert settings.peers == ["http://127.0.0.1:9002"]
    assert [p.public_b64 for p in load_keys(settings)] == [managers[0].public_key]
    parts = build_manager(settings)
    try:
        assert parts.network.party.own_url == "http://127.0.0.1:9001"
        assert parts.store.dialect.name == "sqlite"
    finally:
        parts.store.close()
        parts.network.stop()


def test_dump_toml_round_trips_through_the_loader(tmp_path: Path) -> None:
    text = dump_toml({"q2t_port": 1, "peers": ["http://a:1"], "tls": {"enabled": False},
                      "keys": [{"public_key_file": "a.pub", "private_key_file": "a.key"}]})
    settings = load_settings(write(tmp_path, text))
    assert isinstance(settings, ManagerSettings) and settings.peers == ["http://a:1"]
