"""Test certificates with ``cryptography``: the one builder every suite and the benchmark use.

- ``make_pki(directory)`` writes a CA, a server certificate (SANs) and client certificates, SEC1 EC keys as the
  vendor recipe, and returns a :class:`Pki` with paths and PEM strings.
- ``make_ca``/``issue`` give single :class:`Issued` certificates (``.write(directory, name)`` puts them on disk).
- ``InMemoryCa`` is the device-module tests' CA: certificates as PEM strings, nothing written.
- ``make_cert``/``cert_pem``/``key_pem``/``new_key`` are the raw pieces.

Time-based cases pass ``not_before``/``not_after`` (past dates) or ``start_days_ago`` instead of sleeping.
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
        return cert_pem(self.cert)

    def key_pem(self, password=None, fmt="sec1"):
        """The key as PEM: SEC1 ``EC PRIVATE KEY`` (default, the vendor's format) or ``pkcs8``."""
        return key_pem(self.key, password, fmt)

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


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key, password=None, fmt="sec1"):
    """``key`` as PEM: SEC1 ``EC PRIVATE KEY`` (the vendor's format) or ``pkcs8``, encrypted when given a password."""
    encryption = (
        serialization.BestAvailableEncryption(password.encode("utf-8")) if password else serialization.NoEncryption()
    )
    form = serialization.PrivateFormat.TraditionalOpenSSL if fmt == "sec1" else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, form, encryption).decode("ascii")


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _build(subject, key, issuer_name, issuer_key, not_before, not_after, ca, extensions=(), path_length=None):
    """The one certificate builder: ``extensions`` are (extension, critical) pairs after BasicConstraints."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def make_cert(cn, key, issuer_cert=None, issuer_key=None, days=365, start_days_ago=1, ca=False):
    """A bare certificate for ``key`` (BasicConstraints only); self-signed when no issuer is given."""
    start = now() - datetime.timedelta(days=start_days_ago)
    issuer_name = issuer_cert.subject if issuer_cert else _name(cn)
    return _build(_name(cn), key, issuer_name, issuer_key or key, start, start + datetime.timedelta(days=days), ca)


def make_ca(cn="Test Root CA", not_before=None, not_after=None, key=None, path_length=None):
    """A self-signed ECDSA P-256 CA (10 years unless told otherwise)."""
    key = key or new_key()
    not_before = not_before or now() - datetime.timedelta(minutes=5)
    not_after = not_after or not_before + datetime.timedelta(days=3650)
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # keyCertSign, cRLSign
    extensions = [(usage, True), (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)]
    cert = _build(_name(cn), key, _name(cn), key, not_before, not_after, True, extensions, path_length)
    return Issued(cert, key)


def issue(ca, cn, server=False, sans=(), not_before=None, not_after=None, key=None, key_usage=None):
    """A leaf certificate signed by ``ca``; ``sans`` are IP address or DNS name strings; ``key_usage`` an
    ``x509.KeyUsage`` (critical) when given."""
    key = key or new_key()
    not_before = not_before or now() - datetime.timedelta(minutes=5)
    not_after = not_after or not_before + datetime.timedelta(days=365)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    extensions = [(key_usage, True)] if key_usage else []
    extensions += [
        (x509.ExtendedKeyUsage([usage]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False),
    ]
    names = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    if names:
        extensions.append((x509.SubjectAlternativeName(names), False))
    return Issued(_build(_name(cn), key, ca.cert.subject, ca.key, not_before, not_after, False, extensions), key)


class InMemoryCa:
    """A CA and client certificates made in memory (bare certificates, as ``make_cert``), PEM strings only."""

    def __init__(self, cn="Test Root CA", ca_days=3650, ca_start_days_ago=1):
        self.ca_key = new_key()
        self.ca = make_cert(cn, self.ca_key, days=ca_days, start_days_ago=ca_start_days_ago, ca=True)

    @property
    def ca_pem(self):
        return cert_pem(self.ca)

    def client(self, cn="whatwatt-001", days=365, start_days_ago=1):
        """(certificate PEM, SEC1 key PEM) of a new client ``cn``."""
        key = new_key()
        return cert_pem(make_cert(cn, key, self.ca, self.ca_key, days=days, start_days_ago=start_days_ago)), key_pem(
            key
        )


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
