#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: mosquitto_info
short_description: Read what the mosquitto role needs to know of a broker host, in one module call
version_added: 2.0.0
description:
  - Runs on the broker host and changes nothing. Reads the release (C(/etc/os-release)), what apt has to do for
    O(packages) (C(dpkg-query --show)), the installed Mosquitto version (C(mosquitto -h)), where the acl-file
    plugin is on Mosquitto 2.1 and later (the package's file list, C(dpkg-query --listfiles mosquitto)) and whether
    systemd runs (C(/run/systemd/system)).
  - The C(mosquitto) role calls it once on an up-to-date broker (and once more after installing or upgrading), in
    place of a fact gathering and four commands.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  packages:
    description: The packages that must be installed; C(mosquitto) among them decides the version.
    type: list
    elements: str
    required: true
  min_version:
    description:
      - The lowest upstream Mosquitto version accepted (C(2.0.21)); below it RV(install_plan.state) is C(latest).
    type: str
    required: true
  acl_plugin_path:
    description: The acl-file plugin's path when you know it; empty to read it from the package's file list (2.1+).
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: debian
seealso:
  - module: whatwatt.secure_mqtt.mosquitto_files
"""

EXAMPLES = r"""
- name: Read the broker host
  whatwatt.secure_mqtt.mosquitto_info:
    packages: [mosquitto, mosquitto-clients]
    min_version: 2.0.21
  register: broker_host

- name: Install or upgrade only when needed
  ansible.builtin.apt:
    name: [mosquitto, mosquitto-clients]
    state: "{{ broker_host.install_plan.state }}"
  when: broker_host.install_plan.state is not none
"""

RETURN = r"""
os_release:
  description: C(ID), C(VERSION_ID) and C(VERSION_CODENAME) of C(/etc/os-release), those it has.
  returned: always
  type: dict
  sample: {ID: debian, VERSION_ID: "12", VERSION_CODENAME: bookworm}
debian_bookworm:
  description: Whether the host runs Debian 12 (its main archive has Mosquitto 2.0.11; bookworm-backports 2.0.21+).
  returned: always
  type: bool
install_plan:
  description: What apt has to do.
  returned: always
  type: dict
  contains:
    state:
      description: C(null) (nothing), C(present) (packages missing) or C(latest) (Mosquitto below O(min_version)).
      type: str
    missing:
      description: The packages of O(packages) not installed.
      type: list
      elements: str
    version:
      description: The installed upstream version of the C(mosquitto) package, C(null) when absent.
      type: str
  sample: {state: null, missing: [], version: 2.0.21}
version:
  description: The version C(mosquitto -h) prints, C(null) when Mosquitto is not installed.
  returned: always
  type: str
  sample: 2.0.21
acl_plugin:
  description: The acl-file plugin (O(acl_plugin_path), or from the package's files on 2.1+); empty before 2.1.
  returned: always
  type: str
  sample: /usr/lib/x86_64-linux-gnu/mosquitto/mosquitto_acl_file.so
systemd:
  description: Whether systemd runs on the host (C(/run/systemd/system) is a directory).
  returned: always
  type: bool
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.broker_host import (  # noqa: E402
    BrokerHostError,
    inspect,
)


def _read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type="list", elements="str", required=True),
            min_version=dict(type="str", required=True),
            acl_plugin_path=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    p = module.params

    def run(argv):
        return module.run_command(argv, environ_update=dict(LC_ALL="C"))

    def which(name):
        return module.get_bin_path(name, opt_dirs=["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/sbin"])

    try:
        result = inspect(run, _read_text, os.path.isdir, which, p["packages"], p["min_version"], p["acl_plugin_path"])
    except BrokerHostError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
