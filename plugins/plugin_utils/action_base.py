# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preamble every action plugin of the collection shares (all run on the controller).

An action plugin declares ``ARGUMENT_SPEC`` (and, when it has them, ``MUTUALLY_EXCLUSIVE``/``REQUIRED_ONE_OF``/
``REQUIRED_IF``); this
base makes ``_VALID_ARGS`` of it (option names and their aliases), runs ActionBase, validates the arguments and
hands them to ``act``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.plugins.action import ActionBase

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    resolve_host_vars,
    run_action,
)


def valid_args(spec):
    """Every name a task may use for an option of ``spec``: its names and their aliases."""
    return frozenset(spec) | frozenset(alias for option in spec.values() for alias in option.get("aliases", ()))


class SpecAction(ActionBase):
    """An action plugin that validates ``ARGUMENT_SPEC`` and makes no connection to the task's host."""

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = {}
    MUTUALLY_EXCLUSIVE = None
    REQUIRED_ONE_OF = None
    REQUIRED_IF = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._VALID_ARGS = valid_args(cls.ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(
            argument_spec=self.ARGUMENT_SPEC,
            mutually_exclusive=self.MUTUALLY_EXCLUSIVE,
            required_one_of=self.REQUIRED_ONE_OF,
            required_if=self.REQUIRED_IF,
        )
        result.update(self.act(args, task_vars or {}, result))
        return result

    def act(self, args, task_vars, result):
        """The plugin's work: returns what goes into the result (``result`` may be read or extended)."""
        raise NotImplementedError


class DeviceAction(SpecAction):
    """A single-meter action: the host's variables resolved, then ``device_call`` through ``run_action``."""

    def act(self, args, task_vars, result):
        host_vars = resolve_host_vars(task_vars, self._templar.template)
        runner, client_kwargs = self.device_call(args, host_vars)
        return run_action(args, host_vars, runner, **client_kwargs)

    def device_call(self, args, host_vars):
        """``(runner, client_kwargs)`` for ``run_action``: ``runner(client)`` does the work on the meter."""
        raise NotImplementedError
