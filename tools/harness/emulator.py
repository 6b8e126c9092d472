"""The emulated fleet as a process of its own, and the one client of its control path.

``EmulatorProcess`` runs ``python -m whatwatt_emulator fleet`` (docs/emulator.md) and waits for its ``ready`` line;
``MeterControl`` reaches meters by name (consecutive loopback addresses from ``first_ip``, one port) on the REST API
and on ``/_emulator/...``.
"""

import json
import os
import select
import subprocess
import sys
import threading
import time
import urllib.request

from .ports import terminate

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class EmulatorProcess:
    """``count`` meters from ``first_ip`` on ``port``, state and logs under ``workdir``; stopped by ``stop()``."""

    def __init__(self, workdir, count, first_ip, port, report_interval=1, log_level=None, password=None,
                 inventory=None, extra_args=(), cwd=None):  # fmt: skip
        self.workdir = str(workdir)
        self.count, self.first_ip, self.port = count, first_ip, port
        self.report_interval, self.log_level, self.password = report_interval, log_level, password
        self.inventory, self.extra_args, self.cwd = inventory, list(extra_args), cwd
        self.log_path = os.path.join(self.workdir, "emulator.log")
        self.stderr_path = os.path.join(self.workdir, "emulator.stderr")
        self.proc = None
        self.ready_line = None
        self._stderr = None

    def argv(self):
        argv = [sys.executable, "-m", "whatwatt_emulator", "fleet", "--count", str(self.count),
                "--first-ip", self.first_ip, "--port", str(self.port),
                "--state-dir", os.path.join(self.workdir, "emulator"),
                "--report-interval", str(self.report_interval), "--log", self.log_path]  # fmt: skip
        if self.log_level:
            argv += ["--log-level", self.log_level]
        if self.password:
            argv += ["--password", self.password]
        if self.inventory:
            argv += ["--inventory", self.inventory]
        return argv + self.extra_args

    def start(self, timeout=None):
        """Start and wait for ``ready`` (60 s plus 0.1 s a meter unless told); return self."""
        os.makedirs(self.workdir, exist_ok=True)
        self._stderr = open(self.stderr_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONPATH=TOOLS)
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env,
                                     cwd=self.cwd)  # fmt: skip
        deadline = time.monotonic() + (timeout or 60 + self.count * 0.1)
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                line = self.proc.stdout.readline()
                break
        if not line.startswith("ready"):
            self.stop()
            with open(self.stderr_path, encoding="utf-8", errors="replace") as handle:
                raise RuntimeError(f"the emulator did not start: {line!r} {handle.read()[-2000:]}")
        self.ready_line = line
        # Whatever it prints later must not fill the pipe and block it.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self):
        if self.proc is not None:
            terminate(self.proc, 30)
            self.proc = None
        if self._stderr:
            self._stderr.close()
            self._stderr = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def request(url, body=None, method="POST", timeout=10):
    """One JSON request, no proxy; the decoded answer (None for an empty one)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http://127.x only
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


class MeterControl:
    """Meters ``names`` on consecutive addresses from ``first_ip``, all on ``api_port``."""

    def __init__(self, names, first_ip, api_port):
        self.names, self.first_ip, self.api_port = list(names), first_ip, api_port

    def ip(self, name):
        prefix, last = self.first_ip.rsplit(".", 1)
        return f"{prefix}.{int(last) + self.names.index(name)}"

    def control(self, name, path, body=None, method="POST"):
        return request(f"http://{self.ip(name)}:{self.api_port}{path}", body, method)

    def state(self, name):
        return self.control(name, "/_emulator/state", method="GET")

    def states(self):
        return {name: self.state(name) for name in self.names}

    def device_cert(self, name):
        """Fingerprint ('AB:CD:..') of the client certificate the meter holds."""
        hexed = self.state(name)["settings"]["client_certificate_sha256"]
        return ":".join(hexed[i : i + 2] for i in range(0, len(hexed), 2)).upper()

    def wait_connected(self, names, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            missing = [name for name in names if not self.state(name)["mqtt"]["connected"]]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not connected: {missing}: {[self.state(n)['mqtt'] for n in missing]}")
            time.sleep(0.3)
