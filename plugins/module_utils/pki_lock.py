# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One playbook run at a time per PKI directory, on the controller.

The lock is the file ``<pki_dir>.lock`` beside the directory (so the PKI tree itself is never touched by
it). It holds the holder as JSON - pid of the ``ansible-playbook`` process, host, start time, playbook -
or nothing when free. Every read-modify-write of it happens under ``flock``, so two runs can never both
take it. A holder on this host whose process is gone (or whose pid now belongs to another process: the
process start time is recorded) is stale and is taken over; a holder on another host (a PKI directory on
shared storage) is waited for until the timeout, as its process cannot be checked from here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import datetime
import fcntl
import json
import os
import socket
import time

LOCK_ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", choices=["acquired", "released"], default="acquired"),
    timeout=dict(type="int", default=1800),
    poll=dict(type="float", default=1.0),
    playbook=dict(type="str"),
)


class PkiLockTimeout(Exception):
    """The lock stayed held by another run for the whole timeout."""


def lock_path(pki_dir):
    """``/srv/pki`` -> ``/srv/pki.lock``."""
    return os.path.abspath(pki_dir).rstrip(os.sep) + ".lock"


def process_start(pid):
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), None when gone."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def process_playbook(pid):
    """The playbook named on ``ansible-playbook``'s command line, '' when it cannot be read."""
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as handle:
            args = handle.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return ""
    return " ".join(playbooks_of(args[1:]))


# ansible-playbook options whose value is a separate argument that may end in .yml (not a playbook).
_VALUE_OPTIONS = (
    "-i",
    "--inventory",
    "--inventory-file",
    "-e",
    "--extra-vars",
    "--vault-password-file",
    "-l",
    "--limit",
)


def playbooks_of(args):
    """The playbook arguments of an ``ansible-playbook`` command line (basenames)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _VALUE_OPTIONS:
            skip = True
            continue
        if not arg.startswith(("-", "@")) and arg.endswith((".yml", ".yaml")):
            out.append(os.path.basename(arg))
    return out


def make_holder(pid, playbook="", host=None, now=None):
    """Who holds the lock: pid, host, process start, start time (UTC), playbook."""
    now = now or datetime.datetime.now(datetime.UTC)
    return dict(
        pid=int(pid),
        host=host or socket.gethostname(),
        process_start=process_start(pid),
        started=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        playbook=playbook or process_playbook(pid),
    )


def describe(holder):
    """``pid 4242 on ctl-01 (site.yml), started 2026-12-02T14:00:00Z``."""
    playbook = f" ({holder.get('playbook')})" if holder.get("playbook") else ""
    return f"pid {holder.get('pid')} on {holder.get('host')}{playbook}, started {holder.get('started')}"


def same_holder(a, b):
    keys = ("pid", "host", "process_start")
    return all(a.get(k) == b.get(k) for k in keys)


def holder_alive(holder, host=None, start_of=process_start):
    """Whether the holder's run may still be going: always true for another host (cannot be checked)."""
    if holder.get("host") != (host or socket.gethostname()):
        return True
    started = start_of(holder.get("pid", -1))
    return started is not None and started == holder.get("process_start")


def _read(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    try:
        holder = json.loads(data.decode("utf-8")) if data.strip() else None
    except ValueError:
        holder = {"pid": None, "host": "?", "started": "?", "playbook": "unreadable lock file"}
    return holder if isinstance(holder, dict) or holder is None else None


def _write(fd, holder):
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    if holder is not None:
        os.write(fd, (json.dumps(holder, sort_keys=True) + "\n").encode("utf-8"))
    os.fsync(fd)


def _locked(path, function):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return function(fd)
    finally:
        os.close(fd)  # closing releases the flock


def try_acquire(path, me, alive=holder_alive):
    """One attempt: ``(acquired, status, other)``; status ``free``, ``stale`` (taken over), ``held`` (already ours,
    e.g. a playbook importing site.yml) or ``busy`` (``other`` holds it)."""

    def attempt(fd):
        holder = _read(fd)
        if holder is not None and same_holder(holder, me):
            return True, "held", holder
        if holder is not None and alive(holder):
            return False, "busy", holder
        _write(fd, me)
        return True, "stale" if holder is not None else "free", holder

    return _locked(path, attempt)


def acquire(path, me, timeout=1800, poll=1.0, alive=holder_alive, sleep=time.sleep, clock=time.monotonic, on_wait=None):
    """Take the lock, waiting up to ``timeout`` seconds for another run; ``{status, waited, previous}``.

    ``on_wait(holder)`` is called once per holder waited for (to say who). PkiLockTimeout names the holder.
    """
    begin = clock()
    told = None
    while True:
        acquired, status, other = try_acquire(path, me, alive)
        if acquired:
            return dict(status=status, waited=round(clock() - begin, 1), previous=other)
        if on_wait is not None and (told is None or not same_holder(told, other)):
            on_wait(other)
            told = other
        if clock() - begin >= timeout:
            raise PkiLockTimeout(
                f"the PKI {path[: -len('.lock')]} is locked by another run: {describe(other)}; gave up after"
                f" {timeout} s (whatwatt_pki_lock_timeout). If that run is gone, remove {path}"
            )
        sleep(poll)


def release(path, me):
    """Free the lock if ``me`` holds it; True when it did."""
    if not os.path.exists(path):
        return False

    def attempt(fd):
        holder = _read(fd)
        if holder is not None and same_holder(holder, me):
            _write(fd, None)
            return True
        return False

    return _locked(path, attempt)
