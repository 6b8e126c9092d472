# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.preflight: the inventory a run needs, checked before anything is written."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import PREFLIGHT_ARGUMENT_SPEC
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import SpecAction
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.preflight import collection_root_of, preflight


class ActionModule(SpecAction):
    """Reads each meter's variables through hostvars in Python (no Jinja loop over the fleet)."""

    ARGUMENT_SPEC = PREFLIGHT_ARGUMENT_SPEC

    def act(self, args, task_vars, result):
        root = args["collection_root"] or collection_root_of(__file__)
        errors, inventory = preflight(args["pki_dir"], args["meters"], task_vars.get("hostvars", {}), root)
        result["changed"] = False
        result["errors"] = errors
        result.update(inventory)
        if errors:
            result["failed"] = True
            result["msg"] = "The inventory is not complete; nothing was changed: " + "; ".join(errors)
        else:
            result["msg"] = f"inventory complete: {len(args['meters'])} meter(s), {len(args['brokers'])} broker(s)"
        return result
