# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_settings: report interval and Web UI protection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.plugins.action import ActionBase

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_settings import (
    SETTINGS_ARGUMENT_SPEC,
    run_settings,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    COMMON_ARGUMENT_SPEC,
    resolve_host_vars,
    run_action,
)

ARGUMENT_SPEC = dict(COMMON_ARGUMENT_SPEC, **SETTINGS_ARGUMENT_SPEC)


class ActionModule(ActionBase):
    """Thin glue: validate, connect (offering ``new_password`` second), ``run_settings``."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host_vars = resolve_host_vars(task_vars, self._templar.template)
        if args["password"] is None:
            # the same default the client applies, needed here to know which password was accepted
            args["password"] = host_vars["whatwatt_password"] or ""
        alternates = [args["new_password"]] if args["new_password"] else []
        check_mode = bool(self._task.check_mode)
        result.update(
            run_action(
                args,
                host_vars,
                lambda client: run_settings(client, args, check_mode=check_mode),
                alternate_passwords=alternates,
            )
        )
        return result
