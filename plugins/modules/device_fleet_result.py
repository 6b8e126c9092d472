#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: device_fleet_result
short_description: Report one meter's outcome of a whatwatt.secure_mqtt.device_fleet run as that host's task result
version_added: 1.0.0
description:
  - M(whatwatt.secure_mqtt.device_fleet) works on a whole batch in one C(run_once) task, so Ansible would count its
    result for one host only. Run this on the meters afterwards; it returns the meter's own outcome, so the host is
    C(changed) when its meter changed, C(failed) (with the reason, naming the meter) when its meter failed, and
    C(--diff) shows that meter's diff.
  - The C(whatwatt.secure_mqtt.device) role runs it only on the meters that changed or failed (the others end the
    role with C(meta end_role), which costs no worker process).
  - It reads the registered variable named by O(result) directly from the task variables instead of templating it,
    so each host costs the same whatever the size of the batch.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
options:
  result:
    description: Name of the variable the device_fleet task was registered as.
    type: str
    default: whatwatt_device_fleet
  name:
    description: Which meter's outcome to report; defaults to C(inventory_hostname).
    type: str
attributes:
  action:
    details: Runs on the controller as an action plugin; it makes no request.
  check_mode:
    support: full
    details: Reports what the device_fleet run did in check mode (would change).
  diff_mode:
    support: full
    details: The meter's diff from the device_fleet run (readable fields and fingerprints, never a key).
seealso:
  - module: whatwatt.secure_mqtt.device_fleet
"""

EXAMPLES = r"""
- name: Give each meter its own status
  whatwatt.secure_mqtt.device_fleet_result:
    result: whatwatt_device_fleet
  register: whatwatt_device_push
"""

RETURN = r"""
msg:
  description: What happened to the meter (the failure reason when it failed).
  returned: always
  type: str
  sample: "changed: url; certificates (no record); connected and publishing (first message after 3.2 s)"
settings:
  description: Readable MQTT settings after the run.
  returned: when the meter was reached
  type: dict
verified:
  description: Whether the meter was seen connected and publishing.
  returned: when the meter was verified
  type: bool
rolled_back:
  description: Whether its previous settings and certificates were put back.
  returned: when the meter failed verification and was rolled back
  type: bool
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import controller_only  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_fleet import RESULT_ARGUMENT_SPEC  # noqa: E402


def main():
    controller_only("device_fleet_result", RESULT_ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
