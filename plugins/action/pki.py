# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.pki: on the controller the PKI runs in the task's worker, not as a module.

The PKI lives on the controller (``delegate_to: localhost``). There, shipping the module, starting a Python for it
and importing cryptography again cost about 0.5 s of every run (``make bench``: 0.72 s for a check of 102
certificates whose own work is 0.05 s). With a local connection, no ``become`` and no ``async``, this plugin
validates the options with the module's spec and calls the same ``run_pki`` the module calls; anywhere else (a PKI
host reached over SSH, ``become``, cryptography missing on the controller) it runs the module as usual.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import pki_crypto
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.pki import PkiError, argument_spec, run_pki

MODULE = "whatwatt.secure_mqtt.pki"


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def in_process(self):
        """True when the module would run on this controller, as this user, right away."""
        return (
            getattr(self._connection, "transport", None) == "local"
            and not self._play_context.become
            and not self._task.async_val
            and pki_crypto.HAS_CRYPTOGRAPHY
        )

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        if not self.in_process():
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result = merge_hash(result, self._execute_module(MODULE, task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        try:
            outcome, warnings = run_pki(args, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff))
        except PkiError as exc:
            result.update(failed=True, msg=str(exc))
        else:
            result.update(outcome)
            if warnings:
                result["warnings"] = warnings
        # What AnsibleModule does to a module's output: no value of a no_log option (the CA key passphrase) in it.
        return remove_values(result, validation._no_log_values)
