#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: device_settings
short_description: Set a WhatWatt Go meter's report interval and Web UI protection
version_added: 1.0.0
description:
  - Compares C(services.report_interval) and C(system.protection) of C(GET /api/v1/settings) with
    the options and sends one C(PUT) with the fields that differ.
  - The Web UI password is write-only. The module does not store it or a hash of it; it proves it
    instead. When protection is on the meter only answers after authentication, and the module
    offers O(password) first and O(new_password) second, so it knows which of the two the meter
    holds. The password is sent only when protection is being turned on, when the meter accepted a
    password other than O(new_password), or with O(update_password=always).
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
  - whatwatt.secure_mqtt.device
options:
  report_interval:
    description: Seconds between MQTT publications (C(services.report_interval)), 1..3600.
    type: int
  protection:
    description: Web UI protection; when on, every API call needs the password.
    type: bool
  new_password:
    description:
      - The Web UI password the meter should have, at most 31 characters.
      - Needed to turn O(protection) on (O(password) is used when it is not given).
    type: str
  update_password:
    description:
      - C(on_change) sends O(new_password) only when the meter does not already accept it.
      - C(always) sends it on every run (the task then always reports a change).
    type: str
    choices: [on_change, always]
    default: on_change
attributes:
  check_mode:
    support: full
    details: Plans with one C(GET) only.
  diff_mode:
    support: full
    details: The password appears only as a marker, never its value.
seealso:
  - module: whatwatt.secure_mqtt.device_info
  - module: whatwatt.secure_mqtt.device_mqtt
"""

EXAMPLES = r"""
- name: Publish every 10 seconds and protect the Web UI
  whatwatt.secure_mqtt.device_settings:
    report_interval: 10
    protection: true
    new_password: "{{ whatwatt_password }}"

- name: Rotate the Web UI password
  whatwatt.secure_mqtt.device_settings:
    password: "{{ whatwatt_old_password }}"
    new_password: "{{ whatwatt_password }}"
"""

RETURN = r"""
previous:
  description: C(report_interval) and C(protection) before the task.
  returned: always
  type: dict
  sample: {report_interval: 30, protection: false}
settings:
  description: C(report_interval) and C(protection) after the task (predicted in check mode).
  returned: always
  type: dict
  sample: {report_interval: 10, protection: true}
password_changed:
  description: Whether the Web UI password was sent (or would be, in check mode).
  returned: always
  type: bool
changed_fields:
  description: Fields sent to the meter (C(password) stands for the write-only password).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import controller_only  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_settings import SETTINGS_ARGUMENT_SPEC  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import COMMON_ARGUMENT_SPEC  # noqa: E402


def main():
    controller_only("device_settings", dict(COMMON_ARGUMENT_SPEC, **SETTINGS_ARGUMENT_SPEC))


if __name__ == "__main__":
    main()
