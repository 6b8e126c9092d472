# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of the device_settings action: report interval and Web UI protection.

The Web UI password is write-only. Instead of keeping a hash of it, the action proves it: when
protection is on, the device only answers after authentication, so the password it accepted is
the password it holds. The client tries ``password`` first and ``new_password`` second; if the
device accepted ``new_password``, nothing needs changing.
"""

from __future__ import absolute_import, division, print_function


from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattError

LIMIT_PASSWORD = 31
# What a diff shows for the write-only password: a marker, never a value.
_MARK_BEFORE = "(not shown)"  # noqa: S105
_MARK_AFTER = "(changed, not shown)"  # noqa: S105

SETTINGS_ARGUMENT_SPEC = dict(
    report_interval=dict(type="int"),
    protection=dict(type="bool"),
    new_password=dict(type="str", no_log=True),
    update_password=dict(type="str", default="on_change", choices=["on_change", "always"]),
)

# option name -> path in /api/v1/settings
FIELDS = (
    ("report_interval", ("services", "report_interval")),
    ("protection", ("system", "protection")),
)


def readable_settings(answer):
    """The managed readable fields of a ``/api/v1/settings`` answer, flat."""
    flat = {}
    for name, path in FIELDS:
        value = answer or {}
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        flat[name] = value
    flat["protection"] = bool(flat["protection"])
    return flat


def validate_settings(options, label):
    """Problems with the options, each naming the field and the device."""
    problems = []
    interval = options.get("report_interval")
    if interval is not None and not 1 <= interval <= 3600:
        problems.append(f"report_interval must be 1..3600 seconds, got {interval}")
    new_password = options.get("new_password")
    if new_password is not None:
        if len(new_password) > LIMIT_PASSWORD:
            problems.append(f"new_password must be at most {LIMIT_PASSWORD} characters")
        if any(ord(c) < 32 or ord(c) == 127 for c in new_password):
            problems.append("new_password must not contain control characters")
    if options.get("protection") and not new_password and not options.get("password"):
        problems.append("protection: true needs new_password (or password), or the device keeps an unknown one")
    return [f"{label}: {p}" for p in problems]


def plan_settings(options, answer, accepted_password):
    """Return (changes, body, send_password, before, after).

    ``accepted_password`` is the password the device accepted in this task, or None when it
    asked for none (protection off).
    """
    before = readable_settings(answer)
    changes = {}
    for name, _path in FIELDS:
        value = options.get(name)
        if value is not None and value != before[name]:
            changes[name] = value
    protection_after = changes.get("protection", before["protection"])
    new_password = options.get("new_password")
    if new_password is None and changes.get("protection") is True:
        new_password = options.get("password")
    send_password = False
    if new_password is not None:
        if options.get("update_password") == "always":
            send_password = True
        elif changes.get("protection") is True:
            send_password = True  # turning protection on: set the password we will use
        elif protection_after and accepted_password != new_password:
            send_password = True  # the device accepted another password (or none): change it
    body = {}
    for name, path in FIELDS:
        if name in changes:
            body.setdefault(path[0], {})[path[1]] = changes[name]
    if send_password:
        body.setdefault("system", {})["password"] = new_password
    after = dict(before, **changes)
    return changes, body, send_password, before, after


def settings_diff(before, after, send_password):
    """Ansible diff: readable fields, and the password only as a marker."""
    before = dict(before)
    after = dict(after)
    if send_password:
        before["password"] = _MARK_BEFORE
        after["password"] = _MARK_AFTER
    return dict(before=before, after=after)


def run_settings(client, options, check_mode=False):
    """One device_settings task: validate, GET, plan, PUT when needed. Returns the result dict."""
    label = client.label
    problems = validate_settings(options, label)
    if problems:
        raise WhatWattError("; ".join(problems))
    answer = client.get_settings()
    accepted = None
    if client.password_used is not None:
        accepted = ([options.get("password") or ""] + [options.get("new_password")])[client.password_used]
    changes, body, send_password, before, after = plan_settings(options, answer, accepted)
    result = dict(
        changed=bool(body),
        previous=before,
        settings=after,
        password_changed=send_password,
        changed_fields=sorted(changes) + (["password"] if send_password else []),
        diff=settings_diff(before, after, send_password),
    )
    if check_mode or not body:
        return result
    put_answer = client.put_settings(body)
    if isinstance(put_answer, dict) and put_answer:
        confirmed = readable_settings(put_answer)
        wrong = [f"{k} is {confirmed[k]!r}, not {v!r}" for k, v in changes.items() if confirmed[k] != v]
        if wrong:
            raise WhatWattError(f"{label}: the device did not apply the settings: {'; '.join(wrong)}")
        result["settings"] = confirmed
    return result
