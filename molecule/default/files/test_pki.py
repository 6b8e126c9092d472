# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test PKI for the molecule scenario, laid out like the pki role's output (docs/architecture.md).

``init DIR SERVER``: CA, ca-bundle.crt, crl.pem, servers/SERVER.*, clients for the refusal matrix
(valid, expired, revoked) and a second, unrelated CA with its own client under other/.
``rotate DIR SERVER``: a fresh server certificate (new serial) signed by the same CA.
Expired certificates get dates in the past instead of waiting for them to expire.
"""

import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

# The controller's Python runs this file (ansible_playbook_python): the project's test harness is beside it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools"))
from harness import certs  # noqa: E402

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)
# digitalSignature, keyEncipherment
LEAF_USAGE = x509.KeyUsage(True, False, True, False, False, False, False, False, False)


def _write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(path + ".tmp", path)


def make_ca(cn):
    issued = certs.make_ca(cn, not_before=NOW - DAY, not_after=NOW + 3650 * DAY, path_length=0)
    return issued.key, issued.cert


def issue(ca_key, ca_cert, cn, server=False, not_before=None, not_after=None):
    issued = certs.issue(
        certs.Issued(ca_cert, ca_key), cn, server=server, sans=("localhost", "127.0.0.1") if server else (),
        not_before=not_before or NOW - DAY, not_after=not_after or NOW + 365 * DAY, key_usage=LEAF_USAGE,
    )  # fmt: skip
    return issued.key, issued.cert


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
    _write(base + ".key", certs.key_pem(key).encode("ascii"), 0o600)
    _write(base + ".crt", certs.cert_pem(cert).encode("ascii"))


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
    _write(os.path.join(pki, "ca-bundle.crt"), certs.cert_pem(ca_cert).encode("ascii"))
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
