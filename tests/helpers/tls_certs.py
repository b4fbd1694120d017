"""A throwaway CA and manager certificates shaped as `privnet up` issues them.

Each manager certificate carries an IP-address SAN for its host and a URI SAN equal to its
advertised P2P URL (the identity the P2P API reads), with EKU serverAuth + clientAuth.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def free_port_on(host: str) -> int:
    """A TCP port free on `host` (e.g. one of 127.0.0.x) right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class TestCA:
    """A CA in `directory`; `issue()` writes a leaf certificate and key signed by it."""

    __test__ = False  # not a test class

    def __init__(self, directory: Path, name: str = "privnet test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._now = datetime.datetime.now(datetime.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(self._now - datetime.timedelta(minutes=5))
                .not_valid_after(self._now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.ca_file = directory / f"{name.replace(' ', '_')}.pem"
        self.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, host: str, uris: list[str] | tuple[str, ...] = ()) -> tuple[Path, Path]:
        """(cert file, key file) for `name` at `host`, with the given URI SANs."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
        sans += [x509.UniformResourceIdentifier(u) for u in uris]
        cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(self.name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(self._now - datetime.timedelta(minutes=5))
                .not_valid_after(self._now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_file, key_file = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file

    def client_context(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """An SSL context trusting this CA, presenting `cert` as client certificate."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if cert is not None:
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        return context


__all__ = ["TestCA", "free_port_on"]
