# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
name: meters
short_description: Discover WhatWatt Go meters on the networks you name
version_added: 1.0.0
description:
  - Probes every address of O(networks) with one C(GET /api/v1/system) (HTTP Basic or Digest as the meter's firmware
    asks, when O(password) is set) and makes one host per WhatWatt Go that answers (C(device.model) C(WW_Go_*)).
  - Each host is named from the meter's device id (O(hostname_template)), so the name survives a new address (a new
    DHCP lease, a replaced router); C(ansible_host) follows the address.
  - Host variables for the rest of the collection - C(ansible_host), C(whatwatt_api_port), C(ansible_connection=local),
    C(whatwatt_client_id) (the host name; override with O(compose)), C(whatwatt_device_id), C(whatwatt_model),
    C(whatwatt_firmware), C(whatwatt_license), C(whatwatt_mac), C(whatwatt_device_name), C(whatwatt_auth),
    C(whatwatt_secure_mqtt_ready) and C(whatwatt_not_ready_reasons).
  - Groups - C(meters) (every meter, what the collection's playbooks target), C(whatwatt_ready) (firmware 1.7.6 or
    later and a licence with the MQTT client, PLUS or PRO) and C(whatwatt_not_ready); more with O(groups) and
    O(keyed_groups).
  - An address that does not answer, answers something else, or refuses the password is skipped and counted in a
    summary shown with C(-v); a network that cannot be parsed is an error.
  - The config file name must end in C(.whatwatt.yml) or C(.whatwatt.yaml).
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - constructed
  - inventory_cache
requirements:
  - requests (on the controller)
options:
  plugin:
    description: The name of this plugin; it must be V(whatwatt.secure_mqtt.meters).
    type: str
    required: true
    choices: [whatwatt.secure_mqtt.meters]
  networks:
    description: Networks (CIDR, for example V(192.0.2.0/24)) and single addresses to probe, at most 65536 addresses.
    type: list
    elements: str
    required: true
  port:
    description: TCP port of the meters' REST API.
    type: int
    default: 80
  password:
    description:
      - Web UI password for meters with Web UI protection on (keep it in Ansible Vault). Meters without protection
        answer without it. It is never cached and never set as a host variable.
    type: str
    default: ""
  timeout:
    description: Seconds to wait for each address to connect and answer.
    type: float
    default: 2.0
  workers:
    description: Addresses probed at the same time.
    type: int
    default: 64
  hostname_template:
    description: Inventory name of a meter; C({id}) is its 12-hex device id in lower case.
    type: str
    default: whatwatt-{id}
"""

EXAMPLES = r"""
# inventory/prod/fleet.whatwatt.yml
plugin: whatwatt.secure_mqtt.meters
networks:
  - 192.0.2.0/24
  - 198.51.100.17
password: "{{ vault_whatwatt_password }}"
compose:
  # client ids of your own naming scheme instead of the host name
  whatwatt_client_id: "'site1-' ~ whatwatt_device_id[-6:] | lower"
keyed_groups:
  - key: whatwatt_firmware
    prefix: firmware
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/whatwatt-inventory
cache_timeout: 3600

# Then provision only the meters that can run secure MQTT:
#   ansible-inventory -i inventory/prod --graph
#   ansible-playbook -i inventory/prod whatwatt.secure_mqtt.site --limit 'brokers:localhost:whatwatt_ready'
"""

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.discovery import (  # noqa: E402
    discover,
    expand_networks,
    host_name,
    summary_text,
)

display = Display()

HOST_VARS = (
    ("whatwatt_device_id", "device_id"),
    ("whatwatt_model", "model"),
    ("whatwatt_firmware", "firmware"),
    ("whatwatt_license", "license"),
    ("whatwatt_mac", "mac"),
    ("whatwatt_device_name", "name"),
    ("whatwatt_auth", "auth"),
    ("whatwatt_secure_mqtt_ready", "ready"),
    ("whatwatt_not_ready_reasons", "not_ready_reasons"),
)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Thin glue: the probing lives in plugin_utils/discovery.py."""

    NAME = "whatwatt.secure_mqtt.meters"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith((".whatwatt.yml", ".whatwatt.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache")
        meters = None
        if use_cache and cache:
            try:
                meters = self._cache[cache_key]
            except KeyError:
                meters = None
        if meters is None:
            meters = self._discover()
            if use_cache:
                self._cache[cache_key] = meters  # no password in it
        self._populate(meters)

    def _discover(self):
        try:
            addresses = expand_networks(self.get_option("networks"))
        except ValueError as exc:
            raise AnsibleParserError(f"{self.NAME}: {exc}") from None
        meters, summary = discover(
            addresses,
            port=self.get_option("port"),
            password=str(self.get_option("password") or ""),
            timeout=self.get_option("timeout"),
            workers=self.get_option("workers"),
        )
        display.v(summary_text(summary, len(addresses)))
        template = self.get_option("hostname_template")
        for meter in meters:
            meter["host"] = host_name(meter["device_id"], template)
        return meters

    def _populate(self, meters):
        for group in ("meters", "whatwatt_ready", "whatwatt_not_ready"):
            self.inventory.add_group(group)
        self.inventory.set_variable("meters", "ansible_connection", "local")
        strict = self.get_option("strict")
        for meter in meters:
            host = meter["host"]
            self.inventory.add_host(host, group="meters")
            self.inventory.add_host(host, group="whatwatt_ready" if meter["ready"] else "whatwatt_not_ready")
            self.inventory.set_variable(host, "ansible_host", meter["address"])
            self.inventory.set_variable(host, "whatwatt_api_port", meter["port"])
            self.inventory.set_variable(host, "whatwatt_client_id", host)
            for var, key in HOST_VARS:
                self.inventory.set_variable(host, var, meter[key])
            hostvars = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)
