#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: pki_expiry
short_description: Fail or warn well before meters would be refused because a date passed
version_added: 1.0.0
description:
  - Reads the result of M(whatwatt.secure_mqtt.pki) (check mode is enough) and lists every date at which meters would
    be refused that is closer than its threshold - the CRL's nextUpdate (the broker refuses every meter), the CA's
    notAfter, each broker certificate's notAfter (meters refuse the broker) and each meter certificate's notAfter
    (the broker refuses that meter). Revoked certificates are left out.
  - With O(fail=true) (C(verify.yml)) any such date fails the task; otherwise (C(report.yml)) each is a warning.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
options:
  pki:
    description: The registered result of M(whatwatt.secure_mqtt.pki) (C(hostvars['localhost'].whatwatt_pki)).
    type: dict
    required: true
  min_days:
    description: Days before a CRL, broker or meter date under which it is reported.
    type: int
    default: 30
  ca_min_days:
    description: Days before the CA's notAfter under which it is reported (a CA rollover takes planning).
    type: int
    default: 90
  fail:
    description: Fail the task when any date is reported (else warn).
    type: bool
    default: false
attributes:
  action:
    details: Runs on the controller as an action plugin; it reads only its arguments.
  check_mode:
    support: full
    details: Reads only; same result in check mode.
  diff_mode:
    support: none
seealso:
  - module: whatwatt.secure_mqtt.pki
"""

EXAMPLES = r"""
- name: Fail 30 days before any date at which meters would be refused (90 for the CA)
  whatwatt.secure_mqtt.pki_expiry:
    pki: "{{ hostvars['localhost'].whatwatt_pki }}"
    min_days: 30
    ca_min_days: 90
    fail: true
"""

RETURN = r"""
findings:
  description: Each date closer than its threshold, soonest first.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: C(crl), C(ca), C(server) or C(client).
      type: str
    name:
      description: Certificate name (C(crl) and C(ca) for those).
      type: str
    date:
      description: The date (UTC, C(YYYY-MM-DDTHH:MM:SSZ)).
      type: str
    days_left:
      description: Whole days left (negative when passed).
      type: int
    msg:
      description: What happens on that date.
      type: str
first:
  description: The soonest date at which anything would be refused, close or not (same keys, no C(msg)).
  returned: always
  type: dict
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import controller_only  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.expiry import EXPIRY_ARGUMENT_SPEC  # noqa: E402


def main():
    controller_only("pki_expiry", EXPIRY_ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
