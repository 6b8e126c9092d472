# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark profile: per-task wall time and the play recap, written as JSON for tools/bench/run.py.

Enabled only by the benchmark harness (ANSIBLE_CALLBACK_PLUGINS=tools/bench/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=bench_profile, WHATWATT_BENCH_PROFILE=<file>). A task's time runs from its
start to the start of the next task (or the end of the play), which is what a linear strategy spends on it.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_profile
type: aggregate
short_description: write per-task timings and the recap as JSON (benchmark harness only)
description:
  - Writes per-task wall time, per-task result counts and the per-host recap to the file named by
    the environment variable E(WHATWATT_BENCH_PROFILE).
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._start = time.monotonic()
        self._tasks = []
        self._current = None
        self._play = None

    def _close_current(self):
        if self._current is not None:
            self._current["seconds"] = round(time.monotonic() - self._current.pop("_t0"), 4)
            self._tasks.append(self._current)
            self._current = None

    def v2_playbook_on_play_start(self, play):
        self._close_current()
        self._play = play.get_name()

    def _task_start(self, task, kind="task"):
        self._close_current()
        self._current = {
            "play": self._play,
            "task": task.get_name(),
            "action": task.action,
            "kind": kind,
            "_t0": time.monotonic(),
            "results": {},
        }

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task, "handler")

    def _count(self, status):
        if self._current is not None:
            self._current["results"][status] = self._current["results"].get(status, 0) + 1

    def v2_runner_on_ok(self, result):
        self._count("changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count("ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._count("skipped")

    def v2_runner_on_unreachable(self, result):
        self._count("unreachable")

    def v2_runner_retry(self, result):
        self._count("retry")

    def v2_playbook_on_stats(self, stats):
        self._close_current()
        hosts = {}
        totals = {"ok": 0, "changed": 0, "failures": 0, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            hosts[host] = summary
            for key in totals:
                totals[key] += summary.get(key, 0)
        changed_hosts = sorted(h for h, s in hosts.items() if s.get("changed"))
        failed_hosts = sorted(h for h, s in hosts.items() if s.get("failures") or s.get("unreachable"))
        path = os.environ.get("WHATWATT_BENCH_PROFILE")
        if not path:
            return
        data = {
            "seconds": round(time.monotonic() - self._start, 4),
            "totals": totals,
            "hosts": len(hosts),
            "changed_hosts": changed_hosts[:50],
            "failed_hosts": failed_hosts,
            "tasks": self._tasks,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
