#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
---
module: device_verify
short_description: Verify that a batch of WhatWatt Go meters is connected to the broker and publishing
version_added: 1.0.0
description:
  - Runs once for a whole batch of meters (C(run_once=true)), on the controller. It is an action plugin; nothing
    runs on the meters or on the broker host.
  - Subscribes once, with paho-mqtt over TLS as the monitoring identity (client certificate O(cert_path)/O(key_path)),
    to the topic of every device in O(devices).
  - Polls each device's C(GET /api/v1/system) in a small thread pool until C(clouds.mqtc.connected) is true.
  - A device passes when it was seen connected B(and) a (not retained) message arrived on its topic after the monitor
    subscribed, that is after the push that preceded this task. Waiting ends when every device is decided or after
    O(verify_timeout) seconds, so a fleet pays about one report interval in total, not one per device.
  - A wrong password (401), an unknown path (404) or a refused subscription decide a device at once; connection
    errors and 5xx answers are retried until the timeout.
  - The task itself never fails because devices failed; it returns a verdict per device (RV(devices)) so the
    caller can roll back and fail only those hosts (the C(whatwatt.secure_mqtt.device) role does that). It fails
    when the verification cannot run at all (bad options, the monitor cannot connect or subscribe).
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
requirements:
  - paho-mqtt >= 2.0
  - requests
options:
  devices:
    description: The devices to verify.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The inventory name; results are keyed by it.
        type: str
        required: true
      host:
        description: Address of the device's REST API. Defaults to O(devices[].name).
        type: str
      port:
        description: Port of the device's REST API.
        type: int
        default: 80
      client_id:
        description: The device's MQTT client id (used in messages only).
        type: str
        required: true
      topic:
        description: The one topic the device publishes to. Topics must be unique within a run.
        type: str
        required: true
      password:
        description: Web UI password of this device; defaults to O(password).
        type: str
      template:
        description:
          - The device's payload template. When it is JSON, every payload the device publishes must parse,
            and no payload may hold a C(${...}) placeholder (an unknown variable); else the device fails with
            the payload in its reason.
        type: raw
  broker_host:
    description: Address of the broker's mutual-TLS listener, as in its certificate's SANs.
    type: str
    required: true
  broker_port:
    description: Port of the broker's mutual-TLS listener.
    type: int
    default: 8883
  ca_path:
    description: CA bundle (PEM) on the controller that verifies the broker's certificate.
    type: path
    required: true
  cert_path:
    description: The monitoring identity's client certificate (PEM) on the controller.
    type: path
    required: true
  key_path:
    description: The monitoring identity's private key (PEM) on the controller; it is read, never returned.
    type: path
    required: true
  monitor_client_id:
    description:
      - MQTT client id of the monitor session. Default a unique C(whatwatt-verify-<random>), so the run never
        takes over another session of the monitoring identity. The broker user name is the certificate's CN.
    type: str
  password:
    description: Web UI password used for every device without its own O(devices[].password).
    type: str
    default: ""
  verify_timeout:
    description:
      - Seconds to wait, from the moment the monitor has subscribed, for every device to pass (the same name as
        M(whatwatt.secure_mqtt.device_fleet)'s wait).
      - O(timeout) is its former name and stays an alias; unlike O(timeout) of the other device modules it is not
        an HTTP timeout (that is O(request_timeout) here).
    type: float
    default: 90
    aliases: [timeout]
  poll_interval:
    description: Seconds between two status polls of a device that is not connected yet.
    type: float
    default: 1.0
  request_timeout:
    description: Timeout in seconds of one REST call.
    type: float
    default: 5
  retries:
    description: Retries of one REST call after a 503 or a connection error.
    type: int
    default: 2
  workers:
    description: Threads polling devices in parallel.
    type: int
    default: 16
  details:
    description:
      - Which verdicts RV(devices) holds. C(failed) keeps only the devices that failed; every device's
        name is still in RV(ok_devices) or RV(failed_devices).
      - A C(run_once) task's registered result is copied to every host of the batch, and each later
        task that reads it walks it once per host; on a fleet of thousands C(all) makes that quadratic.
    type: str
    choices: [failed, all]
    default: failed
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: In check mode nothing was pushed, so nothing is verified; the task reports skipped.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
notes:
  - The monitoring identity must be allowed to subscribe to every device topic (the C(whatwatt.secure_mqtt.mosquitto)
    role's ACL lets it read C(<prefix>/#)).
  - Results never contain passwords or key material.
seealso:
  - module: whatwatt.secure_mqtt.device_mqtt
  - name: Device role guide
    description: docs/device-role.md in the collection.
    link: https://github.com/whatwatt-secure-mqtt/whatwatt.secure_mqtt/blob/main/docs/device-role.md
"""

EXAMPLES = r"""
# The whatwatt.secure_mqtt.device role builds the list from the batch's registered device_mqtt results:
- name: Verify the meters of this batch whose MQTT settings changed
  whatwatt.secure_mqtt.device_verify:
    devices: >-
      {%- set out = [] -%}
      {%- for h in ansible_play_batch if hostvars[h].push is changed -%}
      {%-   set settings = hostvars[h].push.settings -%}
      {%-   set _ = out.append({'name': h, 'host': hostvars[h].ansible_host,
                                'client_id': settings.client_id, 'topic': settings.topic}) -%}
      {%- endfor -%}
      {{ out }}
    broker_host: 192.0.2.10
    ca_path: /srv/whatwatt/pki/ca-bundle.crt
    cert_path: /srv/whatwatt/pki/clients/whatwatt-monitor.crt
    key_path: /srv/whatwatt/pki/clients/whatwatt-monitor.key
    verify_timeout: 90
  run_once: true
  register: verify

- name: Verify two meters explicitly
  whatwatt.secure_mqtt.device_verify:
    devices:
      - name: whatwatt-001
        host: 192.0.2.101
        client_id: whatwatt-001
        topic: meters/whatwatt-001
      - name: whatwatt-002
        host: 192.0.2.102
        client_id: whatwatt-002
        topic: meters/whatwatt-002
        password: "{{ vault_meter_002_password }}"
    broker_host: 192.0.2.10
    ca_path: /srv/whatwatt/pki/ca-bundle.crt
    cert_path: /srv/whatwatt/pki/clients/whatwatt-monitor.crt
    key_path: /srv/whatwatt/pki/clients/whatwatt-monitor.key
  run_once: true
"""

RETURN = r"""
devices:
  description: Verdict per device, keyed by O(devices[].name); only the failed ones unless O(details=all).
  returned: always
  type: dict
  contains:
    ok:
      description: Connected and a message seen.
      type: bool
    connected:
      description: C(clouds.mqtc.connected) was seen true.
      type: bool
    message_seen:
      description: A message arrived on the device's topic after the monitor subscribed.
      type: bool
    messages:
      description: Number of messages seen on the topic.
      type: int
    connected_after:
      description: Seconds after the start when the device was first seen connected.
      type: float
    message_after:
      description: Seconds after the start when the first message arrived.
      type: float
    polls:
      description: Status calls made.
      type: int
    client_id:
      description: The device's client id.
      type: str
    topic:
      description: The topic watched.
      type: str
    reason:
      description: Why the device failed, null when it passed.
      type: str
  sample:
    whatwatt-001:
      ok: true
      connected: true
      message_seen: true
      messages: 1
      connected_after: 0.02
      message_after: 1.4
      polls: 1
      client_id: whatwatt-001
      topic: meters/whatwatt-001
      reason: null
ok_devices:
  description: Names of the devices that passed.
  returned: always
  type: list
  elements: str
failed_devices:
  description: Names of the devices that failed (the task itself does not fail for them).
  returned: always
  type: list
  elements: str
elapsed:
  description: Seconds the verification waited after subscribing.
  returned: always
  type: float
"""
