# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.broker_tls: does the broker serve the PKI's certificate to a client?"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import BROKER_TLS_ARGUMENT_SPEC
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import SpecAction
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.broker_tls import check


class ActionModule(SpecAction):
    """The check is ``plugin_utils.broker_tls.check``; this turns it into the task's result."""

    ARGUMENT_SPEC = BROKER_TLS_ARGUMENT_SPEC

    def act(self, args, task_vars, result):
        ok, served, msg = check(
            args["address"],
            args["port"],
            args["ca_path"],
            args["client_cert_path"],
            args["client_key_path"],
            args["expected"],
            args["timeout"],
        )
        result.update(changed=False, served=served, msg=msg)
        if not ok:
            result["failed"] = True
        return result
