# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test PKI for the molecule scenario, laid out like the pki role's output (docs/architecture.md).

``init DIR SERVER``: CA, ca-bundle.crt, crl.pem, servers/SERVER.*, clients for the refusal matrix
(valid, expired, revoked) and a second, unrelated CA with its own client under other/.
``rotate DIR SERVER``: a fresh server certificate (new serial) signed by the same CA.
Expired certificates get dates in the past instead of waiting for them to expire.
"""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(path + ".tmp", path)


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(cn):
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(ca_key, ca_cert, cn, server=False, not_before=None, not_after=None):
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def make_crl(ca_key, ca_cert, serials):
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(NOW - DAY)
        .next_update(NOW + 30 * DAY)
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - DAY).build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def save_pair(base, key, cert):
    _write(base + ".key", _pem_key(key), 0o600)
    _write(base + ".crt", _pem(cert))


def load_ca(pki):
    with open(os.path.join(pki, "ca.key"), "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    with open(os.path.join(pki, "ca.crt"), "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    return key, cert


def init(pki, server):
    os.makedirs(pki, mode=0o700, exist_ok=True)
    ca_key, ca_cert = make_ca("whatwatt test Root CA")
    save_pair(os.path.join(pki, "ca"), ca_key, ca_cert)
    _write(os.path.join(pki, "ca-bundle.crt"), _pem(ca_cert))
    save_pair(os.path.join(pki, "servers", server), *issue(ca_key, ca_cert, server, server=True))
    for cn in ("whatwatt-001", "whatwatt-002", "whatwatt-monitor"):
        save_pair(os.path.join(pki, "clients", cn), *issue(ca_key, ca_cert, cn))
    save_pair(
        os.path.join(pki, "clients", "whatwatt-expired"),
        *issue(ca_key, ca_cert, "whatwatt-expired", not_before=NOW - 400 * DAY, not_after=NOW - 35 * DAY),
    )
    revoked_key, revoked_cert = issue(ca_key, ca_cert, "whatwatt-revoked")
    save_pair(os.path.join(pki, "clients", "whatwatt-revoked"), revoked_key, revoked_cert)
    _write(
        os.path.join(pki, "crl.pem"),
        make_crl(ca_key, ca_cert, [revoked_cert.serial_number]).public_bytes(serialization.Encoding.PEM),
    )
    other_key, other_cert = make_ca("someone else Root CA")
    save_pair(os.path.join(pki, "other", "ca"), other_key, other_cert)
    # Same CN as a real device: only the issuer differs.
    save_pair(os.path.join(pki, "other", "clients", "whatwatt-001"), *issue(other_key, other_cert, "whatwatt-001"))


def rotate(pki, server):
    ca_key, ca_cert = load_ca(pki)
    key, cert = issue(ca_key, ca_cert, server, server=True)
    save_pair(os.path.join(pki, "servers", server), key, cert)
    serial = format(cert.serial_number, "X")
    print(serial.rjust(len(serial) + len(serial) % 2, "0"))  # openssl prints whole bytes


if __name__ == "__main__":
    {"init": init, "rotate": rotate}[sys.argv[1]](sys.argv[2], sys.argv[3])
