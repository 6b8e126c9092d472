# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each meter's device entry from that meter's own variables, resolved inside the batch task.

A per-host task (a ``set_fact`` collecting the variables) costs the controller 15-25 ms per meter even when the
meter is up to date; resolving here costs the variable lookup and the templating only. The variables are the
ones Ansible would give the task on that host - role defaults, inventory, play and role variables, extra vars,
with Ansible's precedence - from the variable manager the task's ``hostvars`` carries. Which variables feed which
field is ``meter_spec.METER_VARIABLES``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.errors import AnsibleError
from ansible.module_utils._internal._datatag import AnsibleTagHelper

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.meter_spec import METER_VARIABLES

DEFAULT_API_PORT = 80


class MeterVarError(Exception):
    """A variable of one meter could not be resolved; the message names the variable."""


def meter_entry(name, variables, template):
    """The device entry of meter ``name`` from its raw ``variables``; ``template(value)`` templates one value.

    Only variables that are defined are taken (an entry field left out falls back to the batch's option).
    """

    def value(variable):
        try:
            return template(variables[variable])
        except AnsibleError as exc:
            raise MeterVarError(f"{variable}: {exc.message}") from None

    entry = dict(name=name)
    entry["host"] = value("ansible_host") if "ansible_host" in variables else name
    entry["port"] = value("whatwatt_api_port") if "whatwatt_api_port" in variables else DEFAULT_API_PORT
    if "whatwatt_pki_dir" in variables:
        pki_dir = value("whatwatt_pki_dir")
        entry.update(ca_path=f"{pki_dir}/ca-bundle.crt", certs_dir=f"{pki_dir}/clients")
    for variable, field in METER_VARIABLES.items():
        if variable in variables:
            entry[field] = value(variable)
    return entry


# The magic variables that list the play's hosts: the same for every host of a batch.
PLAY_HOST_LISTS = ("ansible_play_hosts_all", "ansible_play_hosts", "ansible_play_batch", "play_hosts")


def host_vars(manager, play, host, task, play_lists):
    """The variables of ``host`` for ``task``, as ``VariableManager.get_vars`` gives them.

    ``play_lists`` are the batch task's own ``PLAY_HOST_LISTS`` values, the same for every host of the batch:
    get_vars builds each of these lists anew for every lookup (O(N) each, so O(N^2) for a batch of N meters: 18 s
    of 35 s for 10,000 meters under cProfile); it is given a one-host list to build instead, and the batch's lists
    are put back in its place, with the tags get_vars gave its own (``play_hosts`` and, on 2.21, ``vars.*`` carry
    a deprecation). Magic variables are merged last (above extra vars), so this changes no value.
    """
    one = [host.name]
    variables = manager.get_vars(play=play, host=host, task=task, _hosts=one, _hosts_all=one)
    for scope in (variables, variables.get("vars")):
        if isinstance(scope, dict):
            for key, value in play_lists.items():
                if key in scope:
                    scope[key] = AnsibleTagHelper.tag_copy(scope[key], value)
    return variables


def resolve(task, task_vars, templar, hosts):
    """``(entries, problems)`` of ``hosts`` (inventory names) for ``task`` (the batch task, on its first host).

    ``problems`` maps a meter whose variables could not be resolved to its messages; its entry holds its name
    only. Nothing here fails the batch.
    """
    hostvars = task_vars["hostvars"]
    manager, inventory = hostvars._variable_manager, hostvars._inventory  # pylint: disable=protected-access
    play = task.get_play()
    play_lists = {key: task_vars[key] for key in PLAY_HOST_LISTS if key in task_vars}
    entries, problems = [], {}
    for name in hosts:
        host = inventory.get_host(name)
        if host is None:
            entries.append(dict(name=name))
            problems[name] = [f"{name}: not a host of the inventory"]
            continue
        variables = host_vars(manager, play, host, task, play_lists)
        host_templar = templar.copy_with_new_env(available_variables=variables)
        try:
            entries.append(meter_entry(name, variables, host_templar.template))
        except MeterVarError as exc:
            entries.append(dict(name=name))
            problems[name] = [f"{name}: {exc}"]
    return entries, problems
