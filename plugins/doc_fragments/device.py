# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Written by tools/gen_spec.py from plugins/module_utils/meter_spec.py: change the spec, then run the tool.

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity


class ModuleDocFragment(object):
    """Options every device module shares (the spec lives in module_utils/meter_spec.py)."""

    DOCUMENTATION = r"""
options:
  host:
    description:
      - Address or name of the meter's REST API (plain HTTP).
      - Defaults to the host's C(ansible_host), else its inventory name.
    type: str
  port:
    description:
      - TCP port of the REST API.
      - Defaults to the host variable C(whatwatt_api_port) when set, else C(80).
    type: int
  password:
    description:
      - Web UI password; the user name is always empty.
      - Used only when the meter asks for credentials (Web UI protection on), with HTTP Basic before firmware 1.10 and
        HTTP Digest C(MD5-sess) from 1.10 on, as the meter's challenge says.
      - Defaults to the host variable C(whatwatt_password) (keep it in Ansible Vault), else empty (no authentication).
      - 'Set it for all device modules at once with C(module_defaults: {group/whatwatt.secure_mqtt.device: {password:
        ...}}).'
    type: str
  timeout:
    description:
      - Seconds to wait for the meter to connect and answer, per HTTP request.
    type: float
    default: 10
  retries:
    description:
      - How many times a request is repeated after a connection error, a timeout or a C(503) answer, with exponential
        back-off (0.5 s, 1 s, 2 s, ... at most 8 s, or the meter's C(Retry-After)).
    type: int
    default: 3
requirements:
  - requests (on the controller)
notes:
  - This is an action plugin. All work happens in the controller process, which talks to the
    meter's REST API directly; nothing is executed on the meter and no C(delegate_to) is needed.
    Give meters C(ansible_connection=local).
  - A failure on one meter fails only that meter's task; the other meters go on.
"""
