"""FleetVerifier against a real mutual-TLS Mosquitto and emulated meters (loopback 127.0.30.1xx only)."""

import time

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_verify import FleetVerifier, VerifyError
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattClient
from harness.broker import MosquittoBroker
from harness.certs import make_pki
from harness.ports import free_port

pytestmark = pytest.mark.integration

BROKER_IP = "127.0.30.100"
FIRST_IP = "127.0.30.101"
COUNT = 7
IDS = [f"verify-{n}" for n in range(1, COUNT + 1)]
ACL = "user whatwatt-monitor\ntopic read meters/#\n\npattern write meters/%u\n"
TEMPLATE = '{"sys_id":"${sys.id}","P_In":${1_7_0}}'


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from whatwatt_emulator import Fleet

    base = tmp_path_factory.mktemp("verify")
    pki = make_pki(str(base / "pki"), server_sans=(BROKER_IP,), clients=(*IDS, "whatwatt-monitor"))
    other = make_pki(str(base / "other"), server_sans=(BROKER_IP,), clients=("stranger",), ca_cn="Other CA")
    broker = MosquittoBroker(
        base / "broker", pki.ca.cert_path, pki.server.cert_path, pki.server.key_path, host=BROKER_IP, acl=ACL
    )
    fleet = Fleet(count=COUNT, first_ip=FIRST_IP, port=free_port(FIRST_IP), state_dir=base / "emu", report_interval=1)
    broker.start()
    try:
        fleet.start()
        try:
            yield dict(pki=pki, other=other, broker=broker, fleet=fleet)
        finally:
            fleet.stop()
    finally:
        broker.stop()


def provision(setup, index, topic=None, ca_pem=None):
    """PUT MQTT settings and certificates straight to an emulated device (as device_mqtt would)."""
    fleet, pki, broker = setup["fleet"], setup["pki"], setup["broker"]
    client_id = IDS[index]
    topic = topic or f"meters/{client_id}"
    issued = pki.client(client_id)
    body = {
        "enable": True,
        "url": f"mqtts://{BROKER_IP}:{broker.port}",
        "client_id": client_id,
        "skip_cn_check": False,
        "publish": {"topic": topic, "template": TEMPLATE},
        "broker": {"certificate": ca_pem or pki.ca_pem},
        "client": {"certificate": issued.cert_pem, "key": issued.key_pem()},
    }
    with WhatWattClient(fleet.ips[index], fleet.port, name=client_id) as client:
        client.put_mqtt(body)
    return dict(name=client_id, host=fleet.ips[index], port=fleet.port, client_id=client_id, topic=topic)


def verifier(setup, devices, **kwargs):
    pki = setup["pki"]
    monitor = kwargs.pop("monitor", pki.client("whatwatt-monitor"))
    return FleetVerifier(
        devices,
        BROKER_IP,
        pki.ca.cert_path,
        monitor.cert_path,
        monitor.key_path,
        broker_port=setup["broker"].port,
        poll_interval=0.3,
        **kwargs,
    )


def control(setup, index, path, body):
    fleet = setup["fleet"]
    with WhatWattClient(fleet.ips[index], fleet.port, name=IDS[index]) as client:
        return client.request("POST", path, body)


def test_good_devices_pass_within_about_one_report_interval(setup):
    devices = [provision(setup, i) for i in range(3)]
    start = time.monotonic()
    outcome = verifier(setup, devices, timeout=20).run()
    assert outcome["failed_devices"] == [], outcome
    assert outcome["ok_devices"] == sorted(IDS[:3])
    for item in outcome["devices"].values():
        assert item["connected"] and item["message_seen"] and item["reason"] is None
    assert time.monotonic() - start < 10


def test_each_kind_of_failure_gets_its_own_reason(setup):
    good = provision(setup, 0)
    acl = provision(setup, 3, topic="meters/not-mine")  # the broker ACL drops its messages
    control(setup, 4, "/_emulator/license", {"type": "FREE"})
    free = provision(setup, 4)
    wrong_ca = provision(setup, 5, ca_pem=setup["other"].ca_pem)
    # Web UI protection on for the 7th device; the verifier is given no password.
    with WhatWattClient(setup["fleet"].ips[6], setup["fleet"].port, name=IDS[6]) as client:
        client.put_settings({"system": {"protection": True, "password": "right"}})
    locked = dict(
        name=IDS[6], host=setup["fleet"].ips[6], port=setup["fleet"].port, client_id=IDS[6], topic="meters/x7"
    )
    locked["password"] = "wrong"

    outcome = verifier(setup, [good, acl, free, wrong_ca, locked], timeout=4).run()
    results = outcome["devices"]
    assert outcome["ok_devices"] == [IDS[0]]
    assert results[IDS[3]]["connected"] and not results[IDS[3]]["message_seen"]
    assert results[IDS[3]]["reason"].startswith("connected to the broker, but no message arrived on meters/not-mine")
    assert results[IDS[4]]["reason"].startswith("the licence is FREE")
    assert results[IDS[5]]["reason"].startswith(f"not connected to the broker {BROKER_IP}:")
    assert results[IDS[6]]["reason"].startswith("cannot read the device status:")
    assert "401" in results[IDS[6]]["reason"]
    assert results[IDS[6]]["connected_after"] is None
    assert results[IDS[6]]["polls"] == 1  # a wrong password is final: not polled again
    assert "wrong" not in repr(outcome)


def test_topic_the_monitor_may_not_read_fails_with_acl_hint(setup):
    # Mosquitto grants a subscription its ACL denies (MQTT 3.1.1) and then delivers nothing.
    device = provision(setup, 1)
    outside = dict(device, name="outside", topic="other/topic")
    outcome = verifier(setup, [device, outside], timeout=3).run()
    assert outcome["ok_devices"] == [IDS[1]]
    assert outcome["failed_devices"] == ["outside"]
    assert "may the monitoring identity read it?" in outcome["devices"]["outside"]["reason"]


def test_monitor_from_another_ca_cannot_verify(setup):
    stranger = setup["other"].client("stranger")
    with pytest.raises(VerifyError, match="monitor"):
        verifier(setup, [provision(setup, 2)], timeout=5, monitor=stranger).run()


def test_nothing_to_verify_returns_at_once(setup):
    assert verifier(setup, [], timeout=5).run() == dict(devices={}, ok_devices=[], failed_devices=[], elapsed=0.0)
