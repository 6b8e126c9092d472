# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_settings: report interval and Web UI protection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_settings import (
    SETTINGS_ARGUMENT_SPEC,
    run_settings,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import COMMON_ARGUMENT_SPEC

from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import DeviceAction


class ActionModule(DeviceAction):
    """Thin glue: validate, connect (offering ``new_password`` second), ``run_settings``."""

    ARGUMENT_SPEC = dict(COMMON_ARGUMENT_SPEC, **SETTINGS_ARGUMENT_SPEC)

    def device_call(self, args, host_vars):
        if args["password"] is None:
            # the same default the client applies, needed here to know which password was accepted
            args["password"] = host_vars["whatwatt_password"] or ""
        alternates = [args["new_password"]] if args["new_password"] else []
        check_mode = bool(self._task.check_mode)
        return (lambda client: run_settings(client, args, check_mode=check_mode)), dict(alternate_passwords=alternates)
