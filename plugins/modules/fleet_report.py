#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: fleet_report
short_description: Write the fleet's certificate report and a Prometheus textfile on the controller
version_added: 1.0.0
description:
  - Turns a M(whatwatt.secure_mqtt.pki) result (run in check mode, so nothing is issued) into one row per certificate
    with its status (C(ok), C(expiring soon), C(renewal due), C(expired), C(missing), C(revoked)) and writes
    C(certificates.json) into O(dest).
  - With O(prometheus_file), also writes the Prometheus text exposition format for node_exporter's textfile
    collector - seconds to expiry and notAfter of every certificate, seconds to the CRL's nextUpdate, and each
    meter's last verification result (recorded by M(whatwatt.secure_mqtt.device_fleet) in O(record_dir)).
  - Files are written atomically (a collector never reads half a file) and only when their content differs.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
options:
  pki:
    description: The result of M(whatwatt.secure_mqtt.pki) (C(hostvars['localhost'].whatwatt_pki)).
    type: dict
    required: true
  dest:
    description: Directory for C(certificates.json); created when missing.
    type: path
    required: true
  warn_days:
    description: A certificate with this many days or fewer left is C(expiring soon).
    type: int
    default: 30
  ca_warn_days:
    description: The CA's threshold for C(refusal_warnings) (dates at which meters would be refused).
    type: int
    default: 90
  record_dir:
    description: The device records directory (C(whatwatt_record_dir)) holding C(verification.json).
    type: path
  prometheus_file:
    description:
      - Where to write the Prometheus textfile (for example C(/var/lib/prometheus/node-exporter/whatwatt.prom)).
      - Omit to write none.
    type: path
attributes:
  action:
    details: Runs on the controller as an action plugin; it reads and writes controller files only.
  check_mode:
    support: full
    details: Computes the report and says which files would change; writes nothing.
  diff_mode:
    support: none
seealso:
  - module: whatwatt.secure_mqtt.pki
  - module: whatwatt.secure_mqtt.device_fleet
"""

EXAMPLES = r"""
- name: Report every certificate, with a file for node_exporter
  whatwatt.secure_mqtt.fleet_report:
    pki: "{{ whatwatt_pki }}"
    dest: /srv/whatwatt/reports
    record_dir: /srv/whatwatt/pki/devices
    prometheus_file: /var/lib/prometheus/node-exporter/whatwatt.prom
"""

RETURN = r"""
report:
  description: What certificates.json holds.
  returned: always
  type: dict
  contains:
    certificates:
      description: One row per certificate (C(kind), C(name), C(subject), C(serial), C(not_after), C(days_left),
        C(fingerprint_sha256), C(status), C(reasons)), soonest expiry first.
      type: list
      elements: dict
    crl_next_update:
      description: The CRL's nextUpdate (UTC, ISO 8601).
      type: str
    first_refusal:
      description: The soonest date at which a meter would be refused by time alone (C(kind), C(name), C(date),
        C(days_left)).
      type: dict
    refusal_warnings:
      description: The refusal dates closer than O(warn_days) (O(ca_warn_days) for the CA), each with a C(msg).
      type: list
      elements: dict
verifications:
  description: Each meter's last verification (C(ok), C(reason), C(at)) by client id.
  returned: always
  type: dict
written:
  description: The files that changed (would change, in check mode).
  returned: always
  type: list
  elements: path
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import (  # noqa: E402
    REPORT_ARGUMENT_SPEC,
    controller_only,
)


def main():
    controller_only("fleet_report", REPORT_ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
