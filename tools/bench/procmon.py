# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Process-tree sampling from /proc: memory of the controller, CPU of the fleet processes."""

import os
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name (index 0 = state)."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
        text = handle.read()
    return text[text.rindex(")") + 2 :].split()


def parent_map():
    """{pid: ppid} of every process."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat_fields(entry)[1])
            except (OSError, ValueError, IndexError):
                continue
    return parents


def descendants(root, parents=None):
    """root and every process below it."""
    parents = parent_map() if parents is None else parents
    children = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in parents or pid == root:
            found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * PAGE


def pss_bytes(pid):
    """Proportional set size: shared pages (forked workers) counted once across the tree."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    """user+sys seconds of a live process (itself and its reaped children)."""
    fields = _stat_fields(pid)
    # utime stime cutime cstime are fields 14..17 of stat; index 11..14 here.
    return sum(int(v) for v in fields[11:15]) / TICK


class TreeMemorySampler:
    """Samples the summed RSS and PSS of a process tree every ``interval`` seconds; keeps the peaks."""

    def __init__(self, root_pid, interval=0.2):
        self.root = root_pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_procs = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def sample(self):
        rss = pss = procs = 0
        for pid in descendants(self.root):
            try:
                rss += rss_bytes(pid)
                pss += pss_bytes(pid)
                procs += 1
            except (OSError, ValueError):
                continue
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_procs = max(self.peak_procs, procs)
        self.samples += 1

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def wait_sampling(proc, sampler):
    """Wait for a Popen while sampling; return its exit code."""
    try:
        while proc.poll() is None:
            time.sleep(0.05)
    finally:
        sampler.stop()
    return proc.returncode
