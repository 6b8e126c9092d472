"""The one playbook runner: ``ansible-playbook`` as a subprocess, its PLAY RECAP parsed per host.

``run(argv, env=..., cwd=..., timeout=...)`` returns a ``subprocess.CompletedProcess`` with three more attributes:
``recap`` ({host: {ok, changed, unreachable, failed}}), ``elapsed`` (seconds) and ``timed_out``. The run is its own
process group: on a timeout the whole group (modules included) is killed. ``Runner`` binds the environment, an
inventory and a working directory for a suite and remembers every run's output.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def parse_recap(text):
    """{host: {"ok", "changed", "unreachable", "failed"}} from the PLAY RECAP lines of ``text``."""
    return {
        host: dict(ok=int(ok), changed=int(changed), unreachable=int(unreachable), failed=int(failed))
        for host, ok, changed, unreachable, failed in RECAP.findall(text)
    }


def changed_hosts(proc):
    return sorted(name for name, counts in proc.recap.items() if counts["changed"])


def failed_hosts(proc):
    return sorted(name for name, counts in proc.recap.items() if counts["failed"] or counts["unreachable"])


def fatal_line(proc, host):
    """The ``fatal: [host]`` line of a run, or ''."""
    match = re.search(rf"fatal: \[{re.escape(host)}\].*", proc.stdout)
    return match.group(0) if match else ""


def fleet_counts(proc):
    """The counts of the last device_fleet summary in the output (verify.yml prints it): ``{meters, changed,
    verified, failed, rolled_back}``, or None when there is none."""
    found = re.findall(
        r"(\d+) meter\(s\) in [^:]*: (\d+) changed, (\d+) verified, (\d+) failed, (\d+) rolled back", proc.stdout
    )
    if not found:
        return None
    return dict(zip(("meters", "changed", "verified", "failed", "rolled_back"), map(int, found[-1]), strict=True))


def assert_clean(proc, changed=()):
    """The run passed, no host failed, and exactly the hosts ``changed`` changed."""
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == [], show(proc)
    assert changed_hosts(proc) == sorted(changed), show(proc)


def show(proc):
    """A failed run, for an assertion message."""
    return f"rc={proc.returncode}\n--- stdout (tail)\n{proc.stdout[-8000:]}\n--- stderr\n{proc.stderr[-3000:]}"


def ansible_env(collections_path=COLLECTIONS, forks=20, python=sys.executable, **extra):
    """The environment of a run: this checkout's collection (or ``collections_path``), no colour, no retry files."""
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=collections_path,
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_FORKS=str(forks),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_PYTHON_INTERPRETER=python,
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run(argv, env=None, cwd=None, timeout=600, log_path=None, watch=None):
    """Run ``argv`` (an ansible-playbook command) to its end.

    With ``log_path`` stdout and stderr go, together, to that file (and ``stdout`` holds its text); else they are
    captured. ``watch(pid)``, when given, is a context manager that lives as long as the run (a sampler).
    """
    start = time.monotonic()
    timed_out = False
    with contextlib.ExitStack() as stack:
        if log_path:
            out = stack.enter_context(open(log_path, "w", encoding="utf-8"))
            out.write("$ " + " ".join(argv) + "\n")
            out.flush()
            streams = dict(stdout=out, stderr=subprocess.STDOUT)
        else:
            streams = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc = subprocess.Popen(argv, env=env, cwd=cwd, text=True, start_new_session=True, **streams)
        try:
            if watch is not None:
                stack.enter_context(watch(proc.pid))
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_group(proc, signal.SIGKILL)
                stdout, stderr = proc.communicate()
        except BaseException:
            kill_group(proc, signal.SIGTERM)
            proc.wait()
            raise
    if log_path:
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            stdout, stderr = handle.read(), ""
    result = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    result.elapsed = time.monotonic() - start
    result.timed_out = timed_out
    result.recap = parse_recap(stdout)
    return result


def kill_group(proc, sig=signal.SIGKILL):
    """Signal the run's whole process group (it is the group leader), as a power cut or Ctrl-C would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


class Runner:
    """ansible-playbook for one suite: one inventory, one working directory, one environment.

    ``bin_dir`` and ``collections_path`` say where ansible-playbook and the collection come from (this checkout by
    default; the installed-tarball test points them at a fresh virtualenv and a scratch collections path).
    ``outputs`` keeps (label, stdout + stderr) of every run: the security suite scans them for secrets.
    """

    def __init__(self, inventory, cwd, playbook_dir=None, bin_dir=BIN, collections_path=COLLECTIONS, forks=20,
                 python=None, timeout=600, env=None):  # fmt: skip
        self.inventory, self.cwd, self.playbook_dir = inventory, cwd, playbook_dir
        self.bin_dir, self.collections_path = bin_dir, collections_path
        self.forks, self.python, self.timeout = forks, python, timeout
        self.extra_env = dict(env or {})
        self.outputs = []

    def env(self):
        python = self.python or os.path.join(self.bin_dir, "python")
        return ansible_env(self.collections_path, self.forks, python, **self.extra_env)

    def path(self, playbook):
        """A playbook by FQCN, by path, or by name in ``playbook_dir``."""
        if playbook.startswith("whatwatt.secure_mqtt.") or os.path.isabs(playbook) or not self.playbook_dir:
            return playbook
        return os.path.join(self.playbook_dir, playbook)

    def command(self, playbook, *args, check=False):
        cmd = [os.path.join(self.bin_dir, "ansible-playbook"), "-i", self.inventory, self.path(playbook), *args]
        return [*cmd, "--check"] if check else cmd

    def run(self, playbook, *args, check=False, label=None):
        proc = run(self.command(playbook, *args, check=check), env=self.env(), cwd=self.cwd, timeout=self.timeout)
        name = label or f"{os.path.basename(playbook)} {' '.join(args)}{' --check' if check else ''}"
        print(f"{name}: rc={proc.returncode} {proc.elapsed:.1f} s")
        self.outputs.append((name, proc.stdout + proc.stderr))
        return proc
