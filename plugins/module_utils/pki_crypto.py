# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""X.509 building blocks of the fleet PKI: keys, CA and leaf certificates, CRLs, summaries.

Only ``cryptography`` calls live here; what to issue and when is decided in ``pki.py``.
"""

from __future__ import absolute_import, division, print_function


import datetime
import re

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module with missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import naming  # noqa: E402

# Certificates start slightly in the past so a controller and a meter whose clocks differ by a
# few minutes still agree that a fresh certificate is valid.
BACKDATE = datetime.timedelta(minutes=5)
SEC1_HEADER = b"-----BEGIN EC PRIVATE KEY-----"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)


class PkiError(Exception):
    """A PKI problem the module reports with fail_json (bad input, unusable files)."""


def utcnow():
    """Current time, timezone aware (UTC)."""
    return datetime.datetime.now(datetime.UTC)


def split_pem(data, label):
    """Return every PEM block of type ``label`` (e.g. ``CERTIFICATE``) in ``data`` as bytes."""
    if not data:
        return []
    wanted = label.encode("ascii")
    blocks = []
    for match in _PEM_BLOCK.finditer(data):
        if match.group(1) == wanted:
            block = match.group(0)
            if not block.endswith(b"\n"):
                block += b"\n"
            blocks.append(block)
    return blocks


def generate_key():
    """A new ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key, passphrase=None):
    """SEC1 (``EC PRIVATE KEY``) PEM, encrypted only when a passphrase is given (CA keys)."""
    if passphrase:
        encryption = serialization.BestAvailableEncryption(to_bytes(passphrase))
    else:
        encryption = serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption)


def to_bytes(value):
    """Text to UTF-8 bytes; bytes unchanged."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8")


def load_key(data, passphrase=None, what="key"):
    """Load a PEM private key; a passphrase given for an unencrypted key is ignored."""
    password = to_bytes(passphrase) if passphrase else None
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError:
        if password is None:
            raise PkiError(f"{what} is encrypted: key_passphrase is needed") from None
        try:
            return serialization.load_pem_private_key(data, password=None)
        except (TypeError, ValueError) as exc:
            raise PkiError(f"cannot load {what}: {exc}") from None
    except ValueError:
        raise PkiError(f"cannot load {what}: wrong passphrase or not a private key") from None


def try_load_cert(data):
    """Parse one PEM certificate; None when ``data`` is None or not a certificate."""
    if not data:
        return None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        return None


def public_der(key_or_cert):
    """DER SubjectPublicKeyInfo of a private key, public key or certificate (for comparisons)."""
    if hasattr(key_or_cert, "public_key"):
        key_or_cert = key_or_cert.public_key()
    return key_or_cert.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def make_name(common_name, organization=None):
    """Subject name: CN and, when given, O."""
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def build_ca(key, subject, not_before, not_after):
    """Self-signed root: CA:TRUE critical, keyCertSign + cRLSign, SHA-256."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def build_leaf(public_key, subject, dns_names, ip_addresses, server, ca_cert, ca_key, not_before, not_after):
    """Server (serverAuth, SANs) or client (clientAuth) certificate signed by ``ca_cert``."""
    eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
    )
    sans = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ip) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def build_crl(ca_cert, ca_key, entries, last_update, next_update, number):
    """CRL signed by the CA; ``entries`` are (serial int, revocation datetime) pairs."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(last_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
    )
    for serial, when in sorted(entries):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def _key_usage(cert_sign):
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def is_issued_by(cert, ca_cert):
    """True when ``ca_cert`` signed ``cert`` (name and signature both checked)."""
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_ca_cert(cert):
    """True when the certificate says CA:TRUE."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def cert_sans(cert):
    """(DNS names, IP addresses) of the certificate's subjectAltName, each a list."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)


def cert_eku(cert):
    """Set of extended key usage OIDs (dotted strings); empty when absent."""
    try:
        value = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    return {oid.dotted_string for oid in value}


def server_auth_oid():
    """Dotted OID of serverAuth."""
    return ExtendedKeyUsageOID.SERVER_AUTH.dotted_string


def client_auth_oid():
    """Dotted OID of clientAuth."""
    return ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string


def format_sans(dns_names, ip_addresses):
    """SANs as openssl prints them: ``DNS:x``, ``IP:1.2.3.4``."""
    return [f"DNS:{name}" for name in dns_names] + [f"IP:{ip}" for ip in ip_addresses]


def serial_hex(serial):
    """Serial as upper-case hex with an even number of digits (as in ``openssl x509 -serial``)."""
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


def fingerprint_sha256(cert):
    """SHA-256 fingerprint, ``AB:CD:...`` (as in ``openssl x509 -fingerprint -sha256``)."""
    return ":".join(f"{byte:02X}" for byte in cert.fingerprint(hashes.SHA256()))


def isoformat(when):
    """UTC timestamp as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ip(value):
    """Validated IP address object."""
    address = naming.ip_address(value)
    if address is None:
        raise PkiError(f"not an IP address: {value!r}")
    return address


def check_dns_name(value):
    """``value`` when it is a valid DNS name (RFC 1123 labels, an optional leading ``*.``), else PkiError."""
    name = str(value)
    if not naming.dns_name_ok(name):
        raise PkiError(f"not a valid DNS name: {name!r}")
    return name


def cert_summary(cert, now):
    """Public facts about a certificate, for results and diffs (never key material)."""
    dns_names, ips = cert_sans(cert)
    not_after = cert.not_valid_after_utc
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": format_sans(dns_names, ips),
        "serial": serial_hex(cert.serial_number),
        "fingerprint_sha256": fingerprint_sha256(cert),
        "not_before": isoformat(cert.not_valid_before_utc),
        "not_after": isoformat(not_after),
        "days_left": int((not_after - now).total_seconds() // 86400),
    }


def cert_pem(cert):
    """PEM text of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def crl_pem(crl):
    """PEM bytes of a CRL."""
    return crl.public_bytes(serialization.Encoding.PEM)


def load_crls(data):
    """Every CRL in a PEM file, in file order; unparsable blocks are skipped."""
    crls = []
    for block in split_pem(data, "X509 CRL"):
        try:
            crls.append(x509.load_pem_x509_crl(block))
        except ValueError:
            continue
    return crls


def crl_serials(crl):
    """Set of revoked serial numbers in a CRL."""
    return {revoked.serial_number for revoked in crl}
