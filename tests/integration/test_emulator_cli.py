"""The emulator's command line as a process of its own: ready line, pid file, SIGTERM (127.0.20.30-34)."""

import os
import signal
import subprocess
import sys

import pytest
import requests
from harness.ports import free_port
from requests.auth import HTTPDigestAuth

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cli_ready_line_pid_file_and_sigterm(tmp_path):
    port = free_port("127.0.20.30")
    pid_file = tmp_path / "emu.pid"
    log = tmp_path / "emu.log"
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "whatwatt_emulator", "fleet", "--count", "5", "--first-ip", "127.0.20.30",
         "--port", str(port), "--state-dir", str(tmp_path / "s"), "--inventory", str(tmp_path / "inv.yml"),
         "--pid-file", str(pid_file), "--password", "topsecret", "--log", str(log)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path),
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready: 5 devices on 127.0.20.30..127.0.20.34")
        assert int(pid_file.read_text()) == proc.pid
        r = requests.get(f"http://127.0.20.34:{port}/api/v1/system", auth=HTTPDigestAuth("", "topsecret"), timeout=5)
        assert r.ok
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        assert proc.wait(15) == 0
        assert "stopped" in proc.stdout.read()
        assert not pid_file.exists()
        assert "topsecret" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
