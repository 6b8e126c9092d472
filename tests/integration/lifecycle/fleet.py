"""The playbook suite's world: a PKI directory, the broker the mosquitto role manages on this machine, an
emulated fleet on 127.0.40.x and an inventory directory, plus helpers to run the real playbooks.

The broker is the machine's one Mosquitto (/etc/mosquitto, port 8883), so the suite holds
/tmp/whatwatt-broker.lock (flock) for its whole run and stops the broker at the end.
WHATWATT_PLAYBOOK_TESTS_BROKER=support swaps it for a private test broker on a free port (development only:
the playbooks then run with --limit localhost:meters and the suite reloads/restarts that broker itself).
"""

import fcntl
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import paho.mqtt.client as paho
import yaml

from harness.broker import MosquittoBroker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(ROOT, ".venv", "bin")
PLAYBOOKS = os.path.join(ROOT, "playbooks")
LOCK = "/tmp/whatwatt-broker.lock"
BROKER_IP = "127.0.40.250"
FIRST_IP = "127.0.40.1"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
SUPPORT = os.environ.get("WHATWATT_PLAYBOOK_TESTS_BROKER") == "support"


def show(proc):
    return f"rc={proc.returncode}\n--- stdout (tail)\n{proc.stdout[-8000:]}\n--- stderr\n{proc.stderr[-3000:]}"


def changed_hosts(proc):
    return sorted(name for name, counts in proc.recap.items() if counts["changed"])


def failed_hosts(proc):
    return sorted(name for name, counts in proc.recap.items() if counts["failed"] or counts["unreachable"])


def fingerprint_hex(colon_fingerprint):
    """'AB:CD:..' (pki result) -> 'abcd..' (emulator state)."""
    return colon_fingerprint.replace(":", "").lower()


def cert_fingerprint(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.strip().split("=", 1)[1]


class Fleet:
    """Paths, the emulator process, the broker and the playbook runner of one suite."""

    def __init__(self, base, names, first_ip=FIRST_IP, broker_ip=BROKER_IP, broker_vars=None, broker_port=8883):
        """broker_vars: the broker host's inventory variables (default: this machine, local connection, holding
        LOCK); a broker elsewhere (a container reached over SSH) is neither locked nor stopped by the suite."""
        self.base = str(base)
        self.names = list(names)
        self.first_ip = first_ip
        self.broker_ip = broker_ip
        self.broker_vars = broker_vars or {"ansible_connection": "local", "ansible_host": broker_ip}
        self.local_broker = broker_vars is None
        self.inventory_dir = os.path.join(self.base, "inventory")
        self.pki_dir = os.path.join(self.base, "pki")
        self.api_port = 18040
        self.broker_port = broker_port
        self.emulator = None
        self.support_broker = None
        self.lock = None
        self.group_overrides = {}
        self._seen = {}
        # Where ansible-playbook and the collection come from: this checkout by default; the installed-tarball
        # test points them at a fresh virtualenv and a scratch collections path, and names playbooks by FQCN.
        self.bin_dir = BIN
        self.collections_path = os.path.join(ROOT, ".build", "collections")

    # -- inventory ------------------------------------------------------------------------------------------
    def ip(self, name):
        prefix, last = self.first_ip.rsplit(".", 1)
        return f"{prefix}.{int(last) + self.names.index(name)}"

    def write_inventory(self):
        os.makedirs(os.path.join(self.inventory_dir, "group_vars"), exist_ok=True)
        meters = {name: {"ansible_host": self.ip(name), "whatwatt_api_port": self.api_port, "whatwatt_client_id": name}
                  for name in self.names}  # fmt: skip
        hosts = {
            "all": {
                "children": {
                    "brokers": {"hosts": {"broker": dict(self.broker_vars)}},
                    "meters": {"vars": {"ansible_connection": "local"}, "hosts": meters},
                }
            }
        }
        group_vars = {
            "whatwatt_pki_dir": self.pki_dir,
            "whatwatt_broker_host": self.broker_ip,
            "whatwatt_broker_port": self.broker_port,
            "whatwatt_report_interval": 1,
            "whatwatt_verify_timeout": 8,
        }
        group_vars.update(self.group_overrides)
        with open(os.path.join(self.inventory_dir, "hosts.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(hosts, handle)
        with open(os.path.join(self.inventory_dir, "group_vars", "all.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(group_vars, handle)

    # -- processes ------------------------------------------------------------------------------------------
    def start(self):
        if self.local_broker and not SUPPORT:  # the machine's broker: one suite at a time
            self.lock = open(LOCK, "a")  # noqa: SIM115 - held for the whole suite, closed in stop()
            fcntl.flock(self.lock, fcntl.LOCK_EX)
        else:
            from tests.support.ports import free_port

            self.broker_port = free_port(BROKER_IP)
        self.write_inventory()
        log = open(os.path.join(self.base, "emulator.err"), "w", encoding="utf-8")  # noqa: SIM115
        self.emulator = subprocess.Popen(
            [sys.executable, "-m", "whatwatt_emulator", "fleet", "--count", str(len(self.names)),
             "--first-ip", self.first_ip, "--port", str(self.api_port),
             "--state-dir", os.path.join(self.base, "emulator"), "--report-interval", "1",
             "--log", os.path.join(self.base, "emulator.log")],
            stdout=subprocess.PIPE, stderr=log, text=True, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools")),
        )  # fmt: skip
        log.close()
        line = self.emulator.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"emulator did not start: {line!r}")
        if SUPPORT:  # the private broker needs the PKI before the first site run
            self.playbook(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pki.yml"))

    def stop(self):
        try:
            if self.emulator:
                self.emulator.terminate()
                try:
                    self.emulator.wait(30)
                except subprocess.TimeoutExpired:
                    self.emulator.kill()
                    self.emulator.wait(10)
                self.emulator.stdout.close()
        finally:
            try:
                if self.support_broker:
                    self.support_broker.stop()
                elif self.local_broker and os.path.exists(os.path.join(self.inventory_dir, "hosts.yml")):
                    self.playbook("broker_stop.yml")
            finally:
                if self.lock:
                    self.lock.close()

    # -- playbooks ------------------------------------------------------------------------------------------
    def playbook(self, name, *args, check=False):
        env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=self.collections_path,
            ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
            ANSIBLE_FORKS="20",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_PYTHON_INTERPRETER=os.path.join(self.bin_dir, "python"),
        )
        playbook = name if name.startswith("whatwatt.secure_mqtt.") else os.path.join(PLAYBOOKS, name)
        cmd = [os.path.join(self.bin_dir, "ansible-playbook"), "-i", self.inventory_dir, playbook, *args]
        if SUPPORT and name not in ("verify.yml", "report.yml", "broker_stop.yml") and "/" not in name:
            cmd += ["--limit", "localhost:meters"]
        if check:
            cmd.append("--check")
        start = time.monotonic()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=self.base, check=False)
        proc.elapsed = time.monotonic() - start
        print(f"{name} {' '.join(args)}{' --check' if check else ''}: rc={proc.returncode} {proc.elapsed:.1f} s")
        proc.recap = {m[0]: dict(ok=int(m[1]), changed=int(m[2]), unreachable=int(m[3]), failed=int(m[4]))
                      for m in RECAP.findall(proc.stdout)}  # fmt: skip
        if SUPPORT and not check:
            self._sync_support_broker()
        return proc

    def _sync_support_broker(self):
        """Development mode: do what the mosquitto role would (restart on a CA change, else reload)."""
        files = {key: os.path.join(self.pki_dir, rel) for key, rel in
                 (("ca", "ca-bundle.crt"), ("cert", "servers/broker.crt"), ("key", "servers/broker.key"),
                  ("crl", "crl.pem"))}  # fmt: skip
        if not all(os.path.exists(path) for path in files.values()):
            return
        digest = {}
        for key, path in files.items():
            with open(path, "rb") as handle:
                digest[key] = hashlib.sha256(handle.read()).hexdigest()
        if self.support_broker is None:
            self.support_broker = MosquittoBroker(
                os.path.join(self.base, "broker"), files["ca"], files["cert"], files["key"], host=BROKER_IP,
                port=self.broker_port, crlfile=files["crl"],
                acl=READERS_ACL + "\npattern write meters/%u\n", extra_config="use_username_as_clientid true",
            ).start()  # fmt: skip
        elif digest["ca"] != self._seen.get("ca"):
            self.support_broker.stop()
            self.support_broker.start()
        elif digest != self._seen:
            self.support_broker.reload()
        self._seen = digest

    # -- PKI and meters -------------------------------------------------------------------------------------
    def pki_fingerprint(self, kind, name):
        return cert_fingerprint(os.path.join(self.pki_dir, kind, f"{name}.crt"))

    def control(self, name, path, body=None, method="POST"):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://{self.ip(name)}:{self.api_port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def state(self, name):
        return self.control(name, "/_emulator/state", method="GET")

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

    def mtimes(self, *subdirs):
        out = {}
        for sub in subdirs:
            top = os.path.join(self.pki_dir, sub)
            for dirpath, _dirs, files in os.walk(top):
                for entry in files:
                    path = os.path.join(dirpath, entry)
                    out[os.path.relpath(path, self.pki_dir)] = os.stat(path).st_mtime_ns
        return out


READERS_ACL = "".join(
    f"user {r}\ntopic read meters/#\n" for r in ("whatwatt-monitor", "whatwatt-verify", "whatwatt-watch")
)


class Subscriber:
    """A long-lived paho subscriber (people's watch identity) that records messages and every disconnect.

    Not the verifier's whatwatt-monitor: the broker binds the client id to the identity, so the two would displace
    each other."""

    def __init__(self, fleet, client_id, topic="meters/#"):
        self.messages = []
        self.disconnects = 0
        self.connects = 0
        self._lock = threading.Lock()
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.path.join(fleet.pki_dir, "ca-bundle.crt"))
        monitor = os.path.join(fleet.pki_dir, "clients", "whatwatt-watch")
        ctx.load_cert_chain(f"{monitor}.crt", f"{monitor}.key")
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        self.client.tls_set_context(ctx)
        self._subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.host, self.port, self.topic = fleet.broker_ip, fleet.broker_port, topic

    def _on_connect(self, client, userdata, flags, reason, props):
        self.connects += 1
        client.subscribe(self.topic)

    def _on_disconnect(self, *args):
        self.disconnects += 1

    def _on_message(self, client, userdata, msg):
        with self._lock:
            self.messages.append((time.monotonic(), msg.topic))

    def start(self):
        self.client.connect(self.host, self.port, keepalive=5)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.stop()
            raise TimeoutError("subscriber did not subscribe")
        return self

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def topics_since(self, since):
        with self._lock:
            return {topic for stamp, topic in self.messages if stamp >= since}
