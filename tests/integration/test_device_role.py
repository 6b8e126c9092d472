"""The device role end to end: pki role -> real mTLS Mosquitto -> 20 emulated meters -> ansible-playbook.

Loopback range of this suite: 127.0.30.x (meters .1-.20, broker .250). The tests run in file order on one
fleet, each leaving it provisioned and converged for the next. The world: tests/integration/device_env.py.
"""

import json
import re

import pytest
from harness.mqtt import Subscriber
from harness.playbook import changed_hosts, failed_hosts, show

from tests.integration.device_env import BROKER_IP, NAMES, start_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with start_env(tmp_path_factory.mktemp("device-role")) as env:
        yield env


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
    with Subscriber.for_identity(env.pki_dir, "whatwatt-monitor", BROKER_IP, env.broker.port, topic="meters/#",
                                 client_id="test-collector") as collector:  # fmt: skip
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
