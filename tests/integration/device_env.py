"""The device-role suites' world (test_device_role.py, test_device_role_hidden_key_len.py): the PKI from
playbooks/device_pki.yml, a private mTLS broker with the ACL, an emulated fleet and the meters-only inventory."""

import contextlib
import os

import yaml
from harness.broker import MosquittoBroker
from harness.fleet import Fleet
from harness.playbook import show

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
COUNT = 20
FIRST_IP = "127.0.30.1"
BROKER_IP = "127.0.30.250"
NAMES = [f"whatwatt-{n:02d}" for n in range(1, COUNT + 1)]
ACL = "user whatwatt-monitor\ntopic read meters/#\n\npattern write meters/%u\n"


class Env(Fleet):
    """The meters, the broker, the inventory (``host_overrides``/``group_overrides`` change it per case)."""

    def __init__(self, base, names=NAMES, first_ip=FIRST_IP, broker_ip=BROKER_IP, emulator_args=()):
        base = str(base)
        super().__init__(base, names, first_ip, os.path.join(base, "inventory.yml"), playbook_dir=PLAYBOOKS,
                         emulator=dict(extra_args=emulator_args))  # fmt: skip
        self.inventory = self.runner.inventory
        self.broker_ip = broker_ip
        self.broker = None
        self.host_overrides = {}
        self.group_overrides = {}

    def write_inventory(self):
        hosts = {}
        for name in self.names:
            hosts[name] = dict(ansible_host=self.ip(name), whatwatt_api_port=self.api_port, whatwatt_client_id=name)
            hosts[name].update(self.host_overrides.get(name, {}))
        group_vars = dict(
            whatwatt_pki_dir=self.pki_dir,
            whatwatt_broker_host=self.broker_ip,
            whatwatt_broker_port=self.broker.port if self.broker else 8883,
            whatwatt_verify_timeout=30,
            whatwatt_report_interval=1,
        )
        group_vars.update(self.group_overrides)
        inventory = {
            "all": {
                "vars": group_vars,
                "children": {"meters": {"vars": {"ansible_connection": "local"}, "hosts": hosts}},
            }
        }
        with open(self.inventory, "w", encoding="utf-8") as handle:
            yaml.safe_dump(inventory, handle)


@contextlib.contextmanager
def start_env(base, **kwargs):
    """PKI (device_pki.yml), a private mTLS broker with the ACL and an emulated fleet; stopped on exit."""
    env = Env(base, **kwargs)
    env.write_inventory()
    proc = env.playbook("device_pki.yml")
    assert proc.returncode == 0, show(proc)
    env.broker = MosquittoBroker(
        os.path.join(env.base, "broker"),
        os.path.join(env.pki_dir, "ca-bundle.crt"),
        os.path.join(env.pki_dir, "servers", "broker.crt"),
        os.path.join(env.pki_dir, "servers", "broker.key"),
        host=env.broker_ip,
        acl=ACL,
    )
    env.broker.start()
    try:
        env.write_inventory()
        env.emulator.start()
        yield env
    finally:
        env.emulator.stop()
        env.broker.stop()
