#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: broker_tls
short_description: Check that a broker serves the PKI's certificate to a client identity over mutual TLS
version_added: 2.0.0
description:
  - One TLS handshake from the controller to O(address):O(port) with a client certificate, as a meter makes it - the
    chain is verified against O(ca_path) and O(address) against the served certificate's names (an IP address
    against its IP SANs, a name against its DNS SANs).
  - The served certificate's SHA-256 fingerprint (C(AB:CD:...), the format of M(whatwatt.secure_mqtt.pki)'s results)
    must be O(expected)'s; otherwise the task fails and says what the broker serves.
  - Used by C(verify.yml). Reads only; sends no MQTT packet.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
options:
  address:
    description: Address the meters use for the broker (a DNS name or an IP address), also the name verified.
    type: str
    required: true
  port:
    description: The broker's TLS listener.
    type: int
    default: 8883
  ca_path:
    description: CA bundle the served chain must verify against (C(<whatwatt_pki_dir>/ca-bundle.crt)).
    type: path
    required: true
  client_cert_path:
    description: Certificate of the client identity presented to the broker.
    type: path
    required: true
  client_key_path:
    description: Private key of that certificate (read on the controller, never in the result).
    type: path
    required: true
  expected:
    description:
      - The PKI's entry of the broker's certificate (C(whatwatt_pki.servers[<name>])); its C(fingerprint_sha256),
        C(serial) and C(days_left) are used.
    type: dict
    required: true
  timeout:
    description: Seconds for the TCP connection and the handshake.
    type: int
    default: 10
attributes:
  action:
    details: Runs on the controller as an action plugin; the handshake starts there.
  check_mode:
    support: full
    details: Makes the same handshake in check mode; it never changes anything.
  diff_mode:
    support: none
seealso:
  - module: whatwatt.secure_mqtt.pki
    description: Its C(servers) result is what O(expected) takes.
"""

EXAMPLES = r"""
- name: Check that the broker serves the certificate in the PKI
  whatwatt.secure_mqtt.broker_tls:
    address: mqtt.example.net
    port: 8883
    ca_path: /srv/whatwatt-pki/ca-bundle.crt
    client_cert_path: /srv/whatwatt-pki/clients/whatwatt-verify.crt
    client_key_path: /srv/whatwatt-pki/clients/whatwatt-verify.key
    expected: "{{ hostvars['localhost'].whatwatt_pki.servers['broker1'] }}"
"""

RETURN = r"""
served:
  description: The certificate the broker served (none when the handshake failed).
  returned: always
  type: dict
  contains:
    fingerprint_sha256:
      description: SHA-256 fingerprint, C(AB:CD:...).
      type: str
    serial:
      description: Serial number, upper-case hex.
      type: str
    subject:
      description: Subject (RFC 4514).
      type: str
    tls_version:
      description: The TLS version negotiated.
      type: str
msg:
  description: What the broker serves, or why the check failed (the TLS library's reason for a refused handshake).
  returned: always
  type: str
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import (  # noqa: E402
    BROKER_TLS_ARGUMENT_SPEC,
    controller_only,
)


def main():
    controller_only("broker_tls", BROKER_TLS_ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
