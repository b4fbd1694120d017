"""A development certificate authority per network: mutual TLS between its managers.

`privnet up` creates the CA once per network directory (`ca/ca.crt`, `ca/ca.key`) and
issues each manager one certificate (`managers/nodeN/tls.crt`, `tls.key`) that serves both
as its P2P server certificate and as its client certificate towards the other managers.

Each manager certificate names, as subject alternative names:

- the IP address (or DNS name) of the manager's host, which peers check as TLS hostname;
- a URI equal to the manager's advertised P2P URL exactly (`https://127.0.0.101:45678`):
  the receiving manager reads it from the client certificate to know which peer it talks
  to, so a member cannot claim another member's URL.

Keys are EC P-256 (fast to make, small handshakes). Validity: CA 10 years, manager
certificates 2 years; `ensure_manager_cert` issues a new one when the file is missing or
expires within 30 days. Private keys are written 0600. This CA is for development
networks: its key sits unencrypted next to the network it signs for.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devnet.owner_only import private_dir, write_private

CA_VALIDITY = datetime.timedelta(days=3650)
CERT_VALIDITY = datetime.timedelta(days=730)
RENEW_BEFORE = datetime.timedelta(days=30)
CLOCK_SKEW = datetime.timedelta(minutes=5)  # not-before in the past: a peer's clock may lag
CA_CERT_NAME = "ca.crt"
CA_KEY_NAME = "ca.key"
CERT_NAME = "tls.crt"
KEY_NAME = "tls.key"


@dataclass(frozen=True)
class ManagerCert:
    """Where one manager's certificate and key are."""

    cert_file: Path
    key_file: Path


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _key_usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, key_cert_sign=sign_certs, crl_sign=sign_certs,
                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                         key_agreement=False, encipher_only=False, decipher_only=False)


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host)


class DevCA:
    """The network's CA: `DevCA.load_or_create(dir)`, then `issue(...)` per manager."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, cert_file: Path) -> None:
        self.cert = cert
        self.key = key
        self.cert_file = cert_file

    @classmethod
    def load_or_create(cls, directory: Path, common_name: str = "privnet development CA") -> DevCA:
        """The CA in `directory` (0700), created on first use (key 0600); never replaced."""
        private_dir(directory)
        cert_file, key_file = directory / CA_CERT_NAME, directory / CA_KEY_NAME
        if cert_file.exists() or key_file.exists():
            return cls.load(directory)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + CA_VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_key_usage(sign_certs=True), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private(key_file, _key_pem(key))
        write_private(cert_file, cert.public_bytes(serialization.Encoding.PEM))
        return cls(cert, key, cert_file)

    @classmethod
    def load(cls, directory: Path) -> DevCA:
        """The existing CA in `directory`; FileNotFoundError if it is gone (a new CA would not be
        the one the other managers trust)."""
        cert_file, key_file = directory / CA_CERT_NAME, directory / CA_KEY_NAME
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file} is not an EC private key")
        return cls(x509.load_pem_x509_certificate(cert_file.read_bytes()), key, cert_file)

    def issue(self, directory: Path, name: str, host: str, p2p_url: str) -> ManagerCert:
        """Write `tls.crt` and `tls.key` (both 0600) for the manager `name` into `directory` (0700),
        replacing any there: server and client auth, SANs = `host` and the URI `p2p_url`."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - CLOCK_SKEW)
                .not_valid_after(min(now + CERT_VALIDITY, self.cert.not_valid_after_utc))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_key_usage(sign_certs=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName([_host_name(host),
                                                            x509.UniformResourceIdentifier(p2p_url)]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        issued = ManagerCert(private_dir(directory) / CERT_NAME, directory / KEY_NAME)
        write_private(issued.key_file, _key_pem(key))  # the key first: a cert never names a missing key
        write_private(issued.cert_file, cert.public_bytes(serialization.Encoding.PEM))
        return issued


def needs_new_cert(cert_file: Path, key_file: Path, p2p_url: str) -> bool:
    """True when the manager certificate is missing, expires within RENEW_BEFORE, or does not
    name `p2p_url` (so deleting the files and restarting the manager rotates them)."""
    if not (cert_file.exists() and key_file.exists()):
        return True
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except (ValueError, x509.ExtensionNotFound):
        return True
    return cert.not_valid_after_utc - _now() < RENEW_BEFORE or p2p_url not in uris


def ensure_manager_cert(ca_dir: Path, directory: Path, name: str, host: str, p2p_url: str) -> ManagerCert:
    """The manager's certificate in `directory`, issued by the CA in `ca_dir` if it needs a new one."""
    current = ManagerCert(directory / CERT_NAME, directory / KEY_NAME)
    if not needs_new_cert(current.cert_file, current.key_file, p2p_url):
        return current
    return DevCA.load(ca_dir).issue(directory, name, host, p2p_url)


__all__ = ["CA_VALIDITY", "CERT_VALIDITY", "DevCA", "ManagerCert", "ensure_manager_cert", "needs_new_cert"]
