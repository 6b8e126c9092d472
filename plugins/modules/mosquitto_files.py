#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

DOCUMENTATION = r"""
module: mosquitto_files
short_description: Compare, stage, validate and promote a Mosquitto broker's files in one round trip
version_added: 2.0.0
description:
  - Runs on the broker host. Compares every managed file (configuration, ACL, CA bundle, server certificate and
    key, CRL) with the live one under O(live_dir); when any content differs, writes the whole set into
    O(staging_dir), runs O(validate) on it and only then promotes the files that differ. Nothing live changes when
    the validation refuses the set. An owner or mode that drifted is corrected in place.
  - Each file names the O(files[].effect) a change to it has on a running broker; the module returns the strongest
    as RV(effect) (C(restart) covers C(reload)) and, with O(apply), runs the command for it last, so the broker
    takes the files in the same round trip (the C(mosquitto) role's helper restarts or reloads it, or starts it
    when nothing changed and it does not run).
  - Every file is written atomically with its owner and mode set before it has a name.
  - A broker play is this one module call after C(mosquitto_info), changed or not.
author:
  - whatwatt.secure_mqtt contributors (@whatwatt-secure-mqtt)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  live_dir:
    description: Directory of the live files; O(files[].path) is relative to it.
    type: path
    default: /etc/mosquitto
  staging_dir:
    description: Directory the candidate set is written to and validated in (same layout as O(live_dir)).
    type: path
    default: /etc/mosquitto/.staging
  files:
    description: The managed files that are not secret (their content may appear in a diff).
    type: list
    elements: dict
    default: []
    suboptions: &file_options
      path:
        description:
          - Path relative to O(live_dir) (and O(staging_dir)), a file of the broker's set, staged and validated with
            the others before it is promoted.
          - An absolute path is a file outside the set (the role's helper, the logrotate entry, the systemd drop-in),
            compared and written in place, before the set is validated, never staged.
        type: str
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
      owner: &owner
        description: Owner (user name).
        type: str
        default: root
      group: &group
        description: Group (name).
        type: str
        default: mosquitto
      mode:
        description: Mode, as an octal string.
        type: str
        default: "0640"
      effect:
        description: What a running broker needs when this file changes.
        type: str
        choices: [none, reload, restart]
        default: restart
  secret_files:
    description: The managed files whose content is secret (the server key); never in a diff or in the output.
    type: list
    elements: dict
    default: []
    suboptions: *file_options
  directories:
    description: Directories made sure of first (created or corrected).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      owner: *owner
      group: *group
      mode:
        description: Mode, as an octal string.
        type: str
        default: "0750"
  validate:
    description:
      - Command (argv) that validates the staged set (exit 0 = valid); run only when a content differs.
      - The C(mosquitto) role passes its helper's C(validate) (a scratch broker on the candidate).
    type: list
    elements: str
  validate_timeout:
    description: Seconds the validation may take; the command is stopped (coreutils C(timeout)) after that.
    type: int
    default: 120
  apply:
    description:
      - The commands (argv) that make the broker take the files, by RV(effect); the one for RV(effect) runs last, in
        the same module run, never in check mode. A non-zero exit fails the task with the command's output (the
        C(mosquitto) role's helper then says whether it put the last good files back and whether the broker is up).
      - The C(mosquitto) role passes its helper's C(restart), C(reload) and C(ensure-running) (for C(none), start
        the broker when it does not run), so that a broker play is one module run for the files and the broker.
    type: dict
    suboptions:
      restart:
        description: Run when RV(effect) is C(restart).
        type: list
        elements: str
      reload:
        description: Run when RV(effect) is C(reload).
        type: list
        elements: str
      none:
        description: Run when the broker needs nothing of the files (RV(effect) C(none)).
        type: list
        elements: str
  effect_at_least:
    description:
      - An effect the broker needs whatever the files; RV(effect) is the stronger of this and the files' one.
      - The C(mosquitto) role passes C(restart) after installing or upgrading the package (the new binary must
        serve).
    type: str
    choices: [none, reload, restart]
    default: none
attributes:
  check_mode:
    support: full
    details: Reports what would change and the effect; writes nothing, validates nothing, runs no O(apply) command.
  diff_mode:
    support: full
    details: Before and after of each changed file that is not secret; a secret file shows only that it changed.
  platform:
    support: full
    platforms: posix
notes:
  - The staged set stays in O(staging_dir) after a change (the C(mosquitto) role's validation and rollback use it);
    it is as strict as the live files (the server key C(0640 root:mosquitto)).
seealso:
  - module: whatwatt.secure_mqtt.pki
"""

EXAMPLES = r"""
- name: Stage, validate and promote the broker files
  whatwatt.secure_mqtt.mosquitto_files:
    files:
      - path: mosquitto.conf
        content: "{{ lookup('ansible.builtin.template', 'mosquitto.conf.j2') }}"
        effect: restart
      - path: certs/server.crt
        content: "{{ lookup('ansible.builtin.file', pki_dir ~ '/servers/broker.crt', rstrip=false) }}"
        mode: "0644"
        effect: reload
    secret_files:
      - path: certs/server.key
        content: "{{ lookup('ansible.builtin.file', pki_dir ~ '/servers/broker.key', rstrip=false) }}"
        effect: reload
    validate: [/usr/bin/python3, /usr/local/lib/whatwatt-secure-mqtt/mosquittoctl.py, validate]
    apply:
      restart: [/usr/bin/python3, /usr/local/lib/whatwatt-secure-mqtt/mosquittoctl.py, restart]
      reload: [/usr/bin/python3, /usr/local/lib/whatwatt-secure-mqtt/mosquittoctl.py, reload]
      none: [/usr/bin/python3, /usr/local/lib/whatwatt-secure-mqtt/mosquittoctl.py, ensure-running]
  register: broker_files
"""

RETURN = r"""
changed_files:
  description: Paths (relative to O(live_dir)) whose content, owner or mode differed from what was asked.
  returned: always
  type: list
  elements: str
  sample: [certs/server.crt, certs/server.key]
changed_directories:
  description: Directories created or corrected.
  returned: always
  type: list
  elements: str
effect:
  description: What the running broker needs now, C(none), C(reload) or C(restart) (the strongest of the changed
    files' effects and O(effect_at_least)).
  returned: always
  type: str
  sample: reload
validated:
  description: Whether the staged set was validated in this run (only when a content changed, never in check mode).
  returned: always
  type: bool
validation:
  description: What the validation printed.
  returned: when validated
  type: str
applied:
  description: The effect whose O(apply) command ran (C(none) is the broker made sure to run).
  returned: when a command of O(apply) ran
  type: str
  sample: restart
applied_output:
  description: The output lines of that command (the role's helper prints C(restarted), C(reloaded), C(running),
    C(started), C(snapshot)).
  returned: when a command of O(apply) ran
  type: list
  elements: str
  sample: [running]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.broker_files import (  # noqa: E402
    EFFECTS,
    BrokerFilesError,
    apply,
)


def _file_options(secret):
    return dict(
        path=dict(type="str", required=True),
        content=dict(type="str", required=True, no_log=secret),
        owner=dict(type="str", default="root"),
        group=dict(type="str", default="mosquitto"),
        mode=dict(type="str", default="0640"),
        effect=dict(type="str", choices=list(EFFECTS), default="restart"),
    )


def argument_spec():
    return dict(
        live_dir=dict(type="path", default="/etc/mosquitto"),
        staging_dir=dict(type="path", default="/etc/mosquitto/.staging"),
        files=dict(type="list", elements="dict", default=[], options=_file_options(False)),
        # no_log on the content only: on the list it would mask the paths and effects in the result too.
        secret_files=dict(type="list", elements="dict", default=[], options=_file_options(True), no_log=False),
        directories=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                path=dict(type="path", required=True),
                owner=dict(type="str", default="root"),
                group=dict(type="str", default="mosquitto"),
                mode=dict(type="str", default="0750"),
            ),
        ),
        validate=dict(type="list", elements="str"),
        validate_timeout=dict(type="int", default=120),
        apply=dict(
            type="dict",
            options={effect: dict(type="list", elements="str") for effect in ("restart", "reload", "none")},
        ),
        effect_at_least=dict(type="str", choices=list(EFFECTS), default="none"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    files = [dict(entry, secret=False) for entry in p["files"]]
    files += [dict(entry, secret=True) for entry in p["secret_files"]]
    try:
        result = apply(
            p["live_dir"],
            p["staging_dir"],
            files,
            directories=p["directories"],
            validate_argv=p["validate"],
            check_mode=module.check_mode,
            timeout=p["validate_timeout"],
            run=module.run_command,
            commands=p["apply"],
            effect_at_least=p["effect_at_least"],
        )
    except BrokerFilesError as exc:
        module.fail_json(msg=str(exc))
    diff = result.pop("diff")
    if module._diff and diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
