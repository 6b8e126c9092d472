#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: device_fleet
short_description: Push MQTT settings and certificates to a batch of WhatWatt Go meters, verify them, roll back failures
version_added: 1.0.0
description:
  - One task for a whole batch of meters (C(run_once=true) over C(ansible_play_batch)), on the controller.
    For each meter it does what M(whatwatt.secure_mqtt.device_mqtt) (C(mode=apply)) and, with O(report_interval),
    M(whatwatt.secure_mqtt.device_settings) do, in a thread pool of O(workers); then, like
    M(whatwatt.secure_mqtt.device_verify), it waits once for every meter whose push changed something to be
    connected and publishing; a meter that does not come up gets its previous settings and certificates back
    (C(device_mqtt mode=rollback)).
  - Order of work, so nothing is lost and nothing is changed in vain. First every meter is planned (one C(GET));
    when some will change, the monitor connects and subscribes to their topics B(before) anything is pushed (a
    meter's first message after its push is never missed), then the meters that differ are pushed, each one
    counted for verification from the moment its push is done.
  - Meters that do not answer cost the batch one meter's attempts (all of them side by side), not a worker each
    for all its attempts. In the plan such a meter is tried once, and after 1 s of silence it stops counting
    against O(workers) (the next meter starts; at most 256 meters wait at once). Its remaining O(retries) run in
    the background while the others are pushed and verified; if it answers then, it is pushed and verified in a
    round of its own, after them. A meter that never answers fails alone, named, with the number of attempts.
  - On a large fleet this replaces three or four per-host tasks (each costing the controller 15-25 ms per meter
    even when skipped) with one task per batch.
  - Each meter's entry is validated on its own before its first request; a bad field, an unreachable meter or a
    refused request is that meter's outcome (RV(devices)), never the others'. Two meters sharing a topic are both
    refused (their messages could not be told apart).
  - The task fails only when it cannot work at all (bad fleet-wide options, the monitoring identity unreadable, or
    the monitor unable to connect or subscribe when meters are about to change), and then no meter has been
    changed. Use M(whatwatt.secure_mqtt.device_fleet_result) on every host afterwards so each meter's
    changed/failed status and diff show up as that host's task result and in the play recap.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
requirements:
  - requests
  - cryptography
  - paho-mqtt >= 2.0 (unless O(verify=none))
options:
  devices:
    description:
      - The meters of the batch, one entry each.
      - Unset fields fall back to the fleet-wide option of the same name.
      - Exactly one of O(devices) and O(hosts) is required.
    type: list
    elements: dict
    suboptions:
      name:
        description: Inventory name; outcomes are keyed by it, and it is the default client id.
        type: str
        required: true
      host:
        description: Address of the meter's REST API. Defaults to O(devices[].name).
        type: str
      port:
        description: Port of the meter's REST API (default 80).
        type: int
      password:
        description: Web UI password of this meter; defaults to O(password).
        type: str
      client_id:
        description: MQTT client id (1..63 bytes), also the CN of its certificate. Defaults to O(devices[].name).
        type: str
      topic:
        description: The one topic the meter publishes to (1..127 bytes, no wildcards). Required.
        type: str
      template:
        description: Payload template; defaults to O(template).
        type: raw
      template_preset:
        description: A named template instead of O(devices[].template); defaults to O(template_preset).
        type: str
      name_check_ignores_ip_sans:
        description: Defaults to O(name_check_ignores_ip_sans).
        type: bool
      single_broker_certificate:
        description: Defaults to O(single_broker_certificate).
        type: bool
      skip_cn_check:
        description: Defaults to O(skip_cn_check).
        type: bool
      force_certificates:
        description: Defaults to O(force_certificates).
        type: bool
      report_interval:
        description: Defaults to O(report_interval).
        type: int
      client_cert_path:
        description: Client certificate (PEM). Defaults to O(certs_dir)C(/<client_id>.crt).
        type: path
      client_key_path:
        description: Client key (PEM). Defaults to O(certs_dir)C(/<client_id>.key).
        type: path
      ca_path:
        description: CA bundle pushed to this meter; defaults to O(ca_path).
        type: path
      certs_dir:
        description: Directory of this meter's certificate and key; defaults to O(certs_dir).
        type: path
      record_dir:
        description: Record directory of this meter; defaults to O(record_dir).
        type: path
      broker_host:
        description:
          - Broker of this meter; defaults to O(broker_host).
          - Unless O(verify=none), it must equal O(broker_host) and O(broker_port), where the batch is verified;
            a meter of another broker is refused before anything is sent.
        type: str
      broker_port:
        description: Broker port of this meter; defaults to O(broker_port).
        type: int
      scheme:
        description: URL scheme of this meter; defaults to O(scheme).
        type: str
        choices: [mqtt, mqtts]
  hosts:
    description:
      - Inventory names of the batch's meters (the device role passes C(ansible_play_batch)); instead of O(devices).
      - Each meter's entry is resolved here from that meter's own variables, as Ansible would give them to a task
        on it (role defaults, inventory, play and role variables, extra vars, with Ansible's precedence) - the
        role variables C(whatwatt_client_id), C(whatwatt_topic), C(whatwatt_template), C(whatwatt_password), ...
        (see the device role), C(ansible_host) and C(whatwatt_api_port). No per-host task is needed to collect them.
      - A meter whose variables cannot be templated (an undefined variable) fails alone, naming the variable.
    type: list
    elements: str
    version_added: 2.0.0
  outcomes:
    description:
      - Which meters' outcomes the result holds. C(all) - every meter in RV(devices) and every list.
      - C(reported) - only the meters that changed or failed (RV(devices), RV(verified_devices) and
        RV(rolled_back_devices) are limited to them; RV(counts) still counts every meter). The device role uses it - a
        C(run_once) result is registered on every host of the batch and each later per-host task pays for its size
        on every host.
    type: str
    choices: [all, reported]
    default: all
    version_added: 2.0.0
  broker_host:
    description:
      - Broker address as the meters reach it (in the broker certificate's SANs).
      - Also where the monitor connects to verify.
    type: str
    required: true
  broker_port:
    description: Port of the broker's mutual-TLS listener.
    type: int
    default: 8883
  scheme:
    description: URL scheme the meters use; C(mqtts) is TLS.
    type: str
    choices: [mqtt, mqtts]
    default: mqtts
  template:
    description:
      - Payload template (at most 1023 bytes) for meters whose entry has none; unset leaves the meter's value.
      - Checked before anything is sent against the variable names the vendor documents (a typo would stay
        literally in every payload); when it is JSON, verification parses every payload the meter publishes.
    type: raw
  template_preset:
    description:
      - A named template that replaces O(template) (and O(devices[].template)) when set.
      - C(compact) is the role's default template (C(sys_id), C(P_In), C(P_Out), C(E_In), C(E_Out), C(ts)).
      - C(home_assistant) is what the vendor's Home Assistant integration reads (C(sys_id), C(meter_id),
        C(time), C(tariff), C(power_in), C(power_out), C(power_in_l1..3), C(power_out_l1..3), C(energy_in),
        C(energy_out), C(energy_in_t1/t2), C(energy_out_t1/t2), C(voltage_l1..3), C(current_l1..3),
        C(power_factor), C(reactive_power_in/out), C(reactive_energy_in/out)).
      - Another name fails the meter before anything is sent.
    type: str
  skip_cn_check:
    description: Let the meters skip the broker certificate's name check (only for SAN-less certificates).
    type: bool
    default: false
  force_certificates:
    description: Push the certificates again even when the record says the meter has them.
    type: bool
    default: false
  report_interval:
    description: Set C(services.report_interval) (1..3600 s) after the push; unset leaves it alone.
    type: int
  password:
    description: Web UI password for meters whose entry has none; empty means no authentication.
    type: str
    default: ""
  ca_path:
    description: CA bundle (PEM) the meters trust for the broker, and the monitor too.
    type: path
    required: true
  certs_dir:
    description: Directory of the client certificates and keys, C(<client_id>.crt) and C(<client_id>.key).
    type: path
  record_dir:
    description:
      - Controller directory of the per-meter records of what was pushed.
      - The same records as M(whatwatt.secure_mqtt.device_mqtt) keeps; needed for rollback.
    type: path
    required: true
  timeout:
    description: Seconds per HTTP request to a meter.
    type: float
    default: 10
  retries:
    description: Repeats of a request after a connection error, a timeout or a C(503).
    type: int
    default: 3
  verify:
    description:
      - C(changed) verifies the meters whose push changed something (none in check mode).
      - C(all) verifies every meter of the batch, also in check mode (verification only reads).
      - C(none) skips verification and rollback.
    type: str
    choices: [changed, all, none]
    default: changed
  verify_timeout:
    description: Seconds the batch waits for its meters to connect and publish (about one report interval is enough).
    type: float
    default: 90
  monitor_cert_path:
    description:
      - Client certificate of the monitoring identity (allowed to read every meter's topic).
      - Required unless O(verify=none).
    type: path
  monitor_key_path:
    description: Private key of the monitoring identity; read, never returned. Required unless O(verify=none).
    type: path
  monitor_client_id:
    description:
      - MQTT client id of the monitor; default a random C(whatwatt-verify-<hex>). A broker that binds client ids
        to certificate identities (the C(whatwatt.secure_mqtt.mosquitto) role's does) uses the monitor's identity.
    type: str
  monitor_identities:
    description:
      - Reader identities (monitoring, verify, watch). A meter whose client id is one of them is refused before
        anything is sent, as are meters sharing a client id with another meter of the batch (each message names
        the other), since with client ids bound to identities they would displace each other's session.
    type: list
    elements: str
    default: []
  rollback:
    description: Roll back a meter that changed in this run and failed verification.
    type: bool
    default: true
  drift:
    description:
      - C(change) reports a meter that differs as changed (would change, in check mode).
      - C(fail) fails such a meter in check mode with "settings or certificates differ from the inventory" (for audits).
    type: str
    choices: [change, fail]
    default: change
  workers:
    description:
      - Meters worked on at the same time (threads in the controller process).
      - In the plan, a meter silent for more than 1 s no longer counts (see the description).
    type: int
    default: 16
  max_fail_percentage:
    description:
      - Stop the rollout when more than this percentage of the batch's meters failed (Ansible's rule for the play
        keyword of the same name), reported as RV(stop_rollout); the module itself only reports it.
      - C(playbooks/tasks/meters.yml) ends the play on it, so the batches after a bad one are not touched
        (its meters fail in the report play, after it).
    type: int
    default: 100
    version_added: 2.0.0
  name_check_ignores_ip_sans:
    description:
      - The meters' server-name check knows DNS names (and the CN) only, not IP SANs (the vendor does not say).
      - Then a meter whose URL holds an IP with O(skip_cn_check=false) is refused before anything is sent, with
        a message to use a DNS name.
    type: bool
    default: false
  single_broker_certificate:
    description:
      - The meters keep only the first certificate of C(broker.certificate) (the vendor does not say).
      - Then a meter is refused before anything is sent while the CA bundle holds more than one CA.
    type: bool
    default: false
attributes:
  action:
    details: Runs on the controller as an action plugin; nothing runs on the meters.
  bypass_host_loop:
    details: Run it with C(run_once=true); it works on the meters listed in O(devices), not on the task's host.
  check_mode:
    support: full
    details: One C(GET) per meter (two with O(report_interval)); nothing is pushed, no record is written.
  diff_mode:
    support: full
    details:
      - Per meter in RV(devices) (readable fields and fingerprints, never a key).
      - Shown per host by M(whatwatt.secure_mqtt.device_fleet_result).
notes:
  - Results never contain passwords or key material; per-meter passwords are only in the task's arguments.
  - The task's own C(changed) is true when any meter changed; the C(whatwatt.secure_mqtt.device) role reports
    changes per meter instead (C(changed_when=false) here, M(whatwatt.secure_mqtt.device_fleet_result) per host).
seealso:
  - module: whatwatt.secure_mqtt.device_fleet_result
  - module: whatwatt.secure_mqtt.device_mqtt
  - module: whatwatt.secure_mqtt.device_verify
"""

EXAMPLES = r"""
- name: Push, verify and roll back the whole batch in one task
  whatwatt.secure_mqtt.device_fleet:
    devices:
      - {name: meter-001, host: 192.0.2.101, topic: meters/meter-001}
      - {name: meter-002, host: 192.0.2.102, topic: meters/meter-002, password: "{{ vault_meter_002_password }}"}
    broker_host: 192.0.2.10
    ca_path: "{{ pki }}/ca-bundle.crt"
    certs_dir: "{{ pki }}/clients"
    record_dir: "{{ pki }}/devices"
    monitor_cert_path: "{{ pki }}/clients/whatwatt-monitor.crt"
    monitor_key_path: "{{ pki }}/clients/whatwatt-monitor.key"
  vars:
    pki: /srv/whatwatt/pki
  run_once: true
  changed_when: false
  register: whatwatt_device_fleet

- name: Give each meter its own status
  whatwatt.secure_mqtt.device_fleet_result:
    result: whatwatt_device_fleet
"""

RETURN = r"""
devices:
  description: The outcome of each meter, keyed by name.
  returned: always
  type: dict
  contains:
    changed:
      description: Whether the meter was changed (would be, in check mode).
      type: bool
    failed:
      description: Whether the meter failed (bad input, request refused, verification failed).
      type: bool
    msg:
      description: What happened, naming the meter on failure (with the rollback's outcome).
      type: str
    settings:
      description: Readable MQTT settings after the run (as in M(whatwatt.secure_mqtt.device_mqtt)).
      type: dict
    reasons:
      description: Why certificates were pushed.
      type: list
      elements: str
    diff:
      description: Before/after of readable fields and certificate fingerprints (and the report interval).
      type: dict
    verified:
      description: Whether the meter was seen connected and publishing; absent when it was not verified.
      type: bool
    verification:
      description: The verdict (as in M(whatwatt.secure_mqtt.device_verify)).
      type: dict
    rolled_back:
      description: Whether the previous settings and certificates were put back.
      type: bool
  sample:
    meter-001:
      changed: true
      failed: false
      msg: "changed: url, topic; certificates (no record); connected and publishing"
changed_devices:
  description: Names of the meters that changed (would change).
  returned: always
  type: list
  elements: str
failed_devices:
  description: Names of the meters that failed.
  returned: always
  type: list
  elements: str
verified_devices:
  description: Names of the meters seen connected and publishing.
  returned: always
  type: list
  elements: str
rolled_back_devices:
  description: Names of the meters that were rolled back.
  returned: always
  type: list
  elements: str
elapsed:
  description: Seconds the whole batch took.
  returned: always
  type: float
timings:
  description:
    - Seconds per phase - C(plan) (the pre-flight and one GET per meter), and C(push), C(verify) and C(rollback)
      when they ran.
    - C(late_plan) - the retries of the meters that did not answer in the plan (run while the others are pushed
      and verified), and C(late_push), C(late_verify), C(late_rollback) for those that answered then.
    - C(variables) - with O(hosts), resolving each meter's own variables before the plan.
  returned: always
  type: dict
  sample: {variables: 0.4, plan: 1.1, push: 1.8, verify: 4.2}
stop_rollout:
  description: Whether more than O(max_fail_percentage) of the batch's meters failed.
  returned: always
  type: bool
  version_added: 2.0.0
stop_message:
  description: Why the rollout stops (how many of the batch failed), empty when it does not.
  returned: always
  type: str
  sample: >-
    2 of 10 meters of this batch failed, more than max_fail_percentage 0 %: the rollout stops here, later batches
    are not touched
  version_added: 2.0.0
counts:
  description: How many meters the batch held, changed, verified, failed and rolled back (whatever O(outcomes) says).
  returned: always
  type: dict
  sample: {meters: 1000, changed: 3, verified: 3, failed: 0, rolled_back: 0}
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import controller_only  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_fleet import (  # noqa: E402
    DEVICE_SPEC,
    FLEET_ARGUMENT_SPEC,
    FLEET_EXCLUSIVE,
    FLEET_REQUIRED_IF,
)


def main():
    # The action plugin validates each entry of devices on its own (one bad meter fails alone); the
    # documentation describes the entries, so this spec spells them out.
    spec = dict(FLEET_ARGUMENT_SPEC, devices=dict(type="list", elements="dict", options=DEVICE_SPEC))
    controller_only("device_fleet", spec, mutually_exclusive=FLEET_EXCLUSIVE, required_one_of=FLEET_EXCLUSIVE,
                    required_if=FLEET_REQUIRED_IF)  # fmt: skip


if __name__ == "__main__":
    main()
