"""The security suite's fleet: PKI, broker and ten emulated meters provisioned by playbooks/site.yml.

Loopback range 127.0.50.x: meters .1-.10, the broker's address (in its certificate's SANs) .250.
The broker is the one the ``mosquitto`` role sets up in /etc/mosquitto (port 8883, all addresses),
guarded by ``flock /tmp/whatwatt-broker.lock`` for as long as the fleet lives, and stopped at the end.
``WHATWATT_SECURITY_BROKER=scratch`` uses a scratch Mosquitto from tools/harness instead (same ACL,
CRL, TLS minimum and ciphers; the cases that need the role's own broker are then skipped).
"""

import contextlib
import fcntl
import hashlib
import os
import subprocess
import time

import yaml
from harness.broker import MosquittoBroker
from harness.fleet import Fleet as BaseFleet
from harness.mqtt import Subscriber
from harness.playbook import ROOT
from harness.playbook import kill_group as kill_process_group
from harness.ports import free_port

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


def scratch_mode():
    return os.environ.get("WHATWATT_SECURITY_BROKER", "role") == "scratch"


class Canary(Subscriber):
    """People's watch identity (whatwatt-watch) subscribed to meters/# for the whole module: who published when.

    Not the verifier's identity: the broker binds the client id to the certificate identity, so a canary sharing
    whatwatt-monitor would be displaced by every site.yml run's verifier (and displace it)."""

    def wait_all(self, start, names=NAMES, timeout=15.0):
        """Wait until every meter in ``names`` published after ``start``; return the missing ones."""
        return self.wait_topics(start, {f"meters/{name}" for name in names}, timeout)


class Fleet(BaseFleet):
    """Everything the cases share: inventory, playbook runner, emulator process, broker, canary."""

    def __init__(self, base):
        base = str(base)
        super().__init__(base, NAMES, FIRST_IP, os.path.join(base, "inventory.yml"), forks=10,
                         env={"ANSIBLE_HOST_KEY_CHECKING": "false"},
                         emulator=dict(password=WEB_PASSWORD, log_level="DEBUG"))  # fmt: skip
        self.inventory = self.runner.inventory
        self.emulator_log = self.emulator.log_path
        self.scratch = scratch_mode()
        self.broker_port = free_port(BROKER_IP) if self.scratch else 8883
        self.group_vars = {}
        self.host_vars = {}
        self.scratch_broker = None
        self.canary = None
        self._lock_file = None

    @property
    def outputs(self):
        """(label, stdout + stderr) of every playbook run: the secrets scan reads them."""
        return self.runner.outputs

    # -- inventory and playbooks ---------------------------------------------------------------
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
        return self.runner.env()

    def command(self, playbook, *args, check=False):
        return self.runner.command(playbook, *args, check=check)

    def playbook(self, playbook, *args, check=False, label=None):
        self.write_inventory()
        return super().playbook(playbook, *args, check=check, label=label)

    # -- emulator control path -----------------------------------------------------------------
    @contextlib.contextmanager
    def offline(self, name):
        """The meter's MQTT client stopped (FREE licence) while a thief holds its key; back and publishing after."""
        self.control(name, "/_emulator/license", {"type": "FREE"})
        try:
            yield
        finally:
            self.control(name, "/_emulator/license", {"type": "PLUS"})
        assert self.canary.wait_all(time.monotonic(), names=[name], timeout=20) == [], f"{name} did not come back"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self):
        if not self.scratch:
            self._lock_file = open(LOCK, "a")  # noqa: SIM115 - held for the fleet's lifetime
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self.write_inventory()
        self.emulator.start()

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
        self.canary = Canary.for_identity(self.pki_dir, WATCH, BROKER_IP, self.broker_port, topic="meters/#",
                                          client_id="sec-canary", reconnect_delay=(1, 2)).start()  # fmt: skip

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
        self.emulator.stop()
        if self.scratch_broker:
            self.scratch_broker.stop()
        if not self.scratch and os.path.exists(CTL[1]):
            subprocess.run([*CTL, "stop"], capture_output=True, text=True, check=False, timeout=60)
        if self._lock_file:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()


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
    kill_process_group(proc)
    proc.wait(30)
