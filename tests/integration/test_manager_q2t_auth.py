"""A real manager's Q2T API: over TCP only with its bearer token (file made 0600 at first start,
refused when others can read it), over a unix socket without one."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.errors import ConfigError
from tessera_like.runtime import ManagerProcess
from tests.helpers.file_modes import umask
from tests.helpers.q2t_auth import bearer, token_in

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    with umask(0o022):
        yield


def settings(directory: Path, **overrides: Any) -> ManagerSettings:
    pub, key = write_key_files(directory, "key", None)
    return ManagerSettings(q2t_port=0, p2p_port=0, db_url=f"sqlite:///{directory / 'manager.db'}",
                           keys=[KeyConfig(public_key_file=pub, private_key_file=key)],
                           gossip_interval_seconds=3600, log_level="warning", **overrides)


def payload(text: bytes) -> dict[str, str]:
    return {"payload": base64.b64encode(text).decode()}


def test_tcp_q2t_refuses_without_the_token_and_serves_with_it(tmp_path: Path) -> None:
    token_file = tmp_path / "secrets" / "q2t.token"
    configured = settings(tmp_path, q2t_token_file=token_file)
    with ManagerProcess(configured) as proc:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert proc.q2t_token == token_in(token_file) and len(proc.q2t_token) >= 40
        with httpx.Client(base_url=proc.q2t_url, timeout=20) as anyone:
            assert anyone.get("/upcheck").text == "I'm up!"
            for method, path, kwargs in [("POST", "/send", {"json": payload(b"x")}),
                                         ("POST", "/storeraw", {"json": payload(b"x")}),
                                         ("GET", "/partyinfo/keys", {}),
                                         ("GET", "/transaction/AAAA", {}),
                                         ("DELETE", "/transaction/AAAA", {})]:
                for headers in ({}, bearer("not-the-token")):
                    refused = anyone.request(method, path, headers=headers, **kwargs)
                    assert refused.status_code == 401, (method, path, refused.text)
                    assert refused.headers["www-authenticate"].startswith("Bearer")
                    assert "token" in refused.json()["error"]
            assert proc.manager.store.count() == 0
        with httpx.Client(base_url=proc.q2t_url, timeout=20, headers=bearer(proc.q2t_token)) as node:
            sent = node.post("/send", json=payload(b"for the node only"))
            assert sent.status_code == 201, sent.text
            got = node.get(sent.headers["location"])
            assert base64.b64decode(got.json()["payload"]) == b"for the node only"
            assert node.delete(sent.headers["location"]).status_code == 204
        assert httpx.get(f"{proc.p2p_url}/upcheck", timeout=20).status_code == 200  # P2P is not Q2T
    with ManagerProcess(configured) as again:
        assert again.q2t_token == proc.q2t_token  # the file is read back, not replaced


def test_tcp_q2t_without_a_token_file_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="q2t_token_file: required when the Q2T API listens on TCP"):
        ManagerProcess(settings(tmp_path)).start()


def test_a_token_file_others_can_read_is_refused_at_start(tmp_path: Path) -> None:
    token_file = tmp_path / "q2t.token"
    token_file.write_text("readable-by-everyone\n")
    token_file.chmod(0o644)
    with pytest.raises(ConfigError, match=r"permissions 0644 for .*q2t.token are too open"):
        ManagerProcess(settings(tmp_path, q2t_token_file=token_file)).start()


def test_the_unix_socket_needs_no_token(tmp_path: Path) -> None:
    socket_path = tmp_path / "run" / "tm.ipc"
    with ManagerProcess(settings(tmp_path, q2t_socket=socket_path)) as proc:
        assert proc.q2t_token is None
        transport = httpx.HTTPTransport(uds=str(socket_path))
        with httpx.Client(transport=transport, base_url="http://q2t", timeout=20) as client:
            sent = client.post("/send", json=payload(b"over the socket"))
            assert sent.status_code == 201, sent.text
            assert client.get(sent.headers["location"]).status_code == 200


def test_the_command_line_names_the_missing_setting_and_never_prints_the_token(tmp_path: Path) -> None:
    config = tmp_path / "manager.toml"
    pub, key = write_key_files(tmp_path, "key", None)
    config.write_text(f'q2t_port = 0\np2p_port = 0\n[[keys]]\npublic_key_file = "{pub}"\nprivate_key_file = "{key}"\n')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "tessera_like", "--config", str(config)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "q2t_token_file" in done.stderr and "Traceback" not in done.stderr
    env["TESSERA_LIKE_Q2T_TOKEN_FILE"] = "q2t.token"  # relative to manager.toml's folder
    env["TESSERA_LIKE_LOG_LEVEL"] = "debug"
    proc = subprocess.Popen([sys.executable, "-m", "tessera_like", "--config", str(config)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("tessera_like ready"), line
        token = token_in(tmp_path / "q2t.token")
        url = line.split("q2t=")[1].split()[0]
        assert httpx.get(f"{url}/keys", headers=bearer(token), timeout=20).status_code == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert token not in line + out + err
