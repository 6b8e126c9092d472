"""The device role on meters that do not report ``key_len`` (emulator ``--hide-key-len``), as the vendor's own
documented answers after provisioning show: provisioning, a ``changed=0`` re-run, a factory reset re-pushed alone,
a client certificate rotation and a rollback. The world is tests/integration/device_env.py (``start_env``).

Loopback range of this suite: 127.0.31.x (meters .1-.6, broker .250). The tests run in file order on one fleet.
"""

import json
import re

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_template import HOME_ASSISTANT_KEYS
from harness.playbook import changed_hosts, failed_hosts, show

from tests.integration.device_env import start_env
from harness.mqtt import Subscriber

pytestmark = pytest.mark.integration

NAMES = [f"whatwatt-{n:02d}" for n in range(1, 7)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("device-role-hidden-key-len")
    with start_env(base, names=NAMES, first_ip="127.0.31.1", broker_ip="127.0.31.250",
                   emulator_args=["--hide-key-len", "--reboot-seconds", "1"]) as env:  # fmt: skip
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
    # as /api/v1/restore: the meter reboots (1 s offline here); the run waits for it through its retries
    env.control("whatwatt-03", "/_emulator/factory_reset", {"reboot": True})
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


def test_home_assistant_preset_through_the_role(env):
    env.host_overrides["whatwatt-04"] = {"whatwatt_template_preset": "home_assistant"}
    env.write_inventory()
    proc = env.playbook("device_role.yml", "-v")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == ["whatwatt-04"] and "1 changed, 1 verified, 0 failed" in proc.stdout, show(proc)
    with Subscriber.for_identity(env.pki_dir, "whatwatt-monitor", env.broker_ip, env.broker.port,
                                 topic="meters/whatwatt-04", client_id="test-ha-role") as collector:  # fmt: skip
        payload = json.loads(collector.wait_for(lambda m: len(m) >= 1, timeout=10)[0][1])
    assert {key for key, _variable in HOME_ASSISTANT_KEYS} <= set(payload), payload
    del env.host_overrides["whatwatt-04"]
    env.write_inventory()
    proc = env.playbook("device_role.yml")
    assert proc.returncode == 0 and changed_hosts(proc) == ["whatwatt-04"], show(proc)


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


def test_old_firmware_free_licence_and_wrong_clock_are_refused_before_anything_is_sent(env):
    refused = {
        "whatwatt-01": ("/_emulator/firmware", {"version": "1.7.5"}, "firmware 1.7.5 is below 1.7.6"),
        "whatwatt-02": ("/_emulator/license", {"type": "FREE"}, "licence FREE has no MQTT client"),
        "whatwatt-06": (
            "/_emulator/clock",
            {"offset": -86400 * 365 * 56},
            "is outside the validity of the certificates",
        ),
    }
    requests_before = {}
    for name, (path, body, _text) in refused.items():
        env.control(name, "/_emulator/factory_reset")  # they would all need a push ...
        env.control(name, path, body)
        requests_before[name] = env.state(name)["requests"]
    proc = env.playbook("device_role.yml")
    assert proc.returncode != 0
    assert failed_hosts(proc) == sorted(refused), show(proc)
    assert changed_hosts(proc) == []  # ... and the others were up to date
    for name, (_path, _body, text) in refused.items():
        fatal = re.search(rf"fatal: \[{name}\].*", proc.stdout).group(0)
        assert f"{name} ({env.ip(name)}): refused before anything was sent: " in fatal and text in fatal, fatal
        state = env.state(name)
        assert state["requests"] - requests_before[name] == 1  # the one GET /api/v1/system
        assert state["settings"]["enable"] is False and state["settings"]["client_key_sha256"] is None
    # Fixed on the meters: the next run provisions exactly those three.
    env.control("whatwatt-01", "/_emulator/firmware", {"version": "1.10.2"})
    env.control("whatwatt-02", "/_emulator/license", {"type": "PLUS"})
    env.control("whatwatt-06", "/_emulator/clock", {"offset": 0})
    proc = env.playbook("device_role.yml")
    assert proc.returncode == 0, show(proc)
    assert changed_hosts(proc) == sorted(refused) and failed_hosts(proc) == []
