# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic, permission-first file writes shared by every part of the collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


def ensure_dir(path, mode=0o700):
    """Create ``path`` (and parents) with ``mode``; tighten the mode of an existing directory.

    Returns True when something was created or changed.
    """
    changed = False
    if not os.path.isdir(path):
        os.makedirs(path, mode=mode)
        changed = True
    if (os.stat(path).st_mode & 0o777) != mode:
        os.chmod(path, mode)
        changed = True
    return changed


def read_bytes(path):
    """Return the content of ``path`` or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_atomic(path, data, mode=0o600):
    """Write ``data`` (bytes or str) to ``path`` only when it differs; return True when written.

    The temporary file is created with ``mode`` from the start (never readable by others, not
    even for an instant), fsynced, then renamed over the target, so an interrupted run leaves
    either the old file or the new one, never half of one. An unchanged file is not touched
    (its mtime stays), but a wrong mode is corrected.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    current = read_bytes(path)
    if current == data:
        if (os.stat(path).st_mode & 0o777) != mode:
            os.chmod(path, mode)
            return True
        return False
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True
