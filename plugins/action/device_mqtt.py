# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_mqtt: MQTT settings and certificates, from the controller.

The client key is read here, in the controller process, and goes only into the PUT body.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_mqtt import (
    MQTT_ARGUMENT_SPEC,
    MQTT_MUTUALLY_EXCLUSIVE,
    run_mqtt,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import COMMON_ARGUMENT_SPEC

from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import DeviceAction


class ActionModule(DeviceAction):
    """Thin glue: validate, connect, ``run_mqtt``."""

    ARGUMENT_SPEC = dict(COMMON_ARGUMENT_SPEC, **MQTT_ARGUMENT_SPEC)
    MUTUALLY_EXCLUSIVE = MQTT_MUTUALLY_EXCLUSIVE

    def device_call(self, args, host_vars):
        default_client_id = host_vars["whatwatt_client_id"] or host_vars["inventory_hostname"]
        check_mode = bool(self._task.check_mode)
        return (lambda client: run_mqtt(client, args, check_mode=check_mode, default_client_id=default_client_id)), {}
