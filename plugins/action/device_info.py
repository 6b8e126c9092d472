# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_info: meter facts, read from the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.plugins.action import ActionBase

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    COMMON_ARGUMENT_SPEC,
    INFO_ARGUMENT_SPEC,
    resolve_host_vars,
    run_action,
    run_info,
)

ARGUMENT_SPEC = dict(COMMON_ARGUMENT_SPEC, **INFO_ARGUMENT_SPEC)


class ActionModule(ActionBase):
    """Thin glue: validate, connect, ``run_info``; facts only with ``set_facts``."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host_vars = resolve_host_vars(task_vars, self._templar.template)
        result.update(run_action(args, host_vars, lambda client: run_info(client, args)))
        if args["set_facts"] and "whatwatt" in result:
            result["ansible_facts"] = {"whatwatt": result["whatwatt"]}
        return result
