# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_fleet_result: one meter's outcome as its own task status."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.errors import AnsibleActionFail

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_fleet import (
    RESULT_ARGUMENT_SPEC,
    host_outcome,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import SpecAction


class ActionModule(SpecAction):
    """Read the registered device_fleet result straight from the task variables (no templating of the
    whole fleet's result on every host), return this host's outcome."""

    ARGUMENT_SPEC = RESULT_ARGUMENT_SPEC

    def act(self, args, task_vars, result):
        name = args["name"] or self._templar.template(task_vars.get("inventory_hostname"))
        if args["result"] not in task_vars:
            raise AnsibleActionFail(
                f"{name}: no variable {args['result']}: register the device_fleet task under that name"
            )
        return host_outcome(task_vars[args["result"]], name, args["result"])
