# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_info: meter facts, read from the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    COMMON_ARGUMENT_SPEC,
    INFO_ARGUMENT_SPEC,
    run_info,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import DeviceAction


class ActionModule(DeviceAction):
    """Thin glue: validate, connect, ``run_info``; facts only with ``set_facts``."""

    ARGUMENT_SPEC = dict(COMMON_ARGUMENT_SPEC, **INFO_ARGUMENT_SPEC)

    def device_call(self, args, host_vars):
        return (lambda client: run_info(client, args)), {}

    def act(self, args, task_vars, result):
        outcome = super().act(args, task_vars, result)
        if args["set_facts"] and "whatwatt" in outcome:
            outcome["ansible_facts"] = {"whatwatt": outcome["whatwatt"]}
        return outcome
