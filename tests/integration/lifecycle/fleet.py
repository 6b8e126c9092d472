"""The playbook suite's world: a PKI directory, the broker the mosquitto role manages on this machine, an
emulated fleet on 127.0.40.x and an inventory directory, plus helpers to run the real playbooks.

The broker is the machine's one Mosquitto (/etc/mosquitto, port 8883), so the suite holds
/tmp/whatwatt-broker.lock (flock) for its whole run and stops the broker at the end.
WHATWATT_PLAYBOOK_TESTS_BROKER=support swaps it for a private test broker on a free port (development only:
the playbooks then run with --limit localhost:meters and the suite reloads/restarts that broker itself).
"""

import fcntl
import hashlib
import os
import subprocess

import yaml
from harness.broker import MosquittoBroker
from harness.fleet import Fleet as BaseFleet
from harness.mqtt import Subscriber
from harness.playbook import ROOT
from harness.ports import free_port

BIN = os.path.join(ROOT, ".venv", "bin")
PLAYBOOKS = os.path.join(ROOT, "playbooks")
LOCK = "/tmp/whatwatt-broker.lock"
BROKER_IP = "127.0.40.250"
FIRST_IP = "127.0.40.1"
SUPPORT = os.environ.get("WHATWATT_PLAYBOOK_TESTS_BROKER") == "support"
READERS_ACL = "".join(
    f"user {r}\ntopic read meters/#\n" for r in ("whatwatt-monitor", "whatwatt-verify", "whatwatt-watch")
)


def fingerprint_hex(colon_fingerprint):
    """'AB:CD:..' (pki result) -> 'abcd..' (emulator state)."""
    return colon_fingerprint.replace(":", "").lower()


def cert_fingerprint(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.strip().split("=", 1)[1]


class Fleet(BaseFleet):
    """The playbook suite's fleet: an inventory directory with a broker host, the real playbooks by name."""

    def __init__(self, base, names, first_ip=FIRST_IP, broker_ip=BROKER_IP, broker_vars=None, broker_port=8883):
        """broker_vars: the broker host's inventory variables (default: this machine, local connection, holding
        LOCK); a broker elsewhere (a container reached over SSH) is neither locked nor stopped by the suite."""
        base = str(base)
        super().__init__(base, names, first_ip, os.path.join(base, "inventory"), api_port=18040,
                         playbook_dir=PLAYBOOKS, timeout=900)  # fmt: skip
        self.broker_ip = broker_ip
        self.broker_vars = broker_vars or {"ansible_connection": "local", "ansible_host": broker_ip}
        self.local_broker = broker_vars is None
        self.broker_port = broker_port
        self.support_broker = None
        self.lock = None
        self.group_overrides = {}
        self._seen = {}

    # -- inventory ------------------------------------------------------------------------------------------
    @property
    def inventory_dir(self):
        """The inventory directory the playbooks run with (a suite may point it at its own)."""
        return self.runner.inventory

    @inventory_dir.setter
    def inventory_dir(self, path):
        self.runner.inventory = path

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
            self.broker_port = free_port(BROKER_IP)
        self.write_inventory()
        self.emulator.start()
        if SUPPORT:  # the private broker needs the PKI before the first site run
            self.playbook(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pki.yml"))

    def stop(self):
        try:
            self.emulator.stop()
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
        if SUPPORT and name not in ("verify.yml", "report.yml", "broker_stop.yml") and "/" not in name:
            args = (*args, "--limit", "localhost:meters")
        proc = super().playbook(name, *args, check=check)
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

    def subscriber(self, client_id, topic="meters/#"):
        """A long-lived subscriber as people's watch identity (whatwatt-watch), started.

        Not the verifier's whatwatt-monitor: the broker binds the client id to the identity, so the two would
        displace each other."""
        return Subscriber.for_identity(self.pki_dir, "whatwatt-watch", self.broker_ip, self.broker_port, topic=topic,
                                       client_id=client_id, keepalive=5).start()  # fmt: skip
