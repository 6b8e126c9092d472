# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's record of what it last pushed to each client id (the meter never shows its certificates or
key): ``<record_dir>/<client_id>.json`` holds fingerprints, never key material; ``<client_id>.ca.crt``/``.crt``/
``.key`` (and ``.previous.*``) hold copies of what was pushed, all 0600, so a meter can be rolled back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity


import datetime
import json
import os


from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import naming
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import ensure_dir, read_bytes, write_atomic
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    WhatWattError,
)


RECORD_FORMAT = 1


# -- the record ------------------------------------------------------------------------------
_RECORD_FILES = (("ca", "ca.crt"), ("cert", "crt"), ("key", "key"))


def record_path(record_dir, client_id, generation="current", part=None):
    """``<dir>/<client_id>.json``, ``<dir>/<client_id>.crt``, ``<dir>/<client_id>.previous.key``..."""
    stem = client_id if generation == "current" else f"{client_id}.previous"
    if part is None:
        return os.path.join(record_dir, f"{client_id}.json")
    return os.path.join(record_dir, f"{stem}.{dict(_RECORD_FILES)[part]}")


def check_record_name(client_id, label):
    """The client id names record files: the client-id rule keeps them inside the record directory."""
    return [f"{label}: {problem}" for problem in naming.client_id_problems(client_id)]


def load_record(record_dir, client_id):
    """The record for ``client_id`` or None when there is none; raises on an unreadable one."""
    data = read_bytes(record_path(record_dir, client_id))
    if data is None:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise WhatWattError(f"record {record_path(record_dir, client_id)} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise WhatWattError(f"record {record_path(record_dir, client_id)} has an unknown format")
    return record


def load_generation_files(record_dir, client_id, generation):
    """The PEM copies of one generation as a dict part -> text (None for a missing part)."""
    files = {}
    for part, _suffix in _RECORD_FILES:
        data = read_bytes(record_path(record_dir, client_id, generation, part))
        files[part] = data.decode("utf-8") if data is not None else None
    return files


def save_record(record_dir, client_id, record, files, previous_files):
    """Write the record and the PEM copies, 0600 each, atomically; return True when anything changed."""
    changed = ensure_dir(record_dir, 0o700)
    for generation, content in (("previous", previous_files), ("current", files)):
        for part, _suffix in _RECORD_FILES:
            path = record_path(record_dir, client_id, generation, part)
            value = (content or {}).get(part)
            if value is None:
                if os.path.exists(path):
                    os.unlink(path)
                    changed = True
            else:
                changed = write_atomic(path, value, 0o600) or changed
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    return write_atomic(record_path(record_dir, client_id), text, 0o600) or changed


def new_record(client_id, device, current, previous):
    return dict(format=RECORD_FORMAT, client_id=client_id, device=device, current=current, previous=previous)


def record_entry(settings, certificates_fps, when=None):
    """One generation of the record: readable settings and certificate fingerprints."""
    when = when or datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    return dict(settings=settings, certificates=certificates_fps, pushed=when)
