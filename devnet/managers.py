"""Key and config generation for a development network of N managers.

Used by tests and by tools such as `privnet up`: one folder per manager with its key pair
and a `manager.toml` whose `peers` list the other managers' P2P URLs::

    specs = create_dev_network(Path(".privnet/managers"), ["node1", "node2", "node3", "node4"],
                               ports=[(9101, 9001), (9102, 9002), (9103, 9003), (9104, 9004)])
    # then, per manager: python -m tessera_like --config specs[i].config_path
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.devca import DevCA
from devnet.owner_only import FILE_MODE, private_dir, write_private
from tessera_like.crypto.keyfile import DEFAULT_SCRYPT_N, write_key_files


@dataclass(frozen=True)
class DevManager:
    """Where one generated manager lives and how to reach it."""

    name: str
    directory: Path
    config_path: Path
    public_key: str
    q2t_url: str
    p2p_url: str


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(settings: Mapping[str, Any]) -> str:
    """TOML for a manager config: scalars and lists, tables, and arrays of tables."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{key}]]"] + [f"{k} = {_toml_value(v)}" for k, v in item.items() if v is not None]
    return "\n".join(lines) + "\n"


def create_dev_network(base_dir: Path, names: Sequence[str], ports: Sequence[tuple[int, int]],
                       host: str = "127.0.0.1", password: str | None = None,
                       extra: Mapping[str, Any] | None = None,
                       scrypt_n: int = DEFAULT_SCRYPT_N,
                       hosts: Sequence[str] | None = None, *,
                       random_passwords: bool = False,
                       ca_dir: Path | None = None,
                       q2t_socket: str | None = None,
                       peer_allow_list: bool = False) -> list[DevManager]:
    """Generate keys and `manager.toml` for each name; `ports[i]` = (q2t_port, p2p_port).

    Keys are unencrypted when `password` is None and not `random_passwords` (a development
    network, like GoQuorum's quickstart); otherwise each folder gets a `password` file (0600)
    used by its key: `password`, or with `random_passwords` a random one per manager.
    Each manager's peers are all the others; its database is `manager.db` in its folder.
    Addresses: with `hosts`, manager i binds Q2T and P2P on `hosts[i]` (a loopback address of
    its own, such as 127.0.0.101); without, Q2T binds 127.0.0.1 and P2P `host`.

    The defaults make the plain-HTTP, TCP-Q2T managers tests build by hand; `privnet up` asks
    for the secure form: with `ca_dir`, P2P over mutual TLS (certificates from the DevCA in
    `ca_dir`, made on first use); with `q2t_socket` (a file name such as `tm.ipc`), Q2T on
    that unix socket in each folder instead of a TCP port; with `peer_allow_list`, only
    the listed peers are accepted.
    """
    if len(ports) != len(names) or (hosts is not None and len(hosts) != len(names)):
        raise ValueError("one (q2t_port, p2p_port) pair (and one host, if given) per manager")
    q2t_hosts = list(hosts) if hosts is not None else ["127.0.0.1"] * len(names)
    p2p_hosts = list(hosts) if hosts is not None else [host] * len(names)
    scheme = "https" if ca_dir is not None else "http"
    p2p_urls = [f"{scheme}://{h}:{p2p}" for h, (_, p2p) in zip(p2p_hosts, ports, strict=True)]
    ca = DevCA.load_or_create(ca_dir) if ca_dir is not None else None
    private_dir(base_dir)
    managers = []
    for index, name in enumerate(names):
        directory = private_dir(base_dir / name)
        secret = secrets.token_urlsafe(32) if random_passwords else password
        password_file = None
        if secret is not None:
            password_file = write_private(directory / "password", secret + "\n")
        pub, key = write_key_files(directory, "key", secret, scrypt_n=scrypt_n)
        key.chmod(FILE_MODE)
        q2t_port, p2p_port = ports[index]
        config: dict[str, Any] = {"p2p_host": p2p_hosts[index], "p2p_port": p2p_port}
        if q2t_socket is None:
            config = {"q2t_host": q2t_hosts[index], "q2t_port": q2t_port, **config}
            q2t_url = f"http://{q2t_hosts[index]}:{q2t_port}"
        else:
            config["q2t_socket"] = q2t_socket
            q2t_url = f"unix://{(directory / q2t_socket).resolve()}"
        config |= {
            "p2p_url": p2p_urls[index],
            "peers": [u for i, u in enumerate(p2p_urls) if i != index],
            "use_peer_allow_list": peer_allow_list or None,
            "db_url": "sqlite:///manager.db",
        }
        if ca is not None:
            cert = ca.issue(directory, name, p2p_hosts[index], p2p_urls[index])
            config["tls"] = {"enabled": True, "cert_file": cert.cert_file.name, "key_file": cert.key_file.name,
                             "ca_file": str(ca.cert_file.resolve()), "client_auth": True}
        config |= {
            **(extra or {}),
            "keys": [{"public_key_file": pub.name, "private_key_file": key.name,
                      "password_file": password_file.name if password_file else None}],
        }
        config_path = write_private(directory / "manager.toml", dump_toml(config))
        managers.append(DevManager(name, directory, config_path, pub.read_text(encoding="utf-8").strip(),
                                   q2t_url, p2p_urls[index]))
    return managers


__all__ = ["DevManager", "create_dev_network", "dump_toml"]
