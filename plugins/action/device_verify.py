# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.device_verify: verify a batch of devices from the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.errors import AnsibleActionFail

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_verify import (
    HAS_PAHO,
    VERIFY_ARGUMENT_SPEC,
    FleetVerifier,
    VerifyError,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattError

from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import SpecAction


class ActionModule(SpecAction):
    """Thin glue: validate the options, run FleetVerifier once, return its verdicts."""

    ARGUMENT_SPEC = VERIFY_ARGUMENT_SPEC

    def act(self, args, task_vars, result):
        if not HAS_PAHO:
            raise AnsibleActionFail("the Python library 'paho-mqtt' is required on the controller")
        names = [device["name"] for device in args["devices"]]
        result.update(changed=False, devices={}, ok_devices=[], failed_devices=[], elapsed=0.0)
        if self._task.check_mode:
            result.update(skipped=True, msg=f"check mode: {len(names)} device(s) not verified (nothing was pushed)")
            return {}
        try:
            verifier = FleetVerifier(
                args["devices"],
                args["broker_host"],
                args["ca_path"],
                args["cert_path"],
                args["key_path"],
                broker_port=args["broker_port"],
                monitor_client_id=args["monitor_client_id"],
                password=args["password"] or "",
                timeout=args["verify_timeout"],
                poll_interval=args["poll_interval"],
                request_timeout=args["request_timeout"],
                retries=args["retries"],
                workers=args["workers"],
            )
            outcome = verifier.run()
        except (VerifyError, WhatWattError) as exc:
            raise AnsibleActionFail(f"device verification could not run: {exc}") from None
        except (OSError, ValueError) as exc:
            # ssl.SSLError is an OSError: a bad monitor certificate or key, an unreadable CA file
            raise AnsibleActionFail(
                f"device verification could not run: {exc.__class__.__name__}: {exc}"
                " (check ca_path, cert_path and key_path of the monitoring identity)"
            ) from None
        if args["details"] == "failed":
            outcome["devices"] = {name: outcome["devices"][name] for name in outcome["failed_devices"]}
        result.update(outcome)
        failed = outcome["failed_devices"]
        result["msg"] = f"{len(outcome['ok_devices'])} of {len(names)} device(s) verified in {outcome['elapsed']:g} s"
        if failed:
            result["msg"] += f"; failed: {', '.join(failed)}"
        return {}
