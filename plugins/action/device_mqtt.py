# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_mqtt: MQTT settings and certificates, from the controller.

The client key is read here, in the controller process, and goes only into the PUT body.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.plugins.action import ActionBase

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_mqtt import (
    MQTT_ARGUMENT_SPEC,
    MQTT_MUTUALLY_EXCLUSIVE,
    run_mqtt,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    COMMON_ARGUMENT_SPEC,
    resolve_host_vars,
    run_action,
)

ARGUMENT_SPEC = dict(COMMON_ARGUMENT_SPEC, **MQTT_ARGUMENT_SPEC)


class ActionModule(ActionBase):
    """Thin glue: validate, connect, ``run_mqtt``."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC, mutually_exclusive=MQTT_MUTUALLY_EXCLUSIVE
        )
        host_vars = resolve_host_vars(task_vars, self._templar.template)
        default_client_id = host_vars["whatwatt_client_id"] or host_vars["inventory_hostname"]
        check_mode = bool(self._task.check_mode)
        result.update(
            run_action(
                args,
                host_vars,
                lambda client: run_mqtt(client, args, check_mode=check_mode, default_client_id=default_client_id),
            )
        )
        return result
