#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function


DOCUMENTATION = r"""
---
module: pki
short_description: Manage the fleet PKI (CA, broker and device certificates, CRL) in one task
version_added: 1.0.0
description:
  - Manages a PKI directory on the controller for the WhatWatt secure MQTT integration, that is a CA
    (ECDSA P-256, SHA-256), server certificates for the brokers with their IP addresses and DNS
    names as subjectAltName, one client certificate per device (CN = MQTT client id, SEC1
    C(EC PRIVATE KEY) keys) and a CRL signed by the CA.
  - The whole fleet is handled in one invocation. The CA key is loaded once, every leaf is checked
    and only the leaves that need it are issued again. Each leaf reports why in its C(reasons).
  - A run with nothing due writes nothing (file modification times stay unchanged).
  - Files are written atomically (temporary file and rename); directories are mode 0700, private keys 0600.
  - Run it on the controller (C(delegate_to=localhost), C(run_once=true)); the CA key never leaves it.
  - Layout of O(path) - C(ca.crt), C(ca.key), C(ca-bundle.crt), C(crl.pem), C(servers/<name>.crt|.key),
    C(clients/<client_id>.crt|.key), C(state.json); during a rollover also C(ca-next.crt|.key)
    (introduced CA) or C(ca-old.crt|.key) (previous CA, still trusted).
  - C(crl.pem) holds one CRL per trusted CA, the current CA's first.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
requirements:
  - cryptography >= 42.0
options:
  path:
    description: The PKI directory. Created (mode 0700) when missing.
    type: path
    required: true
  ca:
    description: The certificate authority.
    type: dict
    default: {}
    suboptions:
      common_name:
        description:
          - Subject CN of a generated CA. A CA introduced by a rollover gets the suffix C( G<n>).
          - Changing it does not replace an existing CA; use O(ca_rollover).
        type: str
        default: WhatWatt Secure MQTT Root CA
      organization:
        description: Subject O of a generated CA and of every leaf certificate.
        type: str
      valid_days:
        description: Lifetime of a generated CA in days.
        type: int
        default: 3650
      cert_src:
        description:
          - Bring your own CA, its certificate (PEM file on the controller). Needs O(ca.key_src).
          - Imported into C(ca.crt)/C(ca.key) when the directory has no CA yet. With
            O(ca_rollover=introduce) a different O(ca.cert_src) is introduced as the new CA.
        type: path
      key_src:
        description: Bring your own CA, its private key (PEM, may be encrypted with O(ca.key_passphrase)).
        type: path
      key_passphrase:
        description:
          - Passphrase of the CA keys (keep it in Ansible Vault). A generated CA key is encrypted with it.
          - Ignored for a key that is not encrypted.
        type: str
  servers:
    description: Broker (server) certificates.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: File name stem (C(servers/<name>.crt)).
        type: str
        required: true
      common_name:
        description: Subject CN; defaults to O(servers[].name).
        type: str
      dns_names:
        description: DNS names put in subjectAltName.
        type: list
        elements: str
        default: []
      ip_addresses:
        description: IP addresses put in subjectAltName.
        type: list
        elements: str
        default: []
      valid_days:
        description: Lifetime in days; defaults to O(valid_days).
        type: int
  clients:
    description:
      - Client certificates, one per device (and one for the monitor). Each item is a client id
        (string) or a dict with C(client_id) and optionally C(valid_days).
      - The client id is the certificate CN and the file name stem.
    type: list
    elements: raw
    default: []
  valid_days:
    description: Default lifetime of leaf certificates in days.
    type: int
    default: 365
  renew_before:
    description:
      - A leaf that expires within this time is issued again. C(30d), C(12h), C(90m), C(2w) or a number of seconds.
    type: raw
    default: 30d
  revoke:
    description:
      - Client ids or server names to revoke. The serial of the current certificate goes into the
        CRL and the revocation is recorded in C(state.json), so it sticks when the name is later
        dropped from this list.
      - A revoked name still listed in O(clients) or O(servers) is reported with reason C(revoked)
        and is never issued again silently; name it in O(renew) (and not in O(revoke)) to enrol it again.
    type: list
    elements: str
    default: []
  renew:
    description:
      - Names to issue again regardless of their state, or the string C(all). For rotation runs;
        not idempotent on purpose. C(all) does not re-enrol revoked names.
    type: raw
    default: []
  ca_rollover:
    description:
      - Step of a CA rollover; every step is idempotent and C(none) keeps whatever state the directory is in.
      - C(introduce) creates a new CA (C(ca-next.*)) and adds it to C(ca-bundle.crt) after the current one; leaves stay.
      - C(activate) makes the introduced CA current (C(ca.crt)/C(ca.key)); the previous one is kept as
        C(ca-old.*) and stays in the bundle; every leaf not signed by the new CA is issued again.
      - C(retire) drops the previous CA from the bundle and deletes C(ca-old.*).
    type: str
    choices: [none, introduce, activate, retire]
    default: none
  crl_valid_days:
    description:
      - Days between a CRL's lastUpdate and nextUpdate; C(0) (the default) sets each CRL's nextUpdate to the notAfter
        of the CA that signs it, so the CRL never lapses before a certificate of that CA.
      - Why 0 is safe here, where the broker never fetches a CRL (every CRL is pushed to it, C(revoke.yml) at once),
        is explained in docs/pki.md.
    type: int
    default: 0
  crl_refresh_before:
    description:
      - With O(crl_valid_days) above 0, the CRL is signed again when its nextUpdate is closer than this (same format
        as O(renew_before)). Unused with 0.
    type: raw
    default: 7d
attributes:
  action:
    support: full
    description:
      - With a local connection (C(delegate_to=localhost)), no C(become) and no C(async), the collection's action plugin
        runs this module's code inside the task's worker on the controller (no module transfer, no new Python);
        anywhere else it runs the module as usual. The result is the same.
  check_mode:
    support: full
    description: Reports what would be issued (reasons, subjects, SANs) without writing; new serials are not known.
  diff_mode:
    support: full
    description: Shows subjects, SANs, serials and expiry of what changes; never key material.
notes:
  - Results never hold private keys. Device plugins read C(clients.<id>.key_path) on the controller.
seealso:
  - name: PKI guide
    description: docs/pki.md in the collection.
    link: https://github.com/whatwatt-secure-mqtt/whatwatt.secure_mqtt/blob/main/docs/pki.md
"""

EXAMPLES = r"""
- name: Issue CA, broker and device certificates
  whatwatt.secure_mqtt.pki:
    path: /srv/whatwatt/pki
    servers:
      - name: broker
        dns_names: [mqtt.example.net]
        ip_addresses: [192.0.2.10]
    clients: [whatwatt-001, whatwatt-002, whatwatt-monitor]
    renew_before: 30d
  delegate_to: localhost
  run_once: true
  register: whatwatt_pki

- name: Revoke a stolen meter
  whatwatt.secure_mqtt.pki:
    path: /srv/whatwatt/pki
    clients: [whatwatt-001, whatwatt-002]
    revoke: [whatwatt-002]
  delegate_to: localhost
  run_once: true

- name: Bring your own CA
  whatwatt.secure_mqtt.pki:
    path: /srv/whatwatt/pki
    ca:
      cert_src: files/corp-ca.crt
      key_src: files/corp-ca.key
      key_passphrase: "{{ vault_ca_passphrase }}"
    clients: [whatwatt-001]
  delegate_to: localhost
  run_once: true

- name: CA rollover, step 1 of 3 (then activate, then retire)
  whatwatt.secure_mqtt.pki:
    path: /srv/whatwatt/pki
    clients: [whatwatt-001]
    ca_rollover: introduce
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
changed_files:
  description: Files (relative to O(path)) written or deleted, or that would be in check mode.
  returned: always
  type: list
  elements: str
identities:
  description:
    - Every client identity the PKI holds (a C(clients/<id>.crt) on disk or a client of this run), revoked ones left
      out. The broker's ACL is built from it, so a run limited to part of the fleet never drops the other meters.
  returned: always
  type: list
  elements: str
issued:
  description: Leaves issued in this run, as C(clients/<id>) or C(servers/<name>).
  returned: always
  type: list
  elements: str
path:
  description: Absolute PKI directory.
  returned: always
  type: str
ca:
  description: The current CA.
  returned: always
  type: dict
  contains:
    path:
      description: C(ca.crt).
      type: str
    key_path:
      description: C(ca.key) (stays on the controller).
      type: str
    bundle_path:
      description: C(ca-bundle.crt), every CA devices and brokers must trust.
      type: str
    subject:
      description: Subject (RFC 4514).
      type: str
    serial:
      description: Serial number (hex); null in check mode for a CA not yet created.
      type: str
    fingerprint_sha256:
      description: SHA-256 fingerprint C(AB:CD:...).
      type: str
    not_after:
      description: Expiry, C(YYYY-MM-DDTHH:MM:SSZ).
      type: str
    days_left:
      description: Whole days until expiry.
      type: int
    changed:
      description: Whether the CA set changed.
      type: bool
    reasons:
      description: C(created), C(imported), C(next_introduced), C(next_activated), C(old_retired).
      type: list
      elements: str
    rollover_phase:
      description: C(none), C(introduced) or C(activated).
      type: str
    bundle_fingerprints:
      description: Fingerprints of the certificates in C(ca-bundle.crt), in order.
      type: list
      elements: str
  sample:
    path: /srv/whatwatt/pki/ca.crt
    subject: CN=WhatWatt Secure MQTT Root CA
    rollover_phase: none
crl:
  description: The CRL file.
  returned: always
  type: dict
  contains:
    path:
      description: C(crl.pem).
      type: str
    changed:
      description: Whether it was signed again.
      type: bool
    reasons:
      description: C(missing), C(ca_changed), C(revocations_changed), C(refresh).
      type: list
      elements: str
    next_update:
      description: nextUpdate of the current CA's CRL.
      type: str
    revoked:
      description: Entries in the CRL, each with C(name), C(kind) and C(serial).
      type: list
      elements: dict
servers:
  description: Server certificates keyed by name; same fields as RV(clients).
  returned: always
  type: dict
clients:
  description:
    - Client certificates keyed by client id. Each value has C(changed), C(reasons) (C(missing),
      C(unreadable), C(key_mismatch), C(subject_drift), C(san_drift), C(profile_drift),
      C(not_signed_by_current_ca), C(expiring), C(forced), C(revoked)), C(revoked), C(cert_path),
      C(key_path), C(subject), C(sans), C(serial), C(fingerprint_sha256), C(not_before), C(not_after),
      C(days_left) and C(cert_pem).
    - For a certificate that would be issued in check mode the serial, dates and PEM are null.
  returned: always
  type: dict
  sample:
    whatwatt-001:
      changed: true
      reasons: [missing]
      revoked: false
      cert_path: /srv/whatwatt/pki/clients/whatwatt-001.crt
      key_path: /srv/whatwatt/pki/clients/whatwatt-001.key
      subject: CN=whatwatt-001
      sans: []
      serial: 5A0C...
      fingerprint_sha256: "AB:CD:..."
      not_before: "2026-01-01T00:00:00Z"
      not_after: "2027-01-01T00:00:00Z"
      days_left: 364
      cert_pem: "-----BEGIN CERTIFICATE-----..."
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import pki_crypto  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.pki import (  # noqa: E402
    PkiError,
    argument_spec,
    run_pki,
)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not pki_crypto.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(pki_crypto.CRYPTOGRAPHY_IMPORT_ERROR))
    try:
        result, warnings = run_pki(module.params, check_mode=module.check_mode, diff=module._diff)
    except PkiError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
