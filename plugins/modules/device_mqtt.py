#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: device_mqtt
short_description: Configure a WhatWatt Go meter's MQTT client, certificates included
version_added: 1.0.0
description:
  - Compares the readable MQTT settings (C(GET /api/v1/mqtt/settings)) with the options and sends
    one C(PUT) with only the fields that differ, plus the CA, client certificate and key together
    when they must be pushed. The meter's answer to the C(PUT) confirms the change.
  - The meter never shows the certificates or the key it holds, so the controller keeps a record
    of what it last pushed to each client id in O(record_dir). Certificates are pushed again only
    when their fingerprints differ from the record, when there is no record, when the meter
    reports C(key_len) 0 (no key), when a meter that does not report C(key_len) shows C(client_id),
    C(url) or C(enable) back at their factory defaults (factory reset), or with
    O(force_certificates=true). An absent C(key_len) means "not reported", never "no key".
  - Everything is validated before the first request; a bad option fails with a message that names
    the option and the meter, and nothing is changed.
  - Options left unset (O(url)/O(broker_host), O(topic), O(template)) are not managed; the meter keeps
    its value.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
  - whatwatt.secure_mqtt.device
options:
  mode:
    description:
      - C(apply) makes the meter match the options.
      - C(rollback) pushes the previous generation in the record (settings, and certificates when
        that generation had any) back to the meter; the record then holds that generation as both
        current and previous, so a second rollback changes nothing. Only O(client_id),
        O(record_dir) and O(client_key_password) are used.
    type: str
    choices: [apply, rollback]
    default: apply
  enable:
    description: Turn the MQTT client on or off.
    type: bool
    default: true
  url:
    description:
      - Broker URL, C(mqtt://host:port) or C(mqtts://host:port), at most 127 bytes.
      - Mutually exclusive with O(broker_host).
    type: str
  broker_host:
    description: Broker address or name; the URL becomes O(scheme)C(://)O(broker_host)C(:)O(broker_port).
    type: str
  broker_port:
    description: Broker port used with O(broker_host).
    type: int
    default: 8883
  scheme:
    description: URL scheme used with O(broker_host); C(mqtts) is TLS.
    type: str
    choices: [mqtt, mqtts]
    default: mqtts
  client_id:
    description:
      - MQTT client id, 1..63 bytes, without C(+), C(#) or control characters; must be unique per
        broker and equal to the CN of the client certificate.
      - Defaults to the host variable C(whatwatt_client_id), else the inventory name.
      - Also names the record files, so it must not contain C(/) or start with C(.) when
        O(record_dir) is set.
    type: str
  topic:
    description: The topic the meter publishes to, 1..127 bytes, without C(+) or C(#).
    type: str
  template:
    description:
      - Payload template with C(${variable}) placeholders, at most 1023 bytes.
      - A template that Ansible's templating turned into a dictionary or list (a JSON object whose
        placeholders are all quoted) is sent as compact JSON, the same text on every run.
    type: raw
  skip_cn_check:
    description:
      - Skip the meter's check of the broker certificate's name.
      - Leave C(false) when the broker certificate carries the broker's address in its SANs.
    type: bool
    default: false
  ca_path:
    description:
      - Controller path of the CA certificate(s) the meter must trust for the broker.
      - PEM; a bundle of several CAs is allowed (during a CA rollover).
    type: path
  ca_pem:
    description: The same as O(ca_path), as PEM text.
    type: str
  client_cert_path:
    description: Controller path of the meter's client certificate (PEM). Needs the key and the CA.
    type: path
  client_cert_pem:
    description: The same as O(client_cert_path), as PEM text.
    type: str
  client_key_path:
    description:
      - Controller path of the client key (the vendor documents SEC1 C(EC PRIVATE KEY) PEM). Read in
        the controller process; its content never appears in results, diffs or messages.
    type: path
  client_key_pem:
    description: The same as O(client_key_path), as PEM text.
    type: str
  client_key_password:
    description: Password of an encrypted client key; sent as C(client.key_password). Only a salted hash is recorded.
    type: str
  force_certificates:
    description: Push the CA, certificate and key even when the record says the meter has them.
    type: bool
    default: false
  record_dir:
    description:
      - Controller directory (created 0700) where the record of what was pushed to each client id is
        kept, written atomically with mode 0600; C(<client_id>.json) holds fingerprints and the
        readable settings, C(<client_id>.ca.crt), C(.crt) and C(.key) copies of the current
        certificates, C(<client_id>.previous.*) those of the generation before.
      - Required when certificates are given and with O(mode=rollback).
    type: path
attributes:
  check_mode:
    support: full
    details: Plans with one C(GET) only; the record is not written.
  diff_mode:
    support: full
    details: Readable fields and certificate fingerprints, never a key or password.
seealso:
  - module: whatwatt.secure_mqtt.device_info
  - module: whatwatt.secure_mqtt.device_settings
"""

EXAMPLES = r"""
- name: Provision secure MQTT on every meter
  whatwatt.secure_mqtt.device_mqtt:
    broker_host: "{{ whatwatt_broker_host }}"
    broker_port: 8883
    client_id: "{{ whatwatt_client_id | default(inventory_hostname) }}"
    topic: "meters/{{ whatwatt_client_id | default(inventory_hostname) }}"
    template: '{"sys_id": "${sys.id}", "P_In": ${1_7_0}, "P_Out": ${2_7_0}}'
    ca_path: "{{ whatwatt_pki_dir }}/ca-bundle.crt"
    client_cert_path: "{{ whatwatt_pki_dir }}/clients/{{ inventory_hostname }}.crt"
    client_key_path: "{{ whatwatt_pki_dir }}/clients/{{ inventory_hostname }}.key"
    record_dir: "{{ whatwatt_pki_dir }}/devices"
  register: mqtt

- name: Roll a meter back to what it had before
  whatwatt.secure_mqtt.device_mqtt:
    mode: rollback
    record_dir: "{{ whatwatt_pki_dir }}/devices"
"""

RETURN = r"""
pushed_certificates:
  description: Whether the CA, client certificate and key were sent (or would be, in check mode).
  returned: always
  type: bool
reasons:
  description: Why certificates were pushed.
  returned: always
  type: list
  elements: str
  sample: ["client certificate fingerprint changed", "key_len 0 on device (factory reset?)"]
changed_fields:
  description: Readable fields that differed and were sent.
  returned: always
  type: list
  elements: str
  sample: [url, topic]
previous:
  description:
    - Readable settings before the task.
    - C(enable), C(url), C(client_id), C(skip_cn_check), C(topic), C(template).
  returned: always
  type: dict
settings:
  description: Readable settings after the task, as the meter confirmed them (predicted in check mode).
  returned: always
  type: dict
  sample: {enable: true, url: "mqtts://192.0.2.10:8883", client_id: whatwatt-001, skip_cn_check: false,
           topic: meters/whatwatt-001, template: "{}"}
body_bytes:
  description: Size of the PUT body (limit 8000); 0 when nothing is sent.
  returned: always
  type: int
record:
  description: Path of the record file of this client id.
  returned: when O(record_dir) is set
  type: str
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import controller_only  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_mqtt import (  # noqa: E402
    MQTT_ARGUMENT_SPEC,
    MQTT_MUTUALLY_EXCLUSIVE,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import COMMON_ARGUMENT_SPEC  # noqa: E402


def main():
    controller_only(
        "device_mqtt", dict(COMMON_ARGUMENT_SPEC, **MQTT_ARGUMENT_SPEC), mutually_exclusive=MQTT_MUTUALLY_EXCLUSIVE
    )


if __name__ == "__main__":
    main()
