# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic, permission-first file writes shared by every part of the collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import tempfile


def ensure_dir(path, mode=0o700):
    """Create ``path`` (and parents) with ``mode``; tighten the mode of an existing directory.

    Returns True when something was created or changed.
    """
    changed = False
    if not os.path.isdir(path):
        # exist_ok: device_fleet's threads may create a record directory at the same moment
        os.makedirs(path, mode=mode, exist_ok=True)
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


def write_atomic(path, data, mode=0o600, owner=None):
    """Write ``data`` (bytes or str) to ``path`` only when it differs; return True when written.

    ``owner``: ``(uid, gid)`` the file gets before it has a name (a broker's key is never root-only or
    another group's, not even for an instant); None leaves the writer's.

    The new content goes to a file created with ``mode`` from the start (never readable by others,
    not even for an instant), fsynced, then renamed over the target, so an interrupted run leaves
    either the old file or the new one, never half of one. Where the kernel offers it (Linux
    ``O_TMPFILE``) that file has no name until it is complete, so even a SIGKILL mid-write leaves
    nothing behind in the directory (only a kill in the microseconds between naming the complete
    file and the rename can leave a whole ``.tmp-*`` copy). An unchanged file is not touched (its mtime stays), but a
    wrong mode is corrected.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    current = read_bytes(path)
    if current == data:
        st = os.stat(path)
        changed = False
        if owner is not None and (st.st_uid, st.st_gid) != tuple(owner):
            os.chown(path, owner[0], owner[1])
            changed = True
        if (st.st_mode & 0o777) != mode:
            os.chmod(path, mode)
            changed = True
        return changed
    directory = os.path.dirname(os.path.abspath(path))
    if _write_unnamed(directory, data, mode, path, owner):
        return True
    tmp = _write_named(directory, data, mode, owner)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return True


def _write_unnamed(directory, data, mode, target, owner=None):
    """Write ``data`` to an O_TMPFILE file, give it a temporary name only once it is complete, and rename that over
    ``target`` straight away (before closing anything: every call that lets go of the GIL between naming and
    renaming widens the window in which a SIGKILL leaves a whole ``.tmp-*`` copy, measured with 16 threads).

    Returns True when written, or None where O_TMPFILE or /proc is not available (the caller falls back).
    """
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        fd = os.open(directory, flag | os.O_WRONLY, mode)
    except OSError:
        return None
    try:
        _set_attributes(fd, mode, owner)
        _write_all(fd, data)
        # linkat(AT_SYMLINK_FOLLOW) through /proc/self/fd; a plain os.link(path) would call link(2),
        # which links the /proc symlink itself and fails with EXDEV.
        proc_fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        os.close(fd)
        return None
    try:
        for _attempt in range(10):
            name = os.path.join(directory, ".tmp-" + os.urandom(6).hex())
            try:
                os.link(str(fd), name, src_dir_fd=proc_fd, follow_symlinks=True)
            except FileExistsError:
                continue
            except OSError:
                return None
            try:
                os.replace(name, target)
            except BaseException:
                _unlink_quietly(name)
                raise
            return True
        return None
    finally:
        os.close(proc_fd)
        os.close(fd)


def _write_named(directory, data, mode, owner=None):
    """Fallback: a named temporary file, removed again when the write fails."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        try:
            _set_attributes(fd, mode, owner)
            _write_all(fd, data)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _set_attributes(fd, mode, owner):
    if owner is not None:
        os.fchown(fd, owner[0], owner[1])
    os.fchmod(fd, mode)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _unlink_quietly(path):
    with contextlib.suppress(OSError):
        os.unlink(path)
