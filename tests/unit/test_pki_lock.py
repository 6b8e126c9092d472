# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PKI lock: one run at a time per PKI directory, a clear message naming the holder, stale locks taken over."""

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import pki_lock as lk


def holder(pid, host="ctl-01", start=100, playbook="site.yml"):
    return dict(pid=pid, host=host, process_start=start, started="2026-12-02T14:00:00Z", playbook=playbook)


def test_lock_path_is_beside_the_directory(tmp_path):
    assert lk.lock_path(str(tmp_path / "pki") + "/") == str(tmp_path / "pki.lock")


def test_free_then_busy_then_reentrant_then_released(tmp_path):
    path = str(tmp_path / "pki.lock")
    a, b = holder(1), holder(2)
    assert lk.try_acquire(path, a, alive=lambda h: True) == (True, "free", None)
    assert lk.try_acquire(path, b, alive=lambda h: True) == (False, "busy", a)
    assert lk.try_acquire(path, a, alive=lambda h: True)[:2] == (True, "held")
    assert lk.release(path, b) is False  # only the holder frees it
    assert lk.release(path, a) is True
    assert lk.try_acquire(path, b, alive=lambda h: True) == (True, "free", None)
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == b


def test_a_stale_holder_is_taken_over(tmp_path):
    path = str(tmp_path / "pki.lock")
    lk.try_acquire(path, holder(1), alive=lambda h: True)
    acquired, status, other = lk.try_acquire(path, holder(2), alive=lambda h: False)
    assert (acquired, status, other["pid"]) == (True, "stale", 1)


def test_waiting_says_who_holds_it_and_gives_up_naming_the_holder(tmp_path):
    path = str(tmp_path / "pki.lock")
    lk.try_acquire(path, holder(1, playbook="rotate.yml"), alive=lambda h: True)
    told, clock = [], [0.0]
    with pytest.raises(lk.PkiLockTimeout) as caught:
        lk.acquire(path, holder(2), timeout=5, poll=1, alive=lambda h: True, on_wait=told.append,
                   sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])  # fmt: skip
    assert [h["pid"] for h in told] == [1]  # said once, not on every poll
    message = str(caught.value)
    assert "pid 1 on ctl-01 (rotate.yml), started 2026-12-02T14:00:00Z" in message
    assert "gave up after 5 s (whatwatt_pki_lock_timeout)" in message and path in message


def test_acquire_waits_until_the_holder_frees_it(tmp_path):
    path = str(tmp_path / "pki.lock")
    lk.try_acquire(path, holder(1), alive=lambda h: True)
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        if len(polls) == 3:
            lk.release(path, holder(1))

    taken = lk.acquire(path, holder(2), timeout=60, poll=0.5, alive=lambda h: True, sleep=sleep)
    assert taken["status"] == "free" and len(polls) == 3


def test_liveness_by_pid_and_process_start():
    me = lk.make_holder(os.getpid(), "site.yml")
    assert me["process_start"] == lk.process_start(os.getpid()) and me["playbook"] == "site.yml"
    assert lk.holder_alive(me)
    assert not lk.holder_alive(dict(me, process_start=me["process_start"] + 1))  # pid reused by another process
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    assert not lk.holder_alive(lk.make_holder(int(gone.stdout), "x"))
    assert lk.holder_alive(dict(me, host="another-host"))  # cannot be checked from here: wait for it


def test_playbooks_of_a_command_line():
    args = ["-i", "inv/hosts.yml", "playbooks/site.yml", "-e", "@vars.yml", "-e", "x.yml", "--limit", "a.yml"]
    assert lk.playbooks_of(args) == ["site.yml"]


def _hold(path, ready, done):
    me = lk.make_holder(os.getpid(), "site.yml")
    lk.acquire(path, me)
    ready.set()
    done.wait(10)
    lk.release(path, me)


def test_two_processes_never_hold_it_at_once(tmp_path):
    path = str(tmp_path / "pki.lock")
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(target=_hold, args=(path, ready, done))
    other.start()
    try:
        assert ready.wait(10)
        me = lk.make_holder(os.getpid(), "site.yml")
        assert lk.try_acquire(path, me)[:2] == (False, "busy")
        done.set()
        begin = time.monotonic()
        taken = lk.acquire(path, me, timeout=10, poll=0.05)
        assert taken["status"] == "free" and time.monotonic() - begin < 10
    finally:
        done.set()
        other.join(10)


def test_a_run_that_died_leaves_a_lock_the_next_run_takes_over(tmp_path):
    path = str(tmp_path / "pki.lock")
    code = (
        "import os, sys; sys.path[:0] = sys.argv[2:]; "
        "from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import pki_lock as lk; "
        "lk.acquire(sys.argv[1], lk.make_holder(os.getpid(), 'site.yml')); os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", code, path, *sys.path], check=False)
    taken = lk.acquire(path, lk.make_holder(os.getpid(), "site.yml"), timeout=1)
    assert taken["status"] == "stale" and taken["previous"]["playbook"] == "site.yml"
