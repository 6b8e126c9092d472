# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin whatwatt.secure_mqtt.pki_lock: one playbook run at a time per PKI directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import os

from ansible.utils.display import Display

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.pki_lock import (
    LOCK_ARGUMENT_SPEC,
    PkiLockTimeout,
    acquire,
    describe,
    lock_path,
    make_holder,
    release,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.action_base import SpecAction

display = Display()


class ActionModule(SpecAction):
    """The holder is the ``ansible-playbook`` process (this worker's parent), so the lock lasts the whole run and a
    run that dies leaves a lock the next run can tell is stale."""

    ARGUMENT_SPEC = LOCK_ARGUMENT_SPEC

    def act(self, args, task_vars, result):
        path = lock_path(args["path"])
        me = make_holder(os.getppid(), args["playbook"] or "")
        result.update(changed=False, path=path, holder=me)
        if args["state"] == "released":
            result["released"] = release(path, me)
            result["msg"] = f"released {path}" if result["released"] else f"{path} was not held by this run"
            return result
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o700, exist_ok=True)

        def on_wait(holder):
            display.display(f"PKI {args['path']} is locked by another run ({describe(holder)}): waiting up to"
                            f" {args['timeout']} s")  # fmt: skip

        try:
            taken = acquire(path, me, timeout=args["timeout"], poll=args["poll"], on_wait=on_wait)
        except PkiLockTimeout as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(taken)
        previous = f"; took over the stale lock of {describe(taken['previous'])}" if taken["status"] == "stale" else ""
        waited = f" after waiting {taken['waited']} s" if taken["waited"] >= 1 else ""
        result["msg"] = f"holding {path} ({describe(me)}){waited}{previous}"
        if previous:
            result["warnings"] = [f"took over the stale PKI lock of {describe(taken['previous'])} (that run is gone)"]
        return result
