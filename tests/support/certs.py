"""Test PKI with ``cryptography``: a CA, server and client certificates, SEC1 EC keys, as the vendor recipe.

``make_pki(directory)`` writes a complete chain and returns a :class:`Pki` with paths and PEM strings.
Time-based cases pass ``not_before``/``not_after`` (past dates) instead of sleeping.
"""

import dataclasses
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.UTC


def now():
    return datetime.datetime.now(UTC)


@dataclasses.dataclass
class Issued:
    """A certificate and its key, as objects, PEM strings and (once written) file paths."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: str | None = None
    key_path: str | None = None

    @property
    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def key_pem(self, password=None, fmt="sec1"):
        """The key as PEM: SEC1 ``EC PRIVATE KEY`` (default, the vendor's format) or ``pkcs8``."""
        encryption = (
            serialization.BestAvailableEncryption(password.encode("utf-8"))
            if password
            else serialization.NoEncryption()
        )
        pem_format = (
            serialization.PrivateFormat.TraditionalOpenSSL if fmt == "sec1" else serialization.PrivateFormat.PKCS8
        )
        return self.key.private_bytes(serialization.Encoding.PEM, pem_format, encryption).decode("ascii")

    @property
    def fingerprint(self):
        return self.cert.fingerprint(hashes.SHA256()).hex()

    def write(self, directory, name):
        """Write ``<name>.crt`` and ``<name>.key`` (0600) into ``directory``; return self."""
        os.makedirs(directory, exist_ok=True)
        self.cert_path = os.path.join(directory, name + ".crt")
        self.key_path = os.path.join(directory, name + ".key")
        with open(self.cert_path, "w", encoding="ascii") as handle:
            handle.write(self.cert_pem)
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(self.key_pem())
        return self


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn="Test Root CA", not_before=None, not_after=None, key=None):
    """A self-signed ECDSA P-256 CA (10 years unless told otherwise)."""
    key = key or new_key()
    not_before = not_before or now() - datetime.timedelta(minutes=5)
    not_after = not_after or not_before + datetime.timedelta(days=3650)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(ca, cn, server=False, sans=(), not_before=None, not_after=None, key=None):
    """A leaf certificate signed by ``ca``; ``sans`` are IP address or DNS name strings."""
    key = key or new_key()
    not_before = not_before or now() - datetime.timedelta(minutes=5)
    not_after = not_after or not_before + datetime.timedelta(days=365)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    names = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


@dataclasses.dataclass
class Pki:
    directory: str
    ca: Issued
    server: Issued
    clients: dict

    @property
    def ca_pem(self):
        return self.ca.cert_pem

    def client(self, client_id):
        """Issue (and write) another client certificate on demand."""
        if client_id not in self.clients:
            self.clients[client_id] = issue(self.ca, client_id).write(
                os.path.join(self.directory, "clients"), client_id
            )
        return self.clients[client_id]


def make_pki(directory, server_sans=("127.0.0.1", "localhost"), clients=("whatwatt-001",), ca_cn="Test Root CA"):
    """CA + server certificate (SANs) + client certificates, written under ``directory``.

    Layout: ``ca.crt``/``ca.key``, ``server.crt``/``server.key``, ``clients/<id>.crt``/``.key``.
    """
    os.makedirs(directory, exist_ok=True)
    ca = make_ca(ca_cn).write(directory, "ca")
    server = issue(ca, "mqtt-broker", server=True, sans=server_sans).write(directory, "server")
    pki = Pki(directory, ca, server, {})
    for client_id in clients:
        pki.client(client_id)
    return pki
