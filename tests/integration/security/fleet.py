"""The security suite's fleet: PKI, broker and ten emulated meters provisioned by playbooks/site.yml.

Loopback range 127.0.50.x: meters .1-.10, the broker's address (in its certificate's SANs) .250.
The broker is the one the ``mosquitto`` role sets up in /etc/mosquitto (port 8883, all addresses),
guarded by ``flock /tmp/whatwatt-broker.lock`` for as long as the fleet lives, and stopped at the end.
``WHATWATT_SECURITY_BROKER=scratch`` uses a scratch Mosquitto from tests/support instead (same ACL,
CRL, TLS minimum and ciphers; the cases that need the role's own broker are then skipped).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import yaml

from harness.broker import MosquittoBroker
from harness.mqtt import Subscriber
from harness.ports import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(ROOT, ".venv", "bin")
HERE = os.path.dirname(os.path.abspath(__file__))
SITE = os.path.join(ROOT, "playbooks", "site.yml")
DEVICE_PLAYBOOK = os.path.join(ROOT, "tests", "integration", "playbooks", "device_role.yml")
BROKER_PLAYBOOK = os.path.join(HERE, "playbooks", "broker.yml")
PKI_PLAYBOOK = os.path.join(HERE, "playbooks", "pki.yml")

COUNT = 10
FIRST_IP = "127.0.50.1"
BROKER_IP = "127.0.50.250"
NAMES = [f"sec-{n:02d}" for n in range(1, COUNT + 1)]
MONITOR = "whatwatt-monitor"  # the device role's verifier
VERIFY = "whatwatt-verify"  # verify.yml's verifier
WATCH = "whatwatt-watch"  # people watching: the canary
REVOKED = "sec-revoked"
# Distinctive secrets: the suite greps every output and log for them.
WEB_PASSWORD = "Web-UI-pw-7Qz!x93"
CA_PASSPHRASE = "ca-Passphrase-K4v8-secret"
LOCK = "/tmp/whatwatt-broker.lock"
CTL = ["/usr/bin/python3", "/usr/local/lib/whatwatt-secure-mqtt/mosquittoctl.py", "--mode", "daemon"]
ROLE_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305"
)
SCRATCH_ACL = "".join(f"user {reader}\ntopic read meters/#\n" for reader in (MONITOR, VERIFY, WATCH)) + "".join(
    f"\nuser {name}\ntopic write meters/{name}\n" for name in NAMES
)
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def scratch_mode():
    return os.environ.get("WHATWATT_SECURITY_BROKER", "role") == "scratch"


def show(proc):
    return f"rc={proc.returncode}\n--- stdout (tail)\n{proc.stdout[-8000:]}\n--- stderr\n{proc.stderr[-3000:]}"


class Canary:
    """People's watch identity (whatwatt-watch) subscribed to meters/# for the whole module: who published when.

    Not the verifier's identity: the broker binds the client id to the certificate identity, so a canary sharing
    whatwatt-monitor would be displaced by every site.yml run's verifier (and displace it)."""

    def __init__(self, pki_dir, port):
        self.collector = Subscriber(
            BROKER_IP,
            port,
            os.path.join(pki_dir, "ca-bundle.crt"),
            os.path.join(pki_dir, "clients", f"{WATCH}.crt"),
            os.path.join(pki_dir, "clients", f"{WATCH}.key"),
            topic="meters/#",
            client_id="sec-canary",
        )
        self.times = []  # (monotonic time, topic, payload)
        self._lock = threading.Lock()
        original = self.collector._on_message

        def on_message(client, userdata, msg):
            with self._lock:
                self.times.append((time.monotonic(), msg.topic, msg.payload.decode("utf-8", "replace")))
            original(client, userdata, msg)

        self.collector.client.on_message = on_message
        self.disconnects = 0
        self.collector.client.on_disconnect = self._on_disconnect

    def _on_disconnect(self, *args):
        self.disconnects += 1

    def start(self):
        self.collector.client.reconnect_delay_set(1, 2)
        self.collector.start()
        return self

    def stop(self):
        self.collector.stop()

    def since(self, start):
        with self._lock:
            return [(t, topic, payload) for t, topic, payload in self.times if t >= start]

    def topics_since(self, start):
        return {topic for _t, topic, _p in self.since(start)}

    def wait_all(self, start, names=NAMES, timeout=15.0):
        """Wait until every meter in ``names`` published after ``start``; return the missing ones."""
        wanted = {f"meters/{name}" for name in names}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if wanted <= self.topics_since(start):
                return []
            time.sleep(0.2)
        return sorted(wanted - self.topics_since(start))


class Fleet:
    """Everything the cases share: inventory, playbook runner, emulator process, broker, canary."""

    def __init__(self, base):
        self.base = str(base)
        self.pki_dir = os.path.join(self.base, "pki")
        self.inventory = os.path.join(self.base, "inventory.yml")
        self.emulator_dir = os.path.join(self.base, "emulator")
        self.emulator_log = os.path.join(self.base, "emulator.log")
        self.api_port = free_port(FIRST_IP)
        self.scratch = scratch_mode()
        self.broker_port = free_port(BROKER_IP) if self.scratch else 8883
        self.group_vars = {}
        self.host_vars = {}
        self.outputs = []  # (label, stdout + stderr) of every playbook run: the secrets scan reads them
        self.emulator = None
        self.scratch_broker = None
        self.canary = None
        self._lock_file = None

    # -- inventory and playbooks ---------------------------------------------------------------
    def ip(self, name):
        return f"127.0.50.{NAMES.index(name) + 1}"

    def write_inventory(self):
        meters = {}
        for name in NAMES:
            meters[name] = dict(ansible_host=self.ip(name), whatwatt_api_port=self.api_port, whatwatt_client_id=name)
            meters[name].update(self.host_vars.get(name, {}))
        group_vars = dict(
            whatwatt_pki_dir=self.pki_dir,
            whatwatt_broker_host=BROKER_IP,
            whatwatt_broker_port=self.broker_port,
            whatwatt_password=WEB_PASSWORD,
            whatwatt_pki_ca_key_passphrase=CA_PASSPHRASE,
            whatwatt_pki_clients=[*NAMES, MONITOR, VERIFY, WATCH, REVOKED],
            whatwatt_verify_timeout=20,
            whatwatt_report_interval=1,
            mosquitto_manage_repository=False,
        )
        group_vars.update(self.group_vars)
        children = {"meters": {"vars": {"ansible_connection": "local"}, "hosts": meters}}
        if not self.scratch:
            children["brokers"] = {
                "hosts": {
                    "sec-broker": dict(
                        ansible_connection="local",
                        ansible_host=BROKER_IP,
                        ansible_python_interpreter="/usr/bin/python3",
                    )
                }
            }
        else:
            group_vars["whatwatt_pki_servers"] = [{"name": "sec-broker", "ip_addresses": [BROKER_IP]}]
        inventory = {
            "all": {"vars": group_vars, "hosts": {"localhost": {"ansible_connection": "local"}}, "children": children}
        }
        fd = os.open(self.inventory, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(inventory, handle)

    def env(self):
        return dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
            ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
            ANSIBLE_FORKS="10",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            ANSIBLE_HOST_KEY_CHECKING="false",
        )

    def command(self, playbook, *args, check=False):
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, playbook, *args]
        if check:
            cmd.append("--check")
        return cmd

    def playbook(self, playbook, *args, check=False, label=None):
        self.write_inventory()
        start = time.monotonic()
        proc = subprocess.run(
            self.command(playbook, *args, check=check),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
            cwd=self.base,
            check=False,
        )
        proc.elapsed = time.monotonic() - start
        proc.recap = {m[0]: dict(ok=int(m[1]), changed=int(m[2]), unreachable=int(m[3]), failed=int(m[4]))
                      for m in RECAP.findall(proc.stdout)}  # fmt: skip
        name = label or f"{os.path.basename(playbook)} {' '.join(args)}{' --check' if check else ''}"
        print(f"{name}: rc={proc.returncode} {proc.elapsed:.1f} s")
        self.outputs.append((name, proc.stdout + proc.stderr))
        return proc

    # -- emulator control path -----------------------------------------------------------------
    def control(self, name, path, body=None, method="POST"):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://{self.ip(name)}:{self.api_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    @contextlib.contextmanager
    def offline(self, name):
        """The meter's MQTT client stopped (FREE licence) while a thief holds its key; back and publishing after."""
        self.control(name, "/_emulator/license", {"type": "FREE"})
        try:
            yield
        finally:
            self.control(name, "/_emulator/license", {"type": "PLUS"})
        assert self.canary.wait_all(time.monotonic(), names=[name], timeout=20) == [], f"{name} did not come back"

    def state(self, name):
        return self.control(name, "/_emulator/state", method="GET")

    def states(self):
        return {name: self.state(name) for name in NAMES}

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self):
        if not self.scratch:
            self._lock_file = open(LOCK, "a")  # noqa: SIM115 - held for the fleet's lifetime
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self.write_inventory()
        os.makedirs(self.emulator_dir, exist_ok=True)
        self._emulator_err = open(os.path.join(self.base, "emulator.stderr"), "w", encoding="utf-8")  # noqa: SIM115
        self.emulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "whatwatt_emulator",
                "fleet",
                "--count",
                str(COUNT),
                "--first-ip",
                FIRST_IP,
                "--port",
                str(self.api_port),
                "--state-dir",
                self.emulator_dir,
                "--report-interval",
                "1",
                "--password",
                WEB_PASSWORD,
                "--log",
                self.emulator_log,
                "--log-level",
                "DEBUG",
            ],  # fmt: skip
            stdout=subprocess.PIPE,
            stderr=self._emulator_err,
            text=True,
            env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools")),
        )
        line = self.emulator.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"emulator did not start: {line!r}")

    def start_scratch_broker(self):
        self.scratch_broker = MosquittoBroker(
            os.path.join(self.base, "broker"),
            os.path.join(self.pki_dir, "ca-bundle.crt"),
            os.path.join(self.pki_dir, "servers", "sec-broker.crt"),
            os.path.join(self.pki_dir, "servers", "sec-broker.key"),
            host=BROKER_IP,
            port=self.broker_port,
            acl=SCRATCH_ACL,
            crlfile=os.path.join(self.pki_dir, "crl.pem"),
            extra_config=f"ciphers {ROLE_CIPHERS}\nuse_username_as_clientid true",
        )
        self.scratch_broker.start()

    def reload_scratch_broker(self):
        if self.scratch_broker:
            self.scratch_broker.reload()
            time.sleep(1)

    def start_canary(self):
        self.canary = Canary(self.pki_dir, self.broker_port).start()

    def broker_log_path(self):
        if self.scratch:
            return self.scratch_broker.log_path
        return "/var/log/mosquitto/mosquitto.log"

    def broker_pid(self):
        if self.scratch:
            return self.scratch_broker.proc.pid
        proc = subprocess.run([*CTL, "status"], capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    def stop(self):
        with contextlib.suppress(Exception):
            if self.canary:
                self.canary.stop()
        if self.emulator:
            self.emulator.terminate()
            try:
                self.emulator.wait(30)
            except subprocess.TimeoutExpired:
                self.emulator.kill()
                self.emulator.wait(10)
            self.emulator.stdout.close()
            self._emulator_err.close()
        if self.scratch_broker:
            self.scratch_broker.stop()
        if not self.scratch and os.path.exists(CTL[1]):
            subprocess.run([*CTL, "stop"], capture_output=True, text=True, check=False, timeout=60)
        if self._lock_file:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()


def changed_hosts(proc):
    return sorted(name for name, counts in proc.recap.items() if counts["changed"])


def failed_hosts(proc):
    return sorted(name for name, counts in proc.recap.items() if counts["failed"] or counts["unreachable"])


def fatal_line(proc, host):
    match = re.search(rf"fatal: \[{re.escape(host)}\].*", proc.stdout)
    return match.group(0) if match else ""


def sha256_file(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def tree_digest(directory):
    """{relative path: sha256} of every file below ``directory``."""
    out = {}
    for dirpath, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, directory)] = sha256_file(path)
    return out


def kill_group(proc):
    """SIGKILL the playbook and everything it started (modules included), as a power cut would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
