# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the roles and playbooks: the fleet-wide decisions they would otherwise make in Jinja loops.

Each has its documentation in ``<filter>.yml`` beside this file. A meter's client id is its
``whatwatt_client_id``, or its inventory name (the same default as the device role's ``whatwatt_client_id``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import naming


def _vars_of(host, hostvars):
    """``hostvars[host]`` (each lookup computes the host's variables: take it once per host)."""
    try:
        return hostvars[host]
    except KeyError:
        raise AnsibleFilterError(f"{host!r} is not a host of the inventory") from None


def _client_id(host, host_vars):
    return host_vars.get("whatwatt_client_id", host) or host


def meter_client_ids(hosts, hostvars):
    """The client ids of ``hosts`` (inventory names), in their order."""
    return [_client_id(host, _vars_of(host, hostvars)) for host in hosts or ()]


def revoked_meters(hosts, hostvars, pki=None):
    """The hosts among ``hosts`` that are revoked: marked ``whatwatt_revoked`` or their client id in the PKI's CRL."""
    revoked_ids = {entry.get("name") for entry in ((pki or {}).get("crl") or {}).get("revoked") or ()}
    out = []
    for host in hosts or ():
        host_vars = _vars_of(host, hostvars)
        marked = boolean(host_vars.get("whatwatt_revoked", False), strict=False)
        if marked or _client_id(host, host_vars) in revoked_ids:
            out.append(host)
    return out


def broker_certificates(brokers, hostvars, broker_host=None):
    """One server certificate per broker host: its names (inventory name, ``ansible_host``, ``broker_host``) split
    into DNS names and IP addresses, in that order, each once."""
    out = []
    for host in brokers or ():
        names = []
        for name in (host, _vars_of(host, hostvars).get("ansible_host", host), broker_host or host):
            if name and str(name) not in names:
                names.append(str(name))
        ips = [name for name in names if naming.ip_address(name) is not None]
        out.append(dict(name=host, dns_names=[name for name in names if name not in ips], ip_addresses=ips))
    return out


def pki_problems(pki):
    """Why the PKI is not current (the pki module's result): the CA or CRL would change, a certificate is due."""
    out = []
    for part, what in (("ca", "the CA would change"), ("crl", "the CRL is due")):
        entry = pki.get(part) or {}
        if entry.get("changed"):
            out.append(f"{what}: {', '.join(entry.get('reasons') or ())}")
    for kind in ("servers", "clients"):
        for name, leaf in sorted((pki.get(kind) or {}).items()):
            if leaf.get("changed") and not leaf.get("revoked"):
                days = leaf.get("days_left", "?")
                out.append(f"{kind}/{name} is due ({', '.join(leaf.get('reasons') or ())}, {days} days left)")
    return out


class FilterModule:
    def filters(self):
        return {
            "meter_client_ids": meter_client_ids,
            "revoked_meters": revoked_meters,
            "broker_certificates": broker_certificates,
            "pki_problems": pki_problems,
        }
