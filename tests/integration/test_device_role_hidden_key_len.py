"""The device role on meters that do not report ``key_len`` (emulator ``--hide-key-len``), as the vendor's own
documented answers after provisioning show: provisioning, a ``changed=0`` re-run, a factory reset re-pushed alone,
a client certificate rotation and a rollback. The harness is test_device_role's (``start_env``).

Loopback range of this suite: 127.0.31.x (meters .1-.6, broker .250). The tests run in file order on one fleet.
"""

import json
import re

import pytest

from tests.integration.test_device_role import changed_hosts, failed_hosts, show, start_env

pytestmark = pytest.mark.integration

NAMES = [f"whatwatt-{n:02d}" for n in range(1, 7)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("device-role-hidden-key-len")
    with start_env(base, names=NAMES, first_ip="127.0.31.1", broker_ip="127.0.31.250",
                   emulator_args=["--hide-key-len"]) as env:  # fmt: skip
        yield env


def mqtt_get(env, name):
    return env.control(name, "/api/v1/mqtt/settings", method="GET")


def test_provisioning_succeeds_although_no_meter_reports_key_len(env):
    proc = env.playbook("device_role.yml", "-v")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == NAMES and failed_hosts(proc) == []
    assert "6 changed, 6 verified, 0 failed, 0 rolled back" in proc.stdout, show(proc)
    for name in NAMES:
        answer = mqtt_get(env, name)
        assert "key_len" not in answer and "key_password_len" not in answer  # the switch is on
        state = env.state(name)
        assert state["mqtt"]["connected"] and state["settings"]["key_len"], state


def test_rerun_changes_nothing(env):
    records = env.records()
    proc = env.playbook("device_role.yml", "-v")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == [] and failed_hosts(proc) == []
    assert "0 changed, 0 verified, 0 failed, 0 rolled back" in proc.stdout
    assert env.records() == records


def test_factory_reset_meter_is_the_only_one_pushed_again(env):
    env.control("whatwatt-03", "/_emulator/factory_reset")
    proc = env.playbook("device_role.yml", "-v")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == ["whatwatt-03"] and failed_hosts(proc) == []
    assert "factory reset? (client_id empty, url empty, enable false; the device does not report key_len)" in (
        proc.stdout
    ), show(proc)
    assert env.state("whatwatt-03")["settings"]["client_key_sha256"]
    assert env.state("whatwatt-03")["mqtt"]["connected"]


def test_rotation_of_one_client_certificate_pushes_only_that_meter(env):
    before = env.state("whatwatt-04")["settings"]["client_certificate_sha256"]
    proc = env.playbook("device_pki.yml", "-e", json.dumps({"whatwatt_pki_renew": ["whatwatt-04"]}))
    assert proc.returncode == 0, show(proc)
    proc = env.playbook("device_role.yml", "-v")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == ["whatwatt-04"] and failed_hosts(proc) == []
    assert "client certificate fingerprint changed" in proc.stdout
    after = env.state("whatwatt-04")
    assert after["settings"]["client_certificate_sha256"] != before and after["mqtt"]["connected"]
    proc = env.playbook("device_role.yml")
    assert proc.returncode == 0 and changed_hosts(proc) == [], show(proc)


def test_meter_that_does_not_come_up_is_rolled_back(env):
    env.host_overrides["whatwatt-05"] = {"whatwatt_topic": "forbidden/whatwatt-05"}
    env.group_overrides["whatwatt_verify_timeout"] = 5
    env.write_inventory()
    proc = env.playbook("device_role.yml")
    assert proc.returncode != 0
    assert failed_hosts(proc) == ["whatwatt-05"], show(proc)
    fatal = re.search(r"fatal: \[whatwatt-05\].*", proc.stdout).group(0)
    assert "rolled back to the previous MQTT settings and certificates" in fatal, fatal
    assert env.state("whatwatt-05")["settings"]["publish"]["topic"] == "meters/whatwatt-05"
    del env.host_overrides["whatwatt-05"]
    env.write_inventory()
    proc = env.playbook("device_role.yml")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == [] and failed_hosts(proc) == []
