# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The broker's files in one round trip: compare, stage, validate, promote, and say what the broker needs.

Used by the ``mosquitto_files`` module on the broker host. Every managed file has a path under the live directory
(``/etc/mosquitto``), its content, owner, group, mode and the *effect* a change to it has on a running Mosquitto
(``restart``: the configuration and the CA bundle; ``reload``: the server certificate and key, the ACL, the CRL
unless the role restarts for it). Nothing live changes before the whole staged set is validated; the staged copy
and the live one get their owner and mode before they have a name (``atomic.write_atomic``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import read_bytes, write_atomic

EFFECTS = ("none", "reload", "restart")


class BrokerFilesError(Exception):
    """A failure reported to the user; nothing live was changed."""


def ids(owner, group):
    """``(uid, gid)`` of the names, or a message naming the one the host does not have."""
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise BrokerFilesError(f"user {owner!r} does not exist on the broker host (is Mosquitto installed?)") from None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise BrokerFilesError(f"group {group!r} does not exist on the broker host (is Mosquitto installed?)") from None
    return uid, gid


def plan(live_dir, files):
    """Which files differ from the live ones, and how: ``[(file, content_differs, attributes_differ)]``.

    ``files``: dicts with ``path`` (relative to ``live_dir``, or absolute: a file outside the broker's directory,
    such as the helper, the logrotate entry or the systemd drop-in, written in place and never staged),
    ``content`` (str), ``owner``, ``group``, ``mode`` (octal string), ``effect``.
    """
    out = []
    for entry in files:
        live = os.path.join(live_dir, entry["path"])  # an absolute path stays itself
        current = read_bytes(live)
        want = entry["content"].encode("utf-8")
        content_differs = current != want
        attributes_differ = False
        if current is not None:
            st = os.stat(live)
            uid, gid = ids(entry["owner"], entry["group"])
            attributes_differ = (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (uid, gid, int(entry["mode"], 8))
        if content_differs or attributes_differ:
            out.append((entry, content_differs, attributes_differ))
    return out


def effect_of(changes):
    """The strongest effect of the changed files: ``restart`` covers ``reload``."""
    found = {entry["effect"] for entry, _content, _attrs in changes}
    for effect in reversed(EFFECTS):
        if effect in found:
            return effect
    return "none"


def ensure_directories(directories, check_mode):
    """Create or correct the directories (``path``, ``owner``, ``group``, ``mode``); the paths changed."""
    changed = []
    for entry in directories:
        path, mode = entry["path"], int(entry["mode"], 8)
        uid, gid = ids(entry["owner"], entry["group"])
        if os.path.isdir(path):
            st = os.stat(path)
            if (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, mode):
                continue
        changed.append(path)
        if check_mode:
            continue
        os.makedirs(path, mode=mode, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return changed


def write(directory, entry):
    """Write one managed file under ``directory`` with its owner and mode (atomic)."""
    path = os.path.join(directory, entry["path"])
    return write_atomic(path, entry["content"], mode=int(entry["mode"], 8), owner=ids(entry["owner"], entry["group"]))


def validate(argv, timeout, run):
    """Run the validation command on the staged set; raise with its output when it refuses it.

    ``run(argv) -> (rc, stdout, stderr)`` is the module's ``run_command``; coreutils ``timeout`` bounds the command
    (exit 124 when it had to stop it).
    """
    rc, out, err = run(["timeout", "--kill-after=5", str(timeout), *argv])
    output = ((out or "") + (err or "")).strip()
    if rc in (124, 137):
        raise BrokerFilesError(f"the validation of the staged broker files did not end within {timeout} s")
    if rc != 0:
        raise BrokerFilesError("the staged broker files were refused, nothing live was changed:\n" + output)
    return output


def staged(entry):
    """Whether the file belongs to the broker's set (staged and validated together) or lives elsewhere."""
    return not os.path.isabs(entry["path"])


def diff_of(entry, live_dir):
    """A diff entry for one file; a secret file's content is never in it."""
    if entry.get("secret"):
        return dict(before_header=entry["path"], after_header=entry["path"], before="", after="(secret: changed)\n")
    current = read_bytes(os.path.join(live_dir, entry["path"]))
    return dict(
        before_header=entry["path"],
        after_header=entry["path"],
        before="" if current is None else current.decode("utf-8", "replace"),
        after=entry["content"],
    )


def run_helper(argv, run):
    """Run one of the broker's commands (restart, reload, ensure-running); its output lines, or raise with its
    output (the role's helper says there whether it put the last good files back)."""
    rc, out, err = run(list(argv))
    if rc != 0:
        output = ((out or "") + (err or "")).strip()
        raise BrokerFilesError(f"{' '.join(argv)} failed (exit {rc}):\n{output}")
    return (out or "").split()


def strongest(*effects):
    """The strongest of ``effects`` (``restart`` covers ``reload``, which covers ``none``)."""
    return max(effects, key=EFFECTS.index)


def apply(
    live_dir, staging_dir, files, directories=(), validate_argv=None, check_mode=False, timeout=120, run=None,
    commands=None, effect_at_least="none",
):  # fmt: skip
    """Compare, stage, validate and promote ``files``, then have the broker take them; the module's result.

    A changed content stages the **whole** set (the validation reads a complete configuration) and promotes only
    what differs; owner or mode alone is corrected in place. Files with an absolute path (outside the set) are
    written first, in place. ``effect``: what the running broker needs now, the strongest of the changed files'
    effects and ``effect_at_least`` (``restart`` after a package install: the new binary must serve).
    ``run`` runs ``validate_argv`` (see ``validate``) and, last and never in check mode, ``commands[effect]``
    (``{"restart": argv, "reload": argv, "none": argv}``; the ``mosquitto`` role passes its helper's ``restart``,
    ``reload`` and ``ensure-running``), so the broker takes the new files, or is started when it does not run, in the
    same round trip. ``applied`` names the effect whose command ran, ``applied_output`` holds its output lines.
    """
    result = _apply(live_dir, staging_dir, files, directories, validate_argv, check_mode, timeout, run)
    result["effect"] = strongest(result["effect"], effect_at_least)
    argv = (commands or {}).get(result["effect"])
    if argv and not check_mode:
        result["applied_output"] = run_helper(argv, run)
        result["applied"] = result["effect"]
    return result


def _apply(live_dir, staging_dir, files, directories, validate_argv, check_mode, timeout, run):
    changed_dirs = ensure_directories(directories, check_mode)
    changes = plan(live_dir, files)
    result = dict(
        changed=bool(changes or changed_dirs),
        changed_files=[entry["path"] for entry, _c, _a in changes],
        changed_directories=changed_dirs,
        effect=effect_of(changes),
        validated=False,
        diff=[diff_of(entry, live_dir) for entry, content, _a in changes if content],
    )
    if check_mode or not changes:
        return result
    # Files outside the broker's set first: the helper among them is what validates the set.
    for entry, _content, _attrs in changes:
        if not staged(entry):
            write(live_dir, entry)
    if any(content and staged(entry) for entry, content, _a in changes):
        for entry in files:
            if staged(entry):
                write(staging_dir, entry)
        if validate_argv:
            result["validation"] = validate(validate_argv, timeout, run)
            result["validated"] = True
    for entry, _content, _attrs in changes:
        if staged(entry):
            write(live_dir, entry)
    return result
