#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: preflight
short_description: Check that the inventory holds what a whatwatt.secure_mqtt run needs, before anything is written
version_added: 1.0.0
description:
  - The first task of C(whatwatt.secure_mqtt.site) (and so of C(rotate), C(revoke) and C(ca_rollover)). It fails the
    run, naming each missing variable and the meters that lack it, before the PKI play creates anything.
  - C(whatwatt_pki_dir) must be set, absolute, and outside an installed collection (an upgrade replaces the
    collection's directory, and with it a CA key kept there).
  - Every meter needs C(whatwatt_broker_host).
  - Each meter's variables are read through C(hostvars) in Python, so the check costs one task for the whole fleet.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
options:
  pki_dir:
    description: The controller's PKI directory (C(whatwatt_pki_dir)).
    type: raw
  meters:
    description: Inventory names of the meters the run will provision (usually C(groups['meters'])).
    type: list
    elements: str
    default: []
  brokers:
    description: Inventory names of the broker hosts (only counted in the message).
    type: list
    elements: str
    default: []
  collection_root:
    description: Directory of the installed collection, for the test that the PKI is not inside it; found by default.
    type: path
attributes:
  action:
    details: Runs on the controller as an action plugin; it writes nothing and contacts no host.
  check_mode:
    support: full
    details: The same check; it never changes anything.
  diff_mode:
    support: none
seealso:
  - module: whatwatt.secure_mqtt.pki
"""

EXAMPLES = r"""
- name: Check the inventory before anything is written
  whatwatt.secure_mqtt.preflight:
    pki_dir: "{{ whatwatt_pki_dir | default(omit) }}"
    meters: "{{ groups['meters'] | default([]) }}"
    brokers: "{{ groups['brokers'] | default([]) }}"
"""

RETURN = r"""
errors:
  description: One message per problem (empty when the inventory is complete).
  returned: always
  type: list
  elements: str
  sample: ["whatwatt_broker_host is not set for 2 meter(s) (meter-1, meter-2): ..."]
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import (  # noqa: E402
    PREFLIGHT_ARGUMENT_SPEC,
    controller_only,
)


def main():
    controller_only("preflight", PREFLIGHT_ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
