#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: pki_lock
short_description: One playbook run at a time per PKI directory
version_added: 1.0.0
description:
  - Takes (or frees) the lock C(<path>.lock) beside the PKI directory on the controller. The holder is the
    C(ansible-playbook) process of the run, so the lock lasts until the run frees it or ends; a lock whose process is
    gone (on this host) is stale and taken over with a warning.
  - While another run holds it, waits up to O(timeout) seconds, saying who holds it (pid, host, playbook, start
    time), then fails naming the holder.
  - C(site.yml) (and so C(rotate.yml), C(ca_rollover.yml), C(revoke.yml)) takes it before the PKI and frees it after
    the meters, through the C(whatwatt.secure_mqtt.pki) role's C(lock) and C(unlock) entry points.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - whatwatt.secure_mqtt.action_attributes
options:
  path:
    description: The PKI directory (C(whatwatt_pki_dir)); the lock file is C(<path>.lock).
    type: path
    required: true
  state:
    description: C(acquired) takes the lock (waiting), C(released) frees it if this run holds it.
    type: str
    choices: [acquired, released]
    default: acquired
  timeout:
    description: Seconds to wait for another run before failing.
    type: int
    default: 1800
  poll:
    description: Seconds between attempts while waiting.
    type: float
    default: 1.0
  playbook:
    description: Playbook named in the lock; default read from the C(ansible-playbook) command line.
    type: str
attributes:
  action:
    details: Runs on the controller as an action plugin.
  check_mode:
    support: full
    details: Also takes the lock in check mode, so a dry run never reads a PKI another run is writing.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: whatwatt.secure_mqtt.pki
"""

EXAMPLES = r"""
- name: Take the PKI lock for this run
  whatwatt.secure_mqtt.pki_lock:
    path: "{{ whatwatt_pki_dir }}"
    timeout: 1800
"""

RETURN = r"""
path:
  description: The lock file.
  returned: always
  type: str
status:
  description: C(free), C(stale) (taken over), C(held) (this run had it already).
  returned: when acquired
  type: str
waited:
  description: Seconds waited for another run.
  returned: when acquired
  type: float
holder:
  description: This run as recorded in the lock (C(pid), C(host), C(process_start), C(started), C(playbook)).
  returned: always
  type: dict
"""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import controller_only  # noqa: E402
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.pki_lock import LOCK_ARGUMENT_SPEC  # noqa: E402


def main():
    controller_only("pki_lock", LOCK_ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
