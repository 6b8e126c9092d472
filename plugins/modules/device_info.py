#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: device_info
short_description: Read a WhatWatt Go meter's identity and MQTT state
version_added: 1.0.0
description:
  - Reads C(/api/v1/system) (one request) and, when asked, C(/api/v1/settings) and
    C(/api/v1/mqtt/settings), and returns the meter's identity, firmware, licence, MQTT client
    state and report interval.
  - Fails, with the facts still returned, when the firmware is older than O(min_firmware), the
    model is not O(expect_model) or the licence is not one of O(require_license).
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
  - whatwatt.secure_mqtt.device
  - ansible.builtin.action_common_attributes.facts
options:
  min_firmware:
    description:
      - Lowest acceptable firmware, compared numerically (C(1.10) is newer than C(1.9)).
      - Secure MQTT needs C(1.7.6) or later. Set to an empty string to skip the check.
    type: str
    default: "1.7.6"
  expect_model:
    description: Fail unless the meter reports exactly this model (for example C(WW_Go_1.2)).
    type: str
  require_license:
    description:
      - Fail unless the meter's licence type is one of these (case-insensitive), for example
        C([PLUS, PRO]); the MQTT client only runs on C(PLUS) or C(PRO).
    type: list
    elements: str
  gather:
    description:
      - Extra endpoints to read. C(settings) adds RV(whatwatt.report_interval) and
        RV(whatwatt.protection); C(mqtt) adds the readable MQTT settings under RV(whatwatt.mqtt).
    type: list
    elements: str
    choices: [settings, mqtt]
    default: [settings]
  set_facts:
    description: Also return the facts as C(ansible_facts.whatwatt).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
  facts:
    support: full
    details: With O(set_facts=true).
seealso:
  - module: whatwatt.secure_mqtt.device_mqtt
  - module: whatwatt.secure_mqtt.device_settings
"""

EXAMPLES = r"""
- name: Check the meter can do secure MQTT
  whatwatt.secure_mqtt.device_info:
    expect_model: WW_Go_1.2
    require_license: [PLUS, PRO]
  register: meter

- name: Show whether the MQTT client is connected
  ansible.builtin.debug:
    msg: "{{ meter.whatwatt.id }} connected={{ meter.whatwatt.mqtt.connected }}"
"""

RETURN = r"""
whatwatt:
  description: The meter's facts.
  returned: always (also when a requirement fails)
  type: dict
  contains:
    id:
      description: Device id, 12 hex digits.
      type: str
      sample: A0B1C2D3E4F5
    name:
      description: Device name.
      type: str
    hostname:
      description:
        - The meter's C(system.host_name) when O(gather) includes C(settings), else the vendor's default
          derived from the id (C(whatwatt_) and its last 6 hex digits).
      type: str
      sample: whatwatt_D3E4F5
    model:
      description: Model string.
      type: str
      sample: WW_Go_1.2
    firmware:
      description: Firmware version.
      type: str
      sample: 1.10.3
    build:
      description: Firmware build.
      type: str
    license:
      description: Licence type.
      type: str
      sample: PLUS
    license_activation_date:
      description: Licence activation date.
      type: str
    mqtt:
      description:
        - C(enabled) and C(connected) of the local MQTT client (C(clouds.mqtc)); with
          O(gather=[mqtt]) also C(url), C(client_id), C(topic), C(skip_cn_check) and C(key_len)
          (null when the meter does not report it, which is not the same as no key).
      type: dict
      sample: {enabled: true, connected: true}
    meter:
      description: The attached electricity meter (status, id, manufacturer, model, report_interval).
      type: dict
    ip:
      description: The meter's IP address as it reports it.
      type: str
    report_interval:
      description: C(services.report_interval), seconds between MQTT publications.
      type: int
      returned: when O(gather) contains C(settings)
      sample: 30
    protection:
      description: Whether Web UI protection (authentication) is on.
      type: bool
      returned: when O(gather) contains C(settings)
    auth:
      description: The authentication the meter asked for in this task, C(none), C(basic) or C(digest).
      type: str
      sample: digest
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import controller_only  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (  # noqa: E402
    COMMON_ARGUMENT_SPEC,
    INFO_ARGUMENT_SPEC,
)


def main():
    controller_only("device_info", dict(COMMON_ARGUMENT_SPEC, **INFO_ARGUMENT_SPEC))


if __name__ == "__main__":
    main()
