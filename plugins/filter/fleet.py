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

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import naming
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.preflight import client_id_of, marked_revoked


def _vars_of(host, hostvars):
    """``hostvars[host]`` (each lookup computes the host's variables: take it once per host)."""
    try:
        return hostvars[host]
    except KeyError:
        raise AnsibleFilterError(f"{host!r} is not a host of the inventory") from None


def _known(inventory):
    """The preflight module's reading of the meters (``client_ids``, ``revoked``), or nothing."""
    inventory = inventory or {}
    return inventory.get("client_ids") or {}, set(inventory.get("revoked") or ())


def meter_client_ids(hosts, hostvars, inventory=None):
    """The client ids of ``hosts`` (inventory names), in their order; taken from ``inventory`` (the preflight
    module's result) for the meters it read, from ``hostvars`` for the others."""
    client_ids = _known(inventory)[0]
    return [
        client_ids[host] if host in client_ids else client_id_of(host, _vars_of(host, hostvars)) for host in hosts or ()
    ]


def revoked_meters(hosts, hostvars, pki=None, inventory=None):
    """The hosts among ``hosts`` that are revoked: marked ``whatwatt_revoked`` or their client id in the PKI's CRL.

    ``inventory`` (the preflight module's result) gives the marks and client ids of the meters it read; the others
    are read from ``hostvars``."""
    revoked_ids = {entry.get("name") for entry in ((pki or {}).get("crl") or {}).get("revoked") or ()}
    client_ids, marked = _known(inventory)
    out = []
    for host in hosts or ():
        if host in client_ids:
            is_marked, client_id = host in marked, client_ids[host]
        else:
            host_vars = _vars_of(host, hostvars)
            is_marked, client_id = marked_revoked(host_vars), client_id_of(host, host_vars)
        if is_marked or client_id in revoked_ids:
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


def report_batches(reported, failed=None, size=250):
    """The report play's ``serial``: batch sizes over ``reported`` (the queued meters, in their order) so that
    every batch but the last holds at least one meter that did not fail (``failed``: the queued meters that did).

    Why batches: ansible-core's linear strategy does work in proportion to the play's hosts for every host of a
    task (a copy of every host's state, the failed and remaining hosts), so one task over N hosts costs O(N^2):
    49 ms a meter at 10,000 against 17 at 1000. Batches bound that by ``size``. Why a meter that did not fail in
    each: ansible-playbook stops the whole playbook after a batch whose hosts all failed, and the later batches'
    meters would get no recap line. The last batch (size 0: all that are left) may hold failed meters only: as
    one play without batches would, ansible-playbook then stops there.
    """
    reported, failed = list(reported or ()), set(failed or ())
    if size is None or int(size) <= 0 or not reported:
        return []
    size, count = int(size), len(reported)
    # next_ok[i]: the first meter at or after i that did not fail (count: none)
    next_ok = [count] * (count + 1)
    for index in range(count - 1, -1, -1):
        next_ok[index] = index if reported[index] not in failed else next_ok[index + 1]
    if next_ok[0] == count:
        return [0]  # every queued meter failed: one batch, as without batches
    sizes, start = [], 0
    while True:
        # at least size meters, up to the first that did not fail
        end = max(min(start + size, count), next_ok[start] + 1)
        if next_ok[end] == count:
            return sizes + [0]  # no meter that did not fail after this batch: it takes all that are left
        sizes.append(end - start)
        start = end


class FilterModule:
    def filters(self):
        return {
            "meter_client_ids": meter_client_ids,
            "revoked_meters": revoked_meters,
            "broker_certificates": broker_certificates,
            "pki_problems": pki_problems,
            "report_batches": report_batches,
        }
