# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a broker serves to a client identity: one mutual-TLS handshake from the controller (action broker_tls).

The handshake verifies the chain against the CA bundle and the address against the certificate's names (an IP
address against its IP SANs, a name against its DNS SANs) exactly as a meter does; the served certificate's
fingerprint is in the PKI's format (``pki_crypto.fingerprint_sha256``) so that it compares with the PKI's record.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import socket
import ssl

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.pki_crypto import (
    fingerprint_sha256,
    serial_hex,
    try_load_cert,
)


class BrokerTlsError(Exception):
    """The handshake failed; the message says why (the TLS library's reason)."""


def client_context(ca_path, cert_path, key_path):
    """A TLS client context that verifies the broker (chain and name) and presents the client certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


def served_certificate(address, port, ca_path, cert_path, key_path, timeout=10):
    """The certificate the broker at ``address:port`` serves, as a dict; raises BrokerTlsError when refused."""
    try:
        context = client_context(ca_path, cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerTlsError(f"cannot load the CA bundle or the client certificate: {exc}") from None
    try:
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=address) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        raise BrokerTlsError(f"TLS handshake failed: {exc.verify_message or exc}") from None
    except (OSError, ssl.SSLError) as exc:
        raise BrokerTlsError(f"TLS handshake failed: {exc}") from None
    cert = try_load_cert(ssl.DER_cert_to_PEM_cert(der).encode("ascii"))
    if cert is None:
        raise BrokerTlsError("the broker served a certificate that cannot be parsed")
    return dict(
        fingerprint_sha256=fingerprint_sha256(cert),
        serial=serial_hex(cert.serial_number),
        subject=cert.subject.rfc4514_string(),
        tls_version=version,
    )


def check(address, port, ca_path, cert_path, key_path, expected, timeout=10):
    """``(ok, served, msg)``: whether the broker serves ``expected`` (the PKI's entry of its certificate)."""
    where = f"broker {address}:{port}"
    try:
        served = served_certificate(address, port, ca_path, cert_path, key_path, timeout)
    except BrokerTlsError as exc:
        return False, None, f"{where}: {exc}"
    if served["fingerprint_sha256"] != str(expected.get("fingerprint_sha256", "")).upper():
        return (
            False,
            served,
            (
                f"{where}: serves {served['fingerprint_sha256']} (serial {served['serial']}), expected "
                f"{expected.get('fingerprint_sha256')} (serial {expected.get('serial')}): run site.yml"
            ),
        )
    days = expected.get("days_left")
    left = f", {days} days left" if days is not None else ""
    return True, served, f"{where} serves serial {served['serial']}{left}"
