"""Running a manager: as a subprocess (SIGTERM/SIGINT, SIGKILL on SQLite and PostgreSQL), on a
unix socket, with P2P TLS, and refusing to start with the wrong key password or a database it
cannot reach."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devnet.managers import create_dev_network
from tessera_like.config import KeyConfig, ManagerSettings, TlsSettings, load_settings
from tessera_like.errors import KeyFileError
from tessera_like.runtime import ManagerProcess
from tests.helpers.postgres import APP_PASSWORD, BACKENDS, database_url, postgres_url  # noqa: F401  (fixture)
from tests.helpers.q2t_auth import bearer, token_in
from tests.helpers.servers import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
#: Q2T over TCP needs a token: each generated manager keeps it in its folder (created at first start).
TOKEN = {"q2t_token_file": "q2t.token"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_subprocess(config: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tessera_like", "--config", str(config)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("tessera_like ready"):
        proc.kill()
        raise AssertionError(f"no ready line: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_subprocess_serves_and_stops_cleanly(tmp_path: Path, subprocess_env: dict[str, str],
                                             sig: signal.Signals) -> None:
    ports = [(free_port(), free_port()), (free_port(), free_port())]
    one, two = create_dev_network(tmp_path, ["one", "two"], ports=ports, password="pw", scrypt_n=2**14,
                                  extra={"gossip_interval_seconds": 0.2, "log_level": "warning", **TOKEN})
    first, line = start_subprocess(one.config_path, subprocess_env)
    second, _ = start_subprocess(two.config_path, subprocess_env)
    try:
        assert f"q2t={one.q2t_url}" in line and one.public_key in line
        one_token, two_token = token_in(one.directory / "q2t.token"), token_in(two.directory / "q2t.token")
        assert one_token not in line  # never printed
        sent = httpx.post(f"{one.q2t_url}/send", json={"payload": b64(b"via subprocess"), "to": [two.public_key]},
                          headers=bearer(one_token), timeout=20)
        assert sent.status_code == 201, sent.text
        got = httpx.get(f"{two.q2t_url}/transaction/{sent.json()['key'].replace('/', '%2F')}",
                        headers=bearer(two_token), timeout=20)
        assert base64.b64decode(got.json()["payload"]) == b"via subprocess"
    finally:
        for proc in (first, second):
            proc.send_signal(sig)
        codes = [proc.wait(timeout=30) for proc in (first, second)]
    assert codes == [0, 0]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{one.q2t_url}/upcheck", timeout=2)


def test_subprocess_reports_a_bad_config_and_exits(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    config = tmp_path / "manager.toml"
    config.write_text('q2t_host = "0.0.0.0"\n[[keys]]\npublic_key_file = "a"\nprivate_key_file = "b"\n')
    done = subprocess.run([sys.executable, "-m", "tessera_like", "--config", str(config)], cwd=REPO,
                          env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "q2t_host" in done.stderr and "loopback" in done.stderr and "Traceback" not in done.stderr


def test_wrong_key_password_refuses_to_start(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    (manager,) = create_dev_network(tmp_path, ["solo"], ports=[(0, 0)], password="right", scrypt_n=2**14,
                                    extra=TOKEN)
    (manager.directory / "password").write_text("wrong\n")
    with pytest.raises(KeyFileError, match="wrong password"):
        ManagerProcess(load_settings(manager.config_path)).start()
    done = subprocess.run([sys.executable, "-m", "tessera_like", "--config", str(manager.config_path)], cwd=REPO,
                          env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "wrong password" in done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_send_acknowledged_survives_a_sigkill(request: pytest.FixtureRequest, tmp_path: Path,
                                                   subprocess_env: dict[str, str], backend: str) -> None:
    """Acknowledged means durable: kill -9 right after the last answer, every payload is back."""
    db_url = database_url(request, backend, tmp_path / "solo" / "manager.db")
    (manager,) = create_dev_network(tmp_path, ["solo"], ports=[(free_port(), free_port())],
                                    extra={"db_url": db_url, "log_level": "warning", **TOKEN})
    assert f'db_url = "{db_url}"' in manager.config_path.read_text()
    proc, _ = start_subprocess(manager.config_path, subprocess_env)
    auth = bearer(token_in(manager.directory / "q2t.token"))
    sent: dict[str, bytes] = {}
    try:
        with httpx.Client(base_url=manager.q2t_url, timeout=20, headers=auth) as client:
            for n in range(10):
                payload = f"acknowledged {n}".encode()
                answer = client.post("/send", json={"payload": b64(payload), "to": [manager.public_key]})
                assert answer.status_code == 201, answer.text
                sent[answer.headers["location"]] = payload
    finally:
        proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    again, _ = start_subprocess(manager.config_path, subprocess_env)
    try:
        with httpx.Client(base_url=manager.q2t_url, timeout=20, headers=auth) as client:  # the same token
            for location, payload in sent.items():
                got = client.get(location)
                assert got.status_code == 200, got.text
                assert base64.b64decode(got.json()["payload"]) == payload
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0


@pytest.mark.parametrize("fault", ["server down", "wrong password"])
def test_an_unusable_database_stops_the_start_with_one_clear_line(request: pytest.FixtureRequest, tmp_path: Path,
                                                                  subprocess_env: dict[str, str], fault: str) -> None:
    url = database_url(request, "postgresql", tmp_path / "unused.db")
    if fault == "server down":
        url = url.replace(url.split("@", 1)[1].split("/", 1)[0], f"127.0.0.1:{free_port()}")
        reason = "Connection refused"
    else:
        url = url.replace(APP_PASSWORD, "not-the-password")
        reason = 'password authentication failed for user "privnet"'
    (manager,) = create_dev_network(tmp_path, ["solo"], ports=[(0, 0)], extra=TOKEN)
    env = {**subprocess_env, "TESSERA_LIKE_DB_URL": url}  # the environment overrides manager.toml
    done = subprocess.run([sys.executable, "-m", "tessera_like", "--config", str(manager.config_path)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "error: cannot open the payload store (PostgreSQL privnet@127.0.0.1:" in done.stderr
    assert reason in done.stderr
    assert "Traceback" not in done.stderr and "not-the-password" not in done.stderr and APP_PASSWORD not in done.stderr
    assert done.stdout == ""


def test_q2t_on_a_unix_socket(tmp_path: Path) -> None:
    (manager,) = create_dev_network(tmp_path, ["sock"], ports=[(0, 0)])
    socket_path = tmp_path / "run" / "q2t.sock"
    settings = load_settings(manager.config_path, q2t_socket=socket_path, log_level="warning")
    with ManagerProcess(settings) as proc:
        assert proc.q2t_url == f"unix://{socket_path}"
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
        transport = httpx.HTTPTransport(uds=str(socket_path))
        with httpx.Client(transport=transport, base_url="http://q2t") as client:
            assert client.get("/upcheck").text == "I'm up!"
            sent = client.post("/send", json={"payload": b64(b"over the socket")})
            assert sent.status_code == 201
            assert base64.b64decode(client.get(sent.headers["location"]).json()["payload"]) == b"over the socket"
    assert not socket_path.exists()


# -- TLS --------------------------------------------------------------------------------


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A CA and one loopback certificate per manager (server and client auth)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "privnet test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    paths = {"ca": _write_pem(tmp_path / "ca.pem", ca.public_bytes(serialization.Encoding.PEM))}
    for name in ("a", "b", "rogue"):
        key = ec.generate_private_key(ec.SECP256R1())
        signer_key, issuer = (key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue")])) \
            if name == "rogue" else (ca_key, ca_name)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                            x509.DNSName("localhost")]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(signer_key, hashes.SHA256()))
        paths[f"{name}.crt"] = _write_pem(tmp_path / f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{name}.key"] = _write_pem(tmp_path / f"{name}.key", _key_pem(key))
    return paths


def _tls_manager(tmp_path: Path, name: str, pki: dict[str, Path], peers: list[str]) -> ManagerProcess:
    from tessera_like.crypto.keyfile import write_key_files

    pub, key = write_key_files(tmp_path / name, "key", None)
    settings = ManagerSettings(
        q2t_port=0, p2p_port=0, q2t_token_file=tmp_path / name / "q2t.token", peers=peers,
        db_url=f"sqlite:///{tmp_path / name / 'db.sqlite'}",
        keys=[KeyConfig(public_key_file=pub, private_key_file=key)], log_level="warning",
        gossip_interval_seconds=3600,
        tls=TlsSettings(enabled=True, cert_file=pki[f"{name}.crt"], key_file=pki[f"{name}.key"], ca_file=pki["ca"],
                        client_auth=True))
    return ManagerProcess(settings)


@pytest.fixture
def tls_pair(tmp_path: Path, pki: dict[str, Path]) -> Iterator[tuple[ManagerProcess, ManagerProcess]]:
    a = _tls_manager(tmp_path, "a", pki, []).start()
    b = _tls_manager(tmp_path, "b", pki, [a.p2p_url]).start()
    try:
        # b announces itself to a (its own first round runs in the background, maybe not yet),
        # then a asks b: both know each other's keys whatever the timing.
        b.parts.network.refresh()  # type: ignore[union-attr]
        a.parts.network.refresh()  # type: ignore[union-attr]
        yield a, b
    finally:
        b.stop()
        a.stop()


def test_p2p_over_mutual_tls(tls_pair: tuple[ManagerProcess, ManagerProcess], pki: dict[str, Path]) -> None:
    a, b = tls_pair
    assert a.p2p_url.startswith("https://127.0.0.1:")
    sent = httpx.post(f"{a.q2t_url}/send", json={"payload": b64(b"over TLS"), "to": [b.public_keys[0]]},
                      headers=bearer(a.q2t_token), timeout=20)
    assert sent.status_code == 201, sent.text
    got = httpx.get(f"{b.q2t_url}{sent.headers['location']}", headers=bearer(b.q2t_token), timeout=20)
    assert base64.b64decode(got.json()["payload"]) == b"over TLS"
    # Plain HTTP, an unknown CA, or no client certificate: no P2P access.
    with pytest.raises(httpx.HTTPError):
        httpx.get(b.p2p_url.replace("https://", "http://") + "/upcheck", timeout=5)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{b.p2p_url}/upcheck", timeout=5)  # system CAs do not know ours
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{b.p2p_url}/partyinfo", verify=str(pki["ca"]), timeout=5)
    import ssl

    rogue = ssl.create_default_context(cafile=str(pki["ca"]))
    rogue.load_cert_chain(str(pki["rogue.crt"]), str(pki["rogue.key"]))
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{b.p2p_url}/partyinfo", verify=rogue, timeout=5)
    good = ssl.create_default_context(cafile=str(pki["ca"]))
    good.load_cert_chain(str(pki["a.crt"]), str(pki["a.key"]))
    assert httpx.get(f"{b.p2p_url}/upcheck", verify=good, timeout=5).text == "I'm up!"
