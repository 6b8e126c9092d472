# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""device_fleet end to end against a real mutual-TLS Mosquitto (ACL: a meter writes meters/<its CN>) and
emulated meters (loopback 127.0.30.170-174): push + verify, a re-run that verifies nothing, a meter whose
new topic the ACL drops is rolled back while the others keep theirs, and the read-only audit (check mode,
verify all)."""

import json

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_fleet as df
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_template import HOME_ASSISTANT_KEYS
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattClient
from harness.batch import batch_options
from harness.certs import make_pki
from harness.mqtt import Subscriber
from harness.ports import free_port

pytestmark = pytest.mark.integration

BROKER_IP = "127.0.30.170"
FIRST_IP = "127.0.30.171"
IDS = [f"fleetv-{n}" for n in range(1, 5)]
ACL = "user whatwatt-monitor\ntopic read meters/#\n\npattern write meters/%u\n"


def test_push_verify_rerun_rollback_and_audit(tmp_path, mtls_broker, emulator_fleet):
    pki = make_pki(str(tmp_path / "pki"), server_sans=(BROKER_IP,), clients=(*IDS, "whatwatt-monitor"))
    broker = mtls_broker(pki, host=BROKER_IP, acl=ACL)
    fleet = emulator_fleet(count=len(IDS), first_ip=FIRST_IP, report_interval=1)
    options = fleet_options(tmp_path, broker.port, fleet, IDS, verify_timeout=15)
    options["template"] = '{"sys_id":"${sys.id}","P_In":${1_7_0}}'
    options["retries"] = 2
    first = df.run_fleet(options)
    assert first["failed_devices"] == [], first
    assert first["changed_devices"] == IDS and first["verified_devices"] == IDS
    assert "connected and publishing" in first["devices"][IDS[0]]["msg"]
    assert "PRIVATE KEY" not in json.dumps(first)

    rerun = df.run_fleet(options)
    assert rerun["changed_devices"] == [] and rerun["verified_devices"] == [] and rerun["failed_devices"] == []

    # The third meter gets a topic the broker's ACL drops: it connects but nothing arrives.
    bad = json.loads(json.dumps(options))
    bad["devices"][2]["topic"] = "elsewhere/fleetv-3"
    outcome = df.run_fleet(bad)
    assert outcome["failed_devices"] == [IDS[2]] and outcome["rolled_back_devices"] == [IDS[2]]
    msg = outcome["devices"][IDS[2]]["msg"]
    assert msg.startswith(f"{IDS[2]}: verification failed: connected to the broker, but no message arrived")
    assert msg.endswith("rolled back to the previous MQTT settings and certificates")
    assert fleet.devices[2].mqtt["publish"]["topic"] == "meters/fleetv-3"  # the previous topic is back
    assert all(fleet.devices[i].mqtt["publish"]["topic"] == f"meters/{IDS[i]}" for i in (0, 1, 3))

    audit = df.run_fleet(dict(options, verify="all", drift="fail"), check_mode=True)
    assert audit["failed_devices"] == [] and audit["changed_devices"] == [], audit
    assert audit["verified_devices"] == IDS


def fleet_options(tmp_path, broker_port, fleet, names, verify_timeout):
    pki = tmp_path / "pki"
    return batch_options(
        list(zip(names, fleet.ips, [fleet.port] * len(names), strict=True)), pki / "ca.crt", pki / "clients",
        tmp_path / "records", broker_host=BROKER_IP, broker_port=broker_port, verify="changed",
        verify_timeout=verify_timeout, monitor_cert_path=str(pki / "clients" / "whatwatt-monitor.crt"),
        monitor_key_path=str(pki / "clients" / "whatwatt-monitor.key"),
    )  # fmt: skip


def test_the_first_message_after_a_push_is_not_missed(tmp_path, mtls_broker, emulator_fleet):
    # Report interval 30 s: a meter publishes its first message within 5 s of connecting, then every 30 s. The
    # third meter answers every request 4 s late, so the push phase lasts over 8 s: the first two meters
    # publish their first message while it runs. The monitor listens before the push, so those messages
    # count; had it subscribed after the push, they would wait 30 s more and fail the 20 s verify_timeout.
    names = ["fleetv-1", "fleetv-2", "fleetv-3"]
    pki = make_pki(str(tmp_path / "pki"), server_sans=(BROKER_IP,), clients=(*names, "whatwatt-monitor"))
    broker = mtls_broker(pki, host=BROKER_IP, acl=ACL)
    fleet = emulator_fleet(count=len(names), first_ip=FIRST_IP, report_interval=30)
    with WhatWattClient(fleet.ips[2], fleet.port, name=names[2]) as client:
        # pre-flight GET /api/v1/system, plan GET, push GET, PUT
        client.request("POST", "/_emulator/fault", {"delay": 4, "count": 4})
    options = fleet_options(tmp_path, broker.port, fleet, names, verify_timeout=20)
    options["timeout"] = 10
    outcome = df.run_fleet(options)
    assert outcome["timings"]["push"] > 8, outcome["timings"]
    assert outcome["failed_devices"] == [] and outcome["verified_devices"] == names, outcome
    for name in names:
        assert outcome["devices"][name]["verification"]["message_after"] < 20


def test_a_monitor_that_cannot_reach_the_broker_changes_no_meter(tmp_path, emulator_fleet):
    names = ["fleetv-1", "fleetv-2"]
    make_pki(str(tmp_path / "pki"), server_sans=(BROKER_IP,), clients=(*names, "whatwatt-monitor"))
    fleet = emulator_fleet(count=len(names), first_ip=FIRST_IP, report_interval=1)
    options = fleet_options(tmp_path, free_port(BROKER_IP), fleet, names, verify_timeout=5)
    with pytest.raises(df.FleetError, match="verification cannot run .*so no meter was changed"):
        df.run_fleet(options)
    assert all(not device.mqtt["enable"] for device in fleet.devices)
    assert not (tmp_path / "records").exists()


def test_payloads_must_parse_and_the_home_assistant_preset_carries_its_keys(tmp_path, mtls_broker, emulator_fleet):
    names = IDS[:2]
    pki = make_pki(str(tmp_path / "pki"), server_sans=(BROKER_IP,), clients=(*names, "whatwatt-monitor"))
    broker = mtls_broker(pki, host=BROKER_IP, acl=ACL)
    fleet = emulator_fleet(count=len(names), first_ip=FIRST_IP, report_interval=1)
    options = fleet_options(tmp_path, broker.port, fleet, names, verify_timeout=15)
    # sys.id is text: unquoted, the payload is not JSON although the template looks like it
    options["devices"][0]["template"] = '{"sys_id":${sys.id},"P_In":${1_7_0}}'
    options["devices"][1]["template_preset"] = "home_assistant"
    outcome = df.run_fleet(options)
    assert outcome["failed_devices"] == [names[0]] and outcome["verified_devices"] == [names[1]], outcome
    msg = outcome["devices"][names[0]]["msg"]
    assert "verification failed: the meter published a payload that is not valid JSON" in msg, msg
    assert '{"sys_id":A842E1' in msg  # the payload itself, so the user sees what is wrong
    assert outcome["rolled_back_devices"] == [names[0]]

    monitor = [str(tmp_path / "pki" / "clients" / f"whatwatt-monitor.{ext}") for ext in ("crt", "key")]
    with Subscriber(BROKER_IP, broker.port, str(tmp_path / "pki" / "ca.crt"), *monitor, topic=f"meters/{names[1]}",
                    client_id="test-ha-preset") as collector:  # fmt: skip
        messages = collector.wait_for(lambda m: len(m) >= 1, timeout=10)
    payload = json.loads(messages[0][1])
    read_by_the_integration = {key for key, _variable in HOME_ASSISTANT_KEYS}
    assert read_by_the_integration <= set(payload)
    assert payload["sys_id"] == fleet.devices[1].device_id
    for key in ("power_in", "energy_in", "voltage_l1", "current_l1", "tariff"):
        assert isinstance(payload[key], (int, float)), (key, payload[key])  # the integration does float(value)
