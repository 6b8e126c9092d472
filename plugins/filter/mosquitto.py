# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the mosquitto role: the decisions its tasks would otherwise make in Jinja (docs: <filter>.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import broker_host, naming


def install_plan(dpkg_show, packages, min_version, package="mosquitto"):
    """What apt has to do, from dpkg-query's output (``module_utils/broker_host.install_plan``, which the
    ``mosquitto_info`` module runs on the broker host)."""
    try:
        return broker_host.install_plan(dpkg_show, packages, min_version, package)
    except broker_host.BrokerHostError as exc:
        raise AnsibleFilterError(f"mosquitto_install_plan: {exc}") from None


def acl_problems(identities):
    """The problems of the client ids the broker ACL names (``naming.client_id_problems``), one line per bad id."""
    out = []
    for identity in identities or ():
        problems = naming.client_id_problems(identity)
        if problems:
            out.append("; ".join(problems))
    return out


class FilterModule:
    def filters(self):
        return {"mosquitto_install_plan": install_plan, "mosquitto_acl_problems": acl_problems}
