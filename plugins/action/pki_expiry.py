# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.pki_expiry: fail or warn before meters would be refused by date alone."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.expiry import (
    EXPIRY_ARGUMENT_SPEC,
    expiry_findings,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import SpecAction


class ActionModule(SpecAction):
    """The decision is ``expiry_findings``; this only turns it into a failure or warnings."""

    ARGUMENT_SPEC = EXPIRY_ARGUMENT_SPEC

    def act(self, args, task_vars, result):
        found = expiry_findings(args["pki"], min_days=args["min_days"], ca_min_days=args["ca_min_days"])
        result.update(found, changed=False)
        messages = [f["msg"] for f in found["findings"]]
        first = found["first"]
        if messages and args["fail"]:
            result["failed"] = True
            result["msg"] = "Meters would be refused soon: " + "; ".join(messages)
        elif messages:
            result["warnings"] = messages
            result["msg"] = f"{len(messages)} date(s) at which meters would be refused are close"
        else:
            result["msg"] = "nothing expires within the thresholds" + (
                f"; the first refusal date is {first['date']} ({first['kind']} {first['name']})" if first else ""
            )
        return result
