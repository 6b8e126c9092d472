"""The device role end to end: pki role -> real mTLS Mosquitto -> 20 emulated meters -> ansible-playbook.

Loopback range of this suite: 127.0.30.x (meters .1-.20, broker .250). The tests run in file order on one
fleet, each leaving it provisioned and converged for the next.
"""

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from harness.broker import MosquittoBroker
from harness.mqtt import Subscriber
from harness.ports import free_port

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(ROOT, "tests", "integration", "playbooks")
BIN = os.path.join(ROOT, ".venv", "bin")
COUNT = 20
FIRST_IP = "127.0.30.1"
BROKER_IP = "127.0.30.250"
NAMES = [f"whatwatt-{n:02d}" for n in range(1, COUNT + 1)]
ACL = "user whatwatt-monitor\ntopic read meters/#\n\npattern write meters/%u\n"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class Env:
    """Everything the scenarios share: paths, the broker, the emulator process, the inventory.

    Other suites reuse it with their own meters, loopback range and emulator switches (``start_env``).
    """

    def __init__(self, base, names=NAMES, first_ip=FIRST_IP, broker_ip=BROKER_IP, emulator_args=()):
        self.base = str(base)
        self.names = list(names)
        self.first_ip = first_ip
        self.broker_ip = broker_ip
        self.emulator_args = list(emulator_args)
        self.pki_dir = os.path.join(self.base, "pki")
        self.inventory = os.path.join(self.base, "inventory.yml")
        self.api_port = free_port(first_ip)
        self.broker = None
        self.emulator = None
        self.host_overrides = {}
        self.group_overrides = {}

    def ip(self, name):
        prefix, last = self.first_ip.rsplit(".", 1)
        return f"{prefix}.{int(last) + self.names.index(name)}"

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

    def playbook(self, name, *args, check=False):
        env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
            ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
            ANSIBLE_FORKS="20",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        )
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, os.path.join(PLAYBOOKS, name), *args]
        if check:
            cmd.append("--check")
        start = time.monotonic()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=self.base, check=False)
        proc.elapsed = time.monotonic() - start
        print(f"{name} {' '.join(args)}{' --check' if check else ''}: {proc.elapsed:.1f} s")
        proc.recap = {m[0]: dict(ok=int(m[1]), changed=int(m[2]), unreachable=int(m[3]), failed=int(m[4]))
                      for m in RECAP.findall(proc.stdout)}  # fmt: skip
        return proc

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

    def state(self, name):
        return self.control(name, "/_emulator/state", method="GET")

    def records(self):
        directory = os.path.join(self.pki_dir, "devices")
        if not os.path.isdir(directory):
            return {}
        return {entry: os.stat(os.path.join(directory, entry)).st_mtime_ns for entry in sorted(os.listdir(directory))}


def show(proc):
    return f"rc={proc.returncode}\n--- stdout (tail)\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-3000:]}"


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
    env.write_inventory()
    log = open(os.path.join(env.base, "emulator.log"), "w", encoding="utf-8")  # noqa: SIM115 - closed below
    env.emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whatwatt_emulator",
            "fleet",
            "--count",
            str(len(env.names)),
            "--first-ip",
            env.first_ip,
            "--port",
            str(env.api_port),
            "--state-dir",
            os.path.join(env.base, "emulator"),
            "--report-interval",
            "1",
            "--log",
            os.path.join(env.base, "emulator-debug.log"),
            *env.emulator_args,
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools")),
    )
    try:
        line = env.emulator.stdout.readline()
        assert line.startswith("ready"), f"emulator did not start: {line!r}"
        yield env
    finally:
        env.emulator.terminate()
        try:
            env.emulator.wait(30)
        except subprocess.TimeoutExpired:
            env.emulator.kill()
            env.emulator.wait(10)
        env.emulator.stdout.close()
        log.close()
        env.broker.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with start_env(tmp_path_factory.mktemp("device-role")) as env:
        yield env


def changed_hosts(proc):
    return sorted(name for name, counts in proc.recap.items() if counts["changed"])


def failed_hosts(proc):
    return sorted(name for name, counts in proc.recap.items() if counts["failed"] or counts["unreachable"])


def assert_untouched(env, before):
    for name in env.names:
        assert env.state(name)["settings"] == before[name], name


def test_check_mode_before_provisioning_changes_nothing(env):
    before = {name: env.state(name)["settings"] for name in NAMES}
    proc = env.playbook("device_role.yml", check=True)
    assert proc.returncode == 0, show(proc)
    assert set(proc.recap) == set(NAMES)
    assert changed_hosts(proc) == NAMES  # it would change every meter ...
    assert_untouched(env, before)  # ... and changed none
    assert env.records() == {}


def test_provision_twenty_meters_with_verification(env):
    proc = env.playbook("device_role.yml", "-vvv")
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == []
    assert changed_hosts(proc) == NAMES
    assert "20 changed, 20 verified, 0 failed, 0 rolled back" in proc.stdout, show(proc)
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    for name in NAMES:
        state = env.state(name)
        assert state["mqtt"]["connected"], (name, state["mqtt"])
        assert state["settings"]["publish"]["topic"] == f"meters/{name}"
    # What the monitoring identity sees at the broker: messages from every meter, signed as the template says.
    monitor = (os.path.join(env.pki_dir, "clients", f"whatwatt-monitor.{ext}") for ext in ("crt", "key"))
    with Subscriber(BROKER_IP, env.broker.port, os.path.join(env.pki_dir, "ca-bundle.crt"), *monitor,
                   topic="meters/#", client_id="test-collector") as collector:  # fmt: skip
        messages = collector.wait_for(
            lambda m: {topic for topic, _payload in m} >= {f"meters/{n}" for n in NAMES}, timeout=15
        )
    payload = json.loads(next(p for t, p in messages if t == "meters/whatwatt-01"))
    assert {"sys_id", "P_In", "P_Out", "E_In", "E_Out", "ts"} <= set(payload)


def test_second_run_changes_nothing(env):
    records = env.records()
    proc = env.playbook("device_role.yml", "-vvv")
    assert proc.returncode == 0, show(proc)
    assert set(proc.recap) == set(NAMES)
    assert changed_hosts(proc) == [] and failed_hosts(proc) == []
    assert f"{len(NAMES)} meter(s) in " in proc.stdout  # one batch task for all of them
    assert "0 changed, 0 verified, 0 failed, 0 rolled back" in proc.stdout
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    assert env.records() == records  # no record rewritten


def test_check_mode_after_provisioning_reports_nothing(env):
    before = {name: env.state(name)["settings"] for name in NAMES}
    proc = env.playbook("device_role.yml", check=True)
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == [] and failed_hosts(proc) == []
    assert_untouched(env, before)


def test_factory_reset_meter_is_the_only_one_pushed_again(env):
    env.control("whatwatt-07", "/_emulator/factory_reset")
    assert not env.state("whatwatt-07")["settings"]["enable"]
    proc = env.playbook("device_role.yml", "-v")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == ["whatwatt-07"]
    assert "1 changed, 1 verified, 0 failed, 0 rolled back" in proc.stdout
    assert env.state("whatwatt-07")["mqtt"]["connected"]


def test_meter_answering_503_twice_still_converges(env):
    env.control("whatwatt-03", "/_emulator/factory_reset")
    env.control("whatwatt-03", "/_emulator/fault", {"status": 503, "count": 2})
    proc = env.playbook("device_role.yml")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == ["whatwatt-03"] and failed_hosts(proc) == []
    assert env.state("whatwatt-03")["faults"] == []
    assert env.state("whatwatt-03")["mqtt"]["connected"]


def test_wrong_password_fails_that_meter_clearly_and_the_rest_goes_on(env):
    env.control("whatwatt-05", "/api/v1/settings", {"system": {"protection": True, "password": "right-one"}}, "PUT")
    env.host_overrides["whatwatt-05"] = {"whatwatt_password": "wrong-one"}
    env.write_inventory()
    proc = env.playbook("device_role.yml")
    assert proc.returncode != 0
    assert failed_hosts(proc) == ["whatwatt-05"], show(proc)
    assert changed_hosts(proc) == []
    fatal = re.search(r"fatal: \[whatwatt-05\].*", proc.stdout).group(0)
    assert "401" in fatal and "authentication" in fatal, fatal
    assert "wrong-one" not in proc.stdout + proc.stderr
    env.host_overrides["whatwatt-05"] = {"whatwatt_password": "right-one"}
    env.write_inventory()
    proc = env.playbook("device_role.yml")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == [] and failed_hosts(proc) == []


def test_meter_that_does_not_come_up_is_rolled_back_and_failed(env):
    # A topic the broker ACL does not let the meter write: it connects, but nothing arrives.
    env.host_overrides["whatwatt-11"] = {"whatwatt_topic": "forbidden/whatwatt-11"}
    env.group_overrides["whatwatt_verify_timeout"] = 5
    env.write_inventory()
    proc = env.playbook("device_role.yml")
    assert proc.returncode != 0
    assert failed_hosts(proc) == ["whatwatt-11"], show(proc)
    fatal = re.search(r"fatal: \[whatwatt-11\].*", proc.stdout).group(0)
    assert "verification failed: connected to the broker, but no message arrived on forbidden/whatwatt-11" in fatal
    assert "rolled back to the previous MQTT settings and certificates" in fatal
    state = env.state("whatwatt-11")
    assert state["settings"]["publish"]["topic"] == "meters/whatwatt-11"
    # Back to the fleet's settings: the rolled-back meter is already where it should be.
    del env.host_overrides["whatwatt-11"]
    env.write_inventory()
    proc = env.playbook("device_role.yml")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == [] and failed_hosts(proc) == []
