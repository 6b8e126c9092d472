# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three device action plugins through a real ansible-playbook run against local fake devices.

One run covers: module_defaults through the action group, host/port/password from host variables,
check mode -> run -> run again (unchanged) -> check mode, diff output without key material, and a
broken meter that fails alone while the others finish.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.certs import InMemoryCa
from harness.fake_device import FakeDevice

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = r"""
- name: Device modules end to end
  hosts: meters
  gather_facts: false
  module_defaults:
    group/whatwatt.secure_mqtt.device:
      timeout: 2
      retries: 1
  vars:
    mqtt_options: &mqtt
      broker_host: 127.0.30.1
      topic: "meters/{{ inventory_hostname }}"
      template: '{"sys_id": "${sys.id}", "P_In": ${1_7_0}}'
      ca_path: "{{ pki }}/ca.crt"
      client_cert_path: "{{ pki }}/{{ inventory_hostname }}.crt"
      client_key_path: "{{ pki }}/{{ inventory_hostname }}.key"
      record_dir: "{{ records }}"
  tasks:
    - name: Read the facts
      whatwatt.secure_mqtt.device_info:
        require_license: [PLUS, PRO]
        set_facts: true
      register: info

    - name: Plan the MQTT settings (check mode)
      whatwatt.secure_mqtt.device_mqtt: *mqtt
      check_mode: true
      register: mqtt_check1

    - name: Apply the MQTT settings
      whatwatt.secure_mqtt.device_mqtt: *mqtt
      register: mqtt_run1

    - name: Apply the MQTT settings again
      whatwatt.secure_mqtt.device_mqtt: *mqtt
      register: mqtt_run2

    - name: Plan the MQTT settings again (check mode)
      whatwatt.secure_mqtt.device_mqtt: *mqtt
      check_mode: true
      register: mqtt_check2

    - name: Set the report interval
      whatwatt.secure_mqtt.device_settings:
        report_interval: 10
      register: settings1

    - name: Set the report interval again
      whatwatt.secure_mqtt.device_settings:
        report_interval: 10
      register: settings2

    - name: Check idempotence
      ansible.builtin.assert:
        that:
          - ansible_facts.whatwatt.model == 'WW_Go_1.2'
          - mqtt_check1 is changed
          - mqtt_run1 is changed
          - mqtt_run1.pushed_certificates
          - mqtt_run1.reasons[0] == 'no record'
          - mqtt_run2 is not changed
          - mqtt_check2 is not changed
          - settings1 is changed
          - settings2 is not changed

    - name: Save the results for the test
      ansible.builtin.copy:
        content: "{{ {'info': info, 'run1': mqtt_run1, 'check1': mqtt_check1} | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}.json"
        mode: "0600"
"""


@pytest.fixture
def fleet():
    with (
        FakeDevice(address="127.0.30.41") as open_dev,
        FakeDevice(address="127.0.30.42", protection=True, password="pw-42") as protected_dev,
    ):
        yield open_dev, protected_dev


def test_playbook(fleet, tmp_path):
    open_dev, protected_dev = fleet
    pki = InMemoryCa()
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_text(pki.ca_pem)
    keys = {}
    for name in ("meter-a", "meter-b", "meter-broken"):
        cert, key = pki.client(name)
        (tmp_path / "pki" / f"{name}.crt").write_text(cert)
        (tmp_path / "pki" / f"{name}.key").write_text(key)
        keys[name] = key
    inventory = {
        "meters": {
            "hosts": {
                "meter-a": {"ansible_host": open_dev.address, "whatwatt_api_port": open_dev.port},
                "meter-b": {
                    "ansible_host": protected_dev.address,
                    "whatwatt_api_port": protected_dev.port,
                    "whatwatt_password": "pw-42",
                },
                # nothing listens there: this meter must fail alone
                "meter-broken": {"ansible_host": "127.0.30.43", "whatwatt_api_port": 9},
            },
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "pki": str(tmp_path / "pki"),
                "records": str(tmp_path / "records"),
                "out": str(tmp_path),
            },
        }
    }
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORKS="5",
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(tmp_path / "inventory.json"),
            str(tmp_path / "site.yml"),
            "--diff",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    recap = dict(re.findall(r"^(meter-[a-z]+)\s+:\s+(.*)$", proc.stdout, re.MULTILINE))
    assert "failed=0" in recap["meter-a"] and "failed=0" in recap["meter-b"], proc.stdout[-4000:]
    assert "failed=1" in recap["meter-broken"]
    assert proc.returncode == 2  # a failed host, not a crash
    assert "meter-broken (127.0.30.43): GET /api/v1/system connection failed" in proc.stdout

    results = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ("meter-a", "meter-b")}
    info = results["meter-b"]["info"]
    assert info["whatwatt"]["auth"] == "digest" and info["whatwatt"]["protection"] is True
    run1 = results["meter-a"]["run1"]
    assert run1["settings"]["url"] == "mqtts://127.0.30.1:8883"
    assert run1["diff"]["after"]["certificates"]["cert_sha256"]
    assert results["meter-a"]["check1"]["diff"] == run1["diff"]

    # the meters hold what was pushed; the key never left the controller in any output
    assert open_dev.mqtt["client"]["key"] == keys["meter-a"]
    assert protected_dev.mqtt["client"]["key"] == keys["meter-b"]
    assert protected_dev.settings["services"]["report_interval"] == 10
    everything = proc.stdout + proc.stderr + json.dumps(results)
    assert "PRIVATE KEY" not in everything and "pw-42" not in everything
    for key in keys.values():
        assert not any(line in everything for line in key.splitlines() if "-----" not in line)
    assert (tmp_path / "records" / "meter-a.json").exists()
