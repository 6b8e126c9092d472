# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_fleet: a batch of meters in one task, from the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import time

from ansible.errors import AnsibleActionFail

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_fleet import (
    FLEET_ARGUMENT_SPEC,
    FLEET_EXCLUSIVE,
    FLEET_REQUIRED_IF,
    FleetError,
    run_fleet,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils import meter_vars
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import SpecAction
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.report import record_verifications


def reported_only(outcome):
    """The batch result with the meters that changed or failed only (``outcomes: reported``).

    A run_once result is registered on every host of the batch (it is in every host's variables from then on); an
    up-to-date meter has nothing to report, so its outcome stays out.
    """
    reported = set(outcome["changed_devices"]) | set(outcome["failed_devices"])
    out = dict(outcome, devices={name: o for name, o in outcome["devices"].items() if name in reported})
    for key in ("verified_devices", "rolled_back_devices"):
        out[key] = [name for name in outcome[key] if name in reported]
    return out


class ActionModule(SpecAction):
    """Thin glue: validate the fleet-wide options, ``run_fleet``, return the outcomes per meter."""

    ARGUMENT_SPEC = FLEET_ARGUMENT_SPEC
    REQUIRED_IF = FLEET_REQUIRED_IF
    MUTUALLY_EXCLUSIVE = FLEET_EXCLUSIVE
    REQUIRED_ONE_OF = FLEET_EXCLUSIVE

    def act(self, args, task_vars, result):
        unresolved, resolved_in = None, None
        if args.get("hosts") is not None:
            # Each meter's entry from its own variables, here: no per-host task collects them.
            begin = time.monotonic()
            args["devices"], unresolved = meter_vars.resolve(self._task, task_vars, self._templar, args["hosts"])
            resolved_in = round(time.monotonic() - begin, 3)
        try:
            outcome = run_fleet(args, check_mode=bool(self._task.check_mode), unresolved=unresolved)
        except FleetError as exc:
            raise AnsibleActionFail(f"device_fleet: {exc}") from None
        if resolved_in is not None:
            outcome["timings"] = dict(variables=resolved_in, **outcome["timings"])
        self._record_verifications(args, outcome, result)
        counts = {key: len(outcome[f"{key}_devices"]) for key in ("changed", "verified", "failed", "rolled_back")}
        if args["outcomes"] == "reported":
            outcome = reported_only(outcome)
        result.update(outcome, counts=dict(counts, meters=len(args["devices"])))
        phases = ", ".join(f"{phase} {seconds:g} s" for phase, seconds in outcome["timings"].items())
        result["msg"] = (
            f"{len(args['devices'])} meter(s) in {outcome['elapsed']:g} s ({phases}): {counts['changed']} changed,"
            f" {counts['verified']} verified, {counts['failed']} failed, {counts['rolled_back']} rolled back"
        )
        return {}

    @staticmethod
    def _record_verifications(args, outcome, result):
        """Each verified meter's verdict, for report.yml's monitoring file (written in check mode too: it is the
        controller's record of what was observed, not a change to anything managed)."""
        devices = [
            dict(name=d.get("name"), client_id=d.get("client_id") or d.get("name"),
                 record_dir=d.get("record_dir") or args["record_dir"])
            for d in args["devices"] if isinstance(d, dict)
        ]  # fmt: skip
        try:
            record_verifications(devices, outcome["devices"])
        except OSError as exc:
            result.setdefault("warnings", []).append(f"the verification results could not be recorded: {exc}")
