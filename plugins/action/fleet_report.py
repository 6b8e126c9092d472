# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.fleet_report: certificates.json and the Prometheus textfile, on the
controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import json
import os

from ansible.errors import AnsibleActionFail

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.action_specs import REPORT_ARGUMENT_SPEC
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import read_bytes, write_atomic
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import SpecAction
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.report import (
    load_verifications,
    prometheus_text,
    report_document,
)


class ActionModule(SpecAction):
    """Thin glue over plugin_utils/report.py."""

    ARGUMENT_SPEC = REPORT_ARGUMENT_SPEC

    def act(self, args, task_vars, result):
        pki = args["pki"]
        if "ca" not in pki:
            raise AnsibleActionFail("fleet_report: pki is not a whatwatt.secure_mqtt.pki result (no 'ca')")
        document = report_document(pki, args["warn_days"], args["ca_warn_days"])
        files = {os.path.join(args["dest"], "certificates.json"): json.dumps(document, indent=4, sort_keys=True) + "\n"}
        verifications = load_verifications(args["record_dir"]) if args["record_dir"] else {}
        if args["prometheus_file"]:
            files[args["prometheus_file"]] = prometheus_text(pki, document["certificates"], verifications)
        changed = []
        for path, text in files.items():
            if self._task.check_mode:
                if read_bytes(path) != text.encode("utf-8"):
                    changed.append(path)
                continue
            try:
                os.makedirs(os.path.dirname(os.path.abspath(path)), 0o755, exist_ok=True)  # never chmod yours
                if write_atomic(path, text, 0o644):  # compares first: an unchanged file is not touched
                    changed.append(path)
            except OSError as exc:
                raise AnsibleActionFail(f"fleet_report: cannot write {path}: {exc}") from None
        attention = [row for row in document["certificates"] if row["status"] != "ok"]
        result.update(
            changed=bool(changed),
            report=document,
            verifications=verifications,
            written=changed,
            msg=f"{len(document['certificates'])} certificates, {len(attention)} need attention;"
            f" {len(verifications)} meter verification result(s)",
        )
        return result
