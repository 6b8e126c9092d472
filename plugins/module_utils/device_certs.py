# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificates and the key a meter is given: loading and checking them (chain, key, validity), their
fingerprints, the key password's salted fingerprint, and whether what a meter echoes differs from them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity


import datetime
import hashlib
import hmac
import os


try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    WhatWattError,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_fields import (
    LIMIT_KEY_PASSWORD,
)


_UTC = datetime.timezone.utc  # noqa: UP017


# -- certificates ----------------------------------------------------------------------------
def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def cert_fingerprint(cert):
    """SHA-256 of the certificate's DER, lowercase hex."""
    return hashlib.sha256(_der(cert)).hexdigest()


def public_key_fingerprint(public_key):
    """SHA-256 of the SubjectPublicKeyInfo: identifies a key pair without revealing the key."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def bundle_fingerprint(certs):
    """One fingerprint for a CA bundle (order matters: it is what the device receives)."""
    if len(certs) == 1:
        return cert_fingerprint(certs[0])
    return hashlib.sha256(b"".join(_der(c) for c in certs)).hexdigest()


def _utc(dt):
    return dt if dt.tzinfo else dt.replace(tzinfo=_UTC)


def not_after(cert):
    return getattr(cert, "not_valid_after_utc", None) or _utc(cert.not_valid_after)


def not_before(cert):
    return getattr(cert, "not_valid_before_utc", None) or _utc(cert.not_valid_before)


def _subject(cert):
    try:
        return cert.subject.rfc4514_string()
    except Exception:  # noqa: BLE001 - names are for messages only
        return "?"


class Certificates:
    """Certificate material for one device, validated; never printable with the key in it."""

    def __init__(self, ca_pem=None, cert_pem=None, key_pem=None, key_password=None):
        self.ca_pem = ca_pem
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.key_password = key_password
        self.ca_certs = []
        self.cert = None
        self.key_fingerprint = None
        self.warnings = []

    def __repr__(self):
        return f"Certificates({self.fingerprints()})"

    @property
    def manages_key(self):
        return self.key_pem is not None

    def fingerprints(self, salt=None):
        """What the record and the diff hold: fingerprints only."""
        fps = dict(
            ca_sha256=bundle_fingerprint(self.ca_certs) if self.ca_certs else None,
            cert_sha256=cert_fingerprint(self.cert) if self.cert is not None else None,
            pubkey_sha256=self.key_fingerprint,
        )
        if self.manages_key:
            fps["key_password"] = password_fingerprint(self.key_password, salt) if self.key_password else None
        return fps


def password_fingerprint(password, salt=None):
    """Salted PBKDF2 of a secret as ``pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>``."""
    iterations = 100000
    salt = bytes.fromhex(salt) if isinstance(salt, str) else (salt or os.urandom(16))
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2-sha256${iterations}${salt.hex()}${digest.hex()}"


def password_matches(password, fingerprint):
    """True when ``password`` produced ``fingerprint`` (constant-time compare)."""
    try:
        _algo, iterations, salt, digest = fingerprint.split("$")
        again = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except (AttributeError, ValueError):
        return False
    return hmac.compare_digest(again.hex(), digest)


def load_certificates(ca_pem, cert_pem, key_pem, key_password, label, now=None):
    """Parse and cross-check the certificate material; returns (Certificates, problems).

    Checks: each part parses; the client certificate needs the key and a CA; the key belongs to
    the certificate; a CA in the bundle signed the certificate; no CA and no client certificate
    is expired or not yet valid. Messages name the option and the device, never key content.
    """
    if not HAS_CRYPTOGRAPHY:
        raise WhatWattError(f"{label}: the Python library 'cryptography' is required: {CRYPTOGRAPHY_IMPORT_ERROR}")
    now = now or datetime.datetime.now(_UTC)
    certs = Certificates(ca_pem, cert_pem, key_pem, key_password)
    problems = []
    if (cert_pem is None) != (key_pem is None):
        problems.append("client certificate and client key must be given together")
    if cert_pem is not None and ca_pem is None:
        problems.append("a client certificate needs the CA (ca_path or ca_pem) too; they are pushed together")
    if key_password is not None and key_pem is None:
        problems.append("client_key_password needs a client key")
    if key_password is not None and len(key_password) > LIMIT_KEY_PASSWORD:
        problems.append(f"client_key_password must be at most {LIMIT_KEY_PASSWORD} characters")

    if ca_pem is not None:
        try:
            certs.ca_certs = x509.load_pem_x509_certificates(_b(ca_pem))
        except ValueError:
            problems.append("the CA (ca_path/ca_pem) is not a PEM certificate")
        for ca in certs.ca_certs:
            if not_after(ca) < now:
                problems.append(f"the CA {_subject(ca)} expired on {not_after(ca).date()}")
            elif not_before(ca) > now:
                problems.append(f"the CA {_subject(ca)} is not valid before {not_before(ca)}")
    if cert_pem is not None:
        try:
            loaded = x509.load_pem_x509_certificates(_b(cert_pem))
            certs.cert = loaded[0]
            if len(loaded) > 1:
                certs.warnings.append(f"{label}: only the first certificate of the client certificate file is used")
        except ValueError:
            problems.append("the client certificate (client_cert_path/client_cert_pem) is not a PEM certificate")
    if key_pem is not None:
        key = None
        try:
            key = serialization.load_pem_private_key(
                _b(key_pem), password=_b(key_password) if key_password is not None else None
            )
        except TypeError:
            if key_password is None:
                problems.append("the client key is encrypted: give client_key_password")
            else:
                problems.append("client_key_password was given but the client key is not encrypted")
        except (ValueError, UnsupportedAlgorithm):
            problems.append("the client key (client_key_path/client_key_pem) cannot be read (wrong format or password)")
        if key is not None:
            certs.key_fingerprint = public_key_fingerprint(key.public_key())
            if b"-----BEGIN EC PRIVATE KEY-----" not in _b(key_pem):
                certs.warnings.append(
                    f"{label}: the client key is not a SEC1 'EC PRIVATE KEY' PEM, the only format the vendor documents"
                )
    if certs.cert is not None:
        cert = certs.cert
        if not_after(cert) < now:
            problems.append(f"the client certificate {_subject(cert)} expired on {not_after(cert).date()}")
        elif not_before(cert) > now:
            problems.append(f"the client certificate {_subject(cert)} is not valid before {not_before(cert)}")
        if certs.key_fingerprint and public_key_fingerprint(cert.public_key()) != certs.key_fingerprint:
            problems.append(f"the client key does not belong to the client certificate {_subject(cert)}")
        if certs.ca_certs and not any(_signed_by(cert, ca) for ca in certs.ca_certs):
            problems.append(
                "the client certificate {} was not signed by the CA {}".format(
                    _subject(cert), ", ".join(_subject(c) for c in certs.ca_certs)
                )
            )
    return certs, [f"{label}: {p}" for p in problems]


def _signed_by(cert, ca):
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _b(value):
    return value.encode("utf-8") if isinstance(value, str) else value


def device_pem_differs(answer, path, pem):
    """Some firmware may echo certificates in GET; when it does, trust what it says."""
    node = answer
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, str) or "-----BEGIN" not in node or pem is None:
        return False
    try:
        mine = [_der(c) for c in x509.load_pem_x509_certificates(_b(pem))]
        theirs = [_der(c) for c in x509.load_pem_x509_certificates(_b(node))]
    except ValueError:
        return True
    return mine != theirs
