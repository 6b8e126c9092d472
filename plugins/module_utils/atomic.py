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
    nothing behind in the directory. Only a kill in the microseconds between naming the complete file and the rename
    can leave a whole copy (never a part), under the target's own name ``.<name>.tmp`` (see ``temp_name``), and the
    next call for that target removes it, so a leftover lives until the next run at most.
    An unchanged file is not touched (its mtime stays), but a wrong mode is corrected.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    _unlink_quietly(temp_name(path))
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


def temp_name(path):
    """The name under which a write of ``path`` makes its complete new content visible just before the rename:
    ``.<name>.tmp`` beside it. Only whole files ever carry it (the O_TMPFILE path names a file once it is complete),
    so the next write of ``path`` may remove it unconditionally: at worst that is another writer's complete copy,
    and that writer links its file again (``_rename_over``)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, "." + name[:240] + ".tmp")


def clear_leftovers_in(directory):
    """Remove every whole copy a killed writer left in ``directory`` (``.<name>.tmp`` and its random variants), also
    those of targets no run writes again. Only for directories the collection owns (the PKI, the meter records):
    there no other program names files like that. Returns the names removed."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    removed = []
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False):
            _unlink_quietly(entry.path)
            removed.append(entry.name)
    return sorted(removed)


def _write_unnamed(directory, data, mode, target, owner=None):
    """Write ``data`` to an O_TMPFILE file, give it a temporary name only once it is complete, and rename that over
    ``target`` straight away (before closing anything: every call that lets go of the GIL between naming and
    renaming widens the window in which a SIGKILL leaves a whole ``.<name>.tmp`` copy, measured with 16 threads).

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
        return _rename_over(fd, proc_fd, target)
    finally:
        os.close(proc_fd)
        os.close(fd)


def _rename_over(fd, proc_fd, target):
    """Give the complete O_TMPFILE file ``fd`` the target's temporary name and rename it over ``target`` at once.

    The target's own temporary name first; a random one while another writer of the same target holds it. A rename
    that finds its name gone (another writer's start removed it, taking it for a leftover) links the file again,
    unless it already is the target (that other writer renamed it). None when linking is impossible.
    """
    base = temp_name(target)
    names = [base] + [base[: -len(".tmp")] + "." + os.urandom(6).hex() + ".tmp" for _n in range(10)]
    for name in names * 2:
        try:
            os.link(str(fd), name, src_dir_fd=proc_fd, follow_symlinks=True)
        except FileExistsError:
            continue
        except OSError:
            return None
        try:
            os.replace(name, target)
        except FileNotFoundError:
            if _is_file(fd, target):
                return True
            continue
        except BaseException:
            _unlink_quietly(name)
            raise
        return True
    return None


def _is_file(fd, path):
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _write_named(directory, data, mode, owner=None):
    """Fallback: a named temporary file, removed again when the write fails. A SIGKILL during the write can leave
    this ``.tmp-*`` file (possibly partial: it is never renamed by anyone, and no cleanup touches it)."""
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
