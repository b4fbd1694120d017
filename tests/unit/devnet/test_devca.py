"""The development CA: manager certificates that verify as TLS server and client, name the
manager's host and its exact P2P URL, and keys only their owner can read."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from devnet.devca import CA_VALIDITY, CERT_VALIDITY, DevCA, ensure_manager_cert, needs_new_cert
from devnet.managers import create_dev_network
from tessera_like.config import load_settings
from tests.helpers.file_modes import mode, umask

URL = "https://127.0.0.101:45678"


@pytest.fixture
def wide_umask() -> Iterator[None]:
    """Modes must not depend on the umask: run with one that grants everything."""
    with umask(0):
        yield



def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_manager_cert_verifies_as_server_for_its_ip_and_as_client(tmp_path: Path) -> None:
    ca = DevCA.load_or_create(tmp_path / "ca")
    issued = ca.issue(tmp_path / "m1", "node1", "127.0.0.101", URL)
    leaf = load(issued.cert_file)
    store = Store([load(ca.cert_file)])
    server = PolicyBuilder().store(store).build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.101")))
    assert server.verify(leaf, [])[-1] == ca.cert
    client = PolicyBuilder().store(store).build_client_verifier().verify(leaf, [])
    assert client.chain[-1] == ca.cert
    with pytest.raises(VerificationError):  # another host's name: not this certificate
        PolicyBuilder().store(store).build_server_verifier(
            x509.IPAddress(ipaddress.ip_address("127.0.0.102"))).verify(leaf, [])
    other = DevCA.load_or_create(tmp_path / "other-ca")
    with pytest.raises(VerificationError):  # a different network's CA does not vouch for it
        PolicyBuilder().store(Store([other.cert])).build_client_verifier().verify(leaf, [])


def test_sans_ekus_and_validity(tmp_path: Path) -> None:
    ca = DevCA.load_or_create(tmp_path / "ca")
    leaf = load(ca.issue(tmp_path / "m1", "node1", "127.0.0.101", URL).cert_file)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.101")]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [URL]  # exactly the advertised URL
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf_days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    ca_days = (ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc).days
    assert leaf_days == CERT_VALIDITY.days and ca_days == CA_VALIDITY.days


def test_python_ssl_accepts_the_chain_for_the_ip(tmp_path: Path) -> None:
    """What the managers themselves use: ssl contexts with hostname checks on an IP address."""
    ca = DevCA.load_or_create(tmp_path / "ca")
    issued = ca.issue(tmp_path / "m1", "node1", "127.0.0.101", URL)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.cert_file))
    server.load_cert_chain(str(issued.cert_file), str(issued.key_file))
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(ca.cert_file))
    client.load_cert_chain(str(issued.cert_file), str(issued.key_file))
    a, b = ssl.MemoryBIO(), ssl.MemoryBIO()
    c, d = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_client = client.wrap_bio(a, b, server_hostname="127.0.0.101")
    tls_server = server.wrap_bio(c, d, server_side=True)
    for _ in range(10):  # pump the handshake between the two in memory
        for side in (tls_client, tls_server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        c.write(b.read())
        a.write(d.read())
    assert tls_server.getpeercert()["subjectAltName"] == (("IP Address", "127.0.0.101"), ("URI", URL))
    assert tls_client.getpeercert() is not None


def test_keys_are_owner_only_whatever_the_umask(tmp_path: Path, wide_umask: None) -> None:
    ca = DevCA.load_or_create(tmp_path / "ca")
    issued = ca.issue(tmp_path / "m1", "node1", "127.0.0.101", URL)
    assert mode(tmp_path / "ca") == mode(tmp_path / "m1") == 0o700
    assert mode(tmp_path / "ca" / "ca.key") == 0o600
    assert mode(issued.key_file) == 0o600 and mode(issued.cert_file) == 0o600


def test_the_ca_is_made_once_and_reused(tmp_path: Path) -> None:
    first = DevCA.load_or_create(tmp_path / "ca")
    again = DevCA.load_or_create(tmp_path / "ca")
    assert first.cert == again.cert
    with pytest.raises(FileNotFoundError):
        DevCA.load(tmp_path / "missing")


def test_ensure_reissues_a_missing_or_stale_cert_only(tmp_path: Path) -> None:
    DevCA.load_or_create(tmp_path / "ca")
    first = ensure_manager_cert(tmp_path / "ca", tmp_path / "m1", "node1", "127.0.0.101", URL)
    serial = load(first.cert_file).serial_number
    assert load(ensure_manager_cert(tmp_path / "ca", tmp_path / "m1", "node1", "127.0.0.101", URL)
                .cert_file).serial_number == serial
    assert needs_new_cert(first.cert_file, first.key_file, "https://127.0.0.101:1")  # another URL
    first.cert_file.unlink()  # rotation: delete the files, the next start issues new ones
    renewed = ensure_manager_cert(tmp_path / "ca", tmp_path / "m1", "node1", "127.0.0.101", URL)
    assert load(renewed.cert_file).serial_number != serial
    assert not needs_new_cert(renewed.cert_file, renewed.key_file, URL)


def test_dev_network_with_tls_socket_and_random_passwords(tmp_path: Path, wide_umask: None) -> None:
    managers = create_dev_network(tmp_path / "managers", ["n1", "n2"], ports=[(0, 45001), (0, 45002)],
                                  hosts=["127.0.0.101", "127.0.0.102"], random_passwords=True,
                                  ca_dir=tmp_path / "ca", q2t_socket="tm.ipc", peer_allow_list=True,
                                  scrypt_n=2**14)
    one, two = managers
    assert one.p2p_url == "https://127.0.0.101:45001"
    assert one.q2t_url == f"unix://{(tmp_path / 'managers' / 'n1' / 'tm.ipc').resolve()}"
    settings = load_settings(one.config_path)
    assert settings.tls.enabled and settings.tls.client_auth and settings.use_peer_allow_list
    assert settings.peers == [two.p2p_url] and settings.q2t_socket == one.directory.resolve() / "tm.ipc"
    san = load(one.directory / "tls.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [one.p2p_url]
    passwords = {(m.directory / "password").read_text() for m in managers}
    assert len(passwords) == 2 and all(len(p.strip()) >= 32 for p in passwords)
    for manager in managers:
        assert mode(manager.directory) == 0o700
        for name in ("password", "key.key", "tls.key", "manager.toml"):
            assert mode(manager.directory / name) == 0o600, name
    assert datetime.datetime.now(datetime.UTC) < load(one.directory / "tls.crt").not_valid_after_utc
