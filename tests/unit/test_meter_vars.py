"""plugins/plugin_utils/meter_vars.py: each meter's device entry resolved inside the batch task (no per-host task).

``meter_entry`` directly, then the device role through a real ansible-playbook run (check mode, --diff) against
fake meters: the variables reach each meter with Ansible's precedence (role defaults < inventory < play vars <
extra vars), and a meter whose variable cannot be templated fails alone, naming the variable.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleUndefinedVariable

from harness.certs import InMemoryCa
from harness.fake_device import FakeDevice
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.meter_vars import MeterVarError, meter_entry

ROOT = Path(__file__).resolve().parents[2]


def identity(value):
    if value == "{{ nowhere }}":
        raise AnsibleUndefinedVariable("'nowhere' is undefined")
    return value


def test_an_entry_takes_only_the_variables_that_are_defined():
    variables = dict(ansible_host="192.0.2.7", whatwatt_pki_dir="/srv/pki", whatwatt_client_id="c-7",
                     whatwatt_topic="meters/c-7", whatwatt_password="secret", unrelated="x")  # fmt: skip
    assert meter_entry("m7", variables, identity) == dict(
        name="m7", host="192.0.2.7", port=80, ca_path="/srv/pki/ca-bundle.crt", certs_dir="/srv/pki/clients",
        client_id="c-7", topic="meters/c-7", password="secret",
    )  # fmt: skip
    assert meter_entry("m8", dict(whatwatt_api_port=8080), identity) == dict(name="m8", host="m8", port=8080)


def test_a_variable_that_cannot_be_templated_is_named():
    with pytest.raises(MeterVarError, match="^whatwatt_topic: 'nowhere' is undefined$"):
        meter_entry("m9", dict(whatwatt_topic="{{ nowhere }}"), identity)


PLAYBOOK = """
- name: The device role, meters resolved in the batch task
  hosts: meters
  gather_facts: false
  vars:
    whatwatt_topic_prefix: play-prefix  # play vars win over the group's
  roles:
    - role: whatwatt.secure_mqtt.device

- name: device_fleet on its own, a meter whose variable cannot be templated
  hosts: loose
  gather_facts: false
  tasks:
    - name: The batch, without the role (no per-host validation before it)
      whatwatt.secure_mqtt.device_fleet:
        hosts: "{{ ansible_play_batch }}"
        broker_host: 127.0.30.1
        ca_path: "{{ whatwatt_pki_dir }}/ca-bundle.crt"
        record_dir: "{{ whatwatt_pki_dir }}/devices"
        verify: none
      run_once: true
      check_mode: true
      register: batch

    - name: Show the outcome of meter-c
      ansible.builtin.debug:
        msg: "OUTCOME {{ batch.devices['meter-e'].msg }}"
      run_once: true
"""


BATCH_PLAYBOOK = """
- name: The playbooks' way, the role's entry point batch once per batch (no task per meter on the unchanged path)
  hosts: meters
  gather_facts: false
  vars:
    whatwatt_topic_prefix: play-prefix
  tasks:
    - name: The batch's meters
      ansible.builtin.import_tasks: {tasks}

- name: The report play, the changed and failed meters only
  hosts: "{{{{ hostvars['localhost']['__whatwatt_reported'] | default([]) }}}}"
  gather_facts: false
  tasks:
    - name: The outcome
      ansible.builtin.import_tasks: {report}
"""


def test_the_role_resolves_each_meter_with_ansibles_precedence(tmp_path):
    out, requests = _run_fleet(tmp_path, PLAYBOOK)
    recap = dict(re.findall(r"^(meter-[a-e])\s+:\s+(.*)$", out, re.MULTILINE))
    assert "failed=1" in recap["meter-c"] and "failed=0" in recap["meter-a"] and "failed=0" in recap["meter-b"], out
    # the role's argument validation (per host) refuses meter-c before the batch task; device_fleet on its own
    # refuses it too, naming the variable, and contacts it in neither play
    assert "'nowhere_defined' is undefined" in out.split("TASK [The batch, without the role")[0]
    assert "OUTCOME meter-e: whatwatt_client_id: 'nowhere_defined' is undefined" in out, out[-3000:]
    assert requests["c"] == []
    _assert_precedence(out, batch=2)


def test_the_playbooks_batch_entry_point_validates_each_meter_in_the_batch_task(tmp_path):
    tasks, report = ROOT / "playbooks" / "tasks" / "meters.yml", ROOT / "playbooks" / "tasks" / "meters-report.yml"
    out, requests = _run_fleet(tmp_path, BATCH_PLAYBOOK.format(tasks=tasks, report=report), limit="meters")
    recap = dict(re.findall(r"^(meter-[a-e])\s+:\s+(.*)$", out, re.MULTILINE))
    assert "failed=1" in recap["meter-c"] and "failed=0" in recap["meter-a"] and "failed=0" in recap["meter-b"], out
    # no per-host validation task: device_fleet refuses meter-c itself, naming the variable, and never calls it
    assert "Validating arguments against arg spec 'batch'" in out and out.count("ok: [meter-") >= 1
    assert "meter-c: whatwatt_client_id: 'nowhere_defined' is undefined" in out, out[-3000:]
    assert requests["c"] == []
    # one validation, one batch task; a task result only for the meters with something to report
    assert re.findall(r"^(?:ok|changed|fatal): \[(meter-[a-e])\]", out.split("Report each changed")[0], re.M) == [
        "meter-a",
        "meter-a",
        "meter-a",
    ], out
    _assert_precedence(out, batch=3)


def _site_report_play():
    """site.yml's report play as it is (hosts, serial), its task file given by path."""
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    (play,) = [play for play in plays if play["name"] == "Report each changed or failed meter's outcome"]
    tasks = str(ROOT / "playbooks" / "tasks" / "meters-report.yml")
    return dict(play, tasks=[dict(name="The outcome", **{"ansible.builtin.import_tasks": tasks})])


def test_site_yml_s_report_play_reaches_every_queued_meter_in_batches(tmp_path):
    # meter-b's REST port is closed: it fails in the batch task. One meter a batch, in reverse order: the queue is
    # meter-b (failed), then meter-a (changed, check mode). Report batches of 1 would end the playbook after
    # meter-b's batch, all failed, and leave meter-a unreported.
    meters = dict(name="One meter a batch, in reverse", hosts="meters", gather_facts=False, serial=1,
                  order="reverse_inventory", tasks=[dict(name="The batch's meters", **{
                      "ansible.builtin.import_tasks": str(ROOT / "playbooks" / "tasks" / "meters.yml")})])  # fmt: skip
    playbook = yaml.safe_dump([meters, _site_report_play()], sort_keys=False)
    out = _run_fleet(tmp_path, playbook, limit="meter-a,meter-b", extra=["-e", "whatwatt_report_batch_size=1"],
                     overrides={"meter-b": {"whatwatt_api_port": 9}})[0]  # fmt: skip
    recap = dict(re.findall(r"^(meter-[a-e])\s+:\s+(.*)$", out, re.MULTILINE))
    assert "failed=1" in recap["meter-b"] and "changed=1" in recap["meter-a"], out[-3000:]
    # one report batch: meter-b with meter-a, the first meter in the queue that did not fail
    assert out.count("PLAY [Report each changed or failed meter's outcome]") == 1, out[-3000:]


def _assert_precedence(out, batch):
    assert '"topic": "play-prefix/custom-a"' in out and '"client_id": "custom-a"' in out, out[-6000:]
    # the host's own variable wins over the role default; the play's lists are the whole batch's (meter-c, failed by
    # the role's per-host validation, has left the role's batch)
    assert f'"topic": "special/{batch}/3"' in out, out[-6000:]
    assert "group-prefix" not in out
    assert '"report_interval": 7' in out  # extra vars win over the inventory's 5


def _run_fleet(tmp_path, playbook, limit=None, extra=(), overrides=None):
    pki = InMemoryCa()
    (tmp_path / "pki" / "clients").mkdir(parents=True)
    (tmp_path / "pki" / "ca-bundle.crt").write_text(pki.ca_pem)
    for client_id in ("custom-a", "meter-b", "meter-c", "whatwatt-monitor"):
        cert, key = pki.client(client_id)
        (tmp_path / "pki" / "clients" / f"{client_id}.crt").write_text(cert)
        (tmp_path / "pki" / "clients" / f"{client_id}.key").write_text(key)
    with FakeDevice(address="127.0.30.61") as dev_a, FakeDevice(address="127.0.30.62") as dev_b, \
            FakeDevice(address="127.0.30.63") as dev_c:  # fmt: skip
        inventory = {
            "loose": {
                "hosts": {
                    "meter-e": {
                        "ansible_host": dev_c.address,
                        "whatwatt_api_port": dev_c.port,
                        "whatwatt_client_id": "{{ nowhere_defined }}",
                    },  # fmt: skip
                },
                "vars": {"ansible_connection": "local", "whatwatt_pki_dir": str(tmp_path / "pki")},
            },
            "meters": {
                "hosts": {
                    "meter-a": {
                        "ansible_host": dev_a.address,
                        "whatwatt_api_port": dev_a.port,
                        "whatwatt_client_id": "custom-a",
                    },  # fmt: skip
                    "meter-b": {
                        "ansible_host": dev_b.address,
                        "whatwatt_api_port": dev_b.port,
                        # the play's host lists as the meter itself sees them (3 meters), not the one-host
                        # lists meter_vars.host_vars asks ansible-core to build
                        "whatwatt_topic": "special/{{ ansible_play_batch | length }}"
                        "/{{ ansible_play_hosts_all | length }}",
                    },  # fmt: skip
                    "meter-c": {
                        "ansible_host": dev_c.address,
                        "whatwatt_api_port": dev_c.port,
                        "whatwatt_client_id": "{{ nowhere_defined }}",
                    },  # fmt: skip
                },
                "vars": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    "whatwatt_pki_dir": str(tmp_path / "pki"),
                    "whatwatt_broker_host": "127.0.30.1",
                    "whatwatt_topic_prefix": "group-prefix",
                    "whatwatt_report_interval": 5,
                    "whatwatt_verify": False,
                },
            },
        }
        for host, host_vars in (overrides or {}).items():
            inventory["meters"]["hosts"][host].update(host_vars)
        (tmp_path / "inventory.json").write_text(json.dumps(inventory))
        (tmp_path / "play.yml").write_text(playbook)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"),
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACK_RESULT_FORMAT="json")  # fmt: skip
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
             str(tmp_path / "play.yml"), "--check", "--diff", "-e", "whatwatt_report_interval=7",
             *(["--limit", limit] if limit else []), *extra],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        requests = {name: list(dev.log) for name, dev in (("a", dev_a), ("b", dev_b), ("c", dev_c))}
    return proc.stdout, requests


def test_reported_outcomes_keep_only_the_meters_with_something_to_report():
    from ansible_collections.whatwatt.secure_mqtt.plugins.action.device_fleet import reported_only

    outcome = dict(
        devices={f"m{i}": dict(changed=i == 1, failed=i == 2, verified=i != 2) for i in range(1000)},
        changed_devices=["m1"], failed_devices=["m2"], verified_devices=[f"m{i}" for i in range(1000) if i != 2],
        rolled_back_devices=["m2"], changed=True, elapsed=1.0, timings={},
    )  # fmt: skip
    out = reported_only(outcome)
    assert sorted(out["devices"]) == ["m1", "m2"]
    assert out["verified_devices"] == ["m1"] and out["rolled_back_devices"] == ["m2"]
    assert out["changed_devices"] == ["m1"] and out["failed_devices"] == ["m2"] and out["changed"] is True
    assert len(outcome["devices"]) == 1000  # the full outcome is left as it was
