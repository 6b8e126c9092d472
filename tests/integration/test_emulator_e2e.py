"""End to end: a real Mosquitto with mTLS, the emulator provisioned by a plain HTTP client, real messages."""

import json
import time

import pytest
import requests

from harness.certs import issue, make_ca
from harness.mqtt import Subscriber

pytestmark = pytest.mark.integration

BROKER_IP = "127.0.20.1"


def url(dev, path):
    return f"http://{dev.ip}:{dev.port}{path}"


def body_for(broker, ca_pem, client, client_id, skip_cn_check=False, host=BROKER_IP, template=None):
    return {
        "enable": True,
        "url": f"mqtts://{host}:{broker.port}",
        "skip_cn_check": skip_cn_check,
        "client_id": client_id,
        "publish": {
            "topic": f"meters/{client_id}",
            "template": template or '{"sys_id": "${sys.id}", "P_In": ${1_7_0}, "E_In": ${1_8_0}, "ts": ${timestamp}}',
        },
        "broker": {"certificate": ca_pem},
        "client": {"certificate": client.cert_pem, "key": client.key_pem()},
    }


def wait_state(dev, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        state = requests.get(url(dev, "/_emulator/state"), timeout=5).json()
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"state never matched: {state['mqtt']}")
        time.sleep(0.1)


@pytest.fixture
def monitor(pki, mtls_broker):
    broker = mtls_broker(pki)
    mon = pki.client("test-monitor")
    with Subscriber(BROKER_IP, broker.port, pki.ca.cert_path, mon.cert_path, mon.key_path, topic="meters/#") as col:
        yield broker, col


def test_provisioned_device_publishes_over_mtls(pki, monitor, emulator_fleet):
    broker, col = monitor
    fleet = emulator_fleet(count=2, first_ip="127.0.20.40", report_interval=1)
    for i, dev in enumerate(fleet.devices):
        cid = f"whatwatt-00{i + 1}"
        r = requests.post(url(dev, "/api/v1/mqtt/settings"), json=body_for(broker, pki.ca_pem, pki.client(cid), cid),
                          timeout=5)  # fmt: skip
        assert r.status_code == 200, r.text
    msgs = col.wait_for(lambda m: {t for t, _payload in m} >= {"meters/whatwatt-001", "meters/whatwatt-002"}
                        and len(m) >= 6, timeout=20)  # fmt: skip
    first = [json.loads(p) for t, p in msgs if t == "meters/whatwatt-001"]
    assert first[0]["sys_id"] == fleet.devices[0].device_id
    assert isinstance(first[0]["P_In"], float)
    assert len({(m["P_In"], m["ts"]) for m in first}) == len(first)  # values change
    system = requests.get(url(fleet.devices[0], "/api/v1/system"), timeout=5).json()
    assert system["clouds"]["mqtc"] == {"enabled": True, "connected": True}
    # the broker saw the certificate identity
    assert "u'whatwatt-001'" in broker.log() or "whatwatt-001" in broker.log()
    # a PUT of the topic keeps the key and the client reconnects at once
    dev = fleet.devices[0]
    r = requests.put(url(dev, "/api/v1/mqtt/settings"), json={"publish": {"topic": "meters/renamed"}}, timeout=5)
    assert r.ok and r.json()["key_len"] > 0
    col.wait_for(lambda m: any(t == "meters/renamed" for t, _payload in m), timeout=15)
    # fault: the MQTT connection drops, the client reconnects with back-off
    before = wait_state(dev, lambda s: s["mqtt"]["connected"])["mqtt"]["connects"]
    requests.post(url(dev, "/_emulator/fault"), json={"mqtt_drop": True}, timeout=5)
    wait_state(dev, lambda s: s["mqtt"]["connected"] and s["mqtt"]["connects"] > before, timeout=10)
    # disable -> disconnect
    requests.put(url(dev, "/api/v1/mqtt/settings"), json={"enable": False}, timeout=5)
    system = requests.get(url(dev, "/api/v1/system"), timeout=5).json()
    assert system["clouds"]["mqtc"] == {"enabled": False, "connected": False}


def test_wrong_ca_is_not_connected_and_says_why(pki, monitor, emulator_fleet, tmp_path):
    broker = monitor[0]
    fleet = emulator_fleet(first_ip="127.0.20.50")
    dev = fleet.devices[0]
    other_ca = make_ca("Other Root CA")
    body = body_for(broker, other_ca.cert_pem, pki.client("whatwatt-001"), "whatwatt-001")
    assert requests.post(url(dev, "/api/v1/mqtt/settings"), json=body, timeout=5).ok
    state = wait_state(dev, lambda s: s["mqtt"]["last_error"] and s["mqtt"]["attempts"] >= 1)
    assert "certificate verification failed" in state["mqtt"]["last_error"]
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).json()["clouds"]["mqtc"]["connected"] is False


def test_client_certificate_from_another_ca_is_refused(pki, monitor, emulator_fleet):
    broker = monitor[0]
    fleet = emulator_fleet(first_ip="127.0.20.51")
    dev = fleet.devices[0]
    rogue = issue(make_ca("Rogue CA"), "whatwatt-001")
    body = body_for(broker, pki.ca_pem, rogue, "whatwatt-001")
    assert requests.post(url(dev, "/api/v1/mqtt/settings"), json=body, timeout=5).ok
    state = wait_state(
        dev, lambda s: s["mqtt"]["last_error"] and s["mqtt"]["attempts"] >= 1 and not s["mqtt"]["connecting"]
    )
    time.sleep(0.5)
    state = requests.get(url(dev, "/_emulator/state"), timeout=5).json()
    assert state["mqtt"]["connected"] is False and state["mqtt"]["connects"] == 0
    assert "unknown ca" in state["mqtt"]["last_error"].lower()  # the broker's TLS alert, as paho saw it
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).json()["clouds"]["mqtc"]["connected"] is False


def test_bad_key_is_refused_at_provisioning(pki, monitor, emulator_fleet):
    broker = monitor[0]
    fleet = emulator_fleet(first_ip="127.0.20.52")
    dev = fleet.devices[0]
    body = body_for(broker, pki.ca_pem, pki.client("whatwatt-001"), "whatwatt-001")
    body["client"]["key"] = pki.client("whatwatt-002").key_pem()
    r = requests.post(url(dev, "/api/v1/mqtt/settings"), json=body, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "key_mismatch"
    state = requests.get(url(dev, "/_emulator/state"), timeout=5).json()
    assert state["mqtt"]["connected"] is False and state["settings"]["enable"] is False


def test_name_check_passes_with_ip_san(pki, monitor, emulator_fleet):
    broker = monitor[0]
    fleet = emulator_fleet(first_ip="127.0.20.53")
    dev = fleet.devices[0]
    body = body_for(broker, pki.ca_pem, pki.client("whatwatt-001"), "whatwatt-001", skip_cn_check=False)
    assert requests.post(url(dev, "/api/v1/mqtt/settings"), json=body, timeout=5).ok
    wait_state(dev, lambda s: s["mqtt"]["connected"])  # 127.0.20.1 is in the server's SANs


def test_name_mismatch_fails_unless_skip_cn_check(tmp_path, mtls_broker, emulator_fleet):
    from harness.certs import make_pki

    nosan = make_pki(str(tmp_path / "nosan"), server_sans=(), clients=("whatwatt-001",))  # the basic recipe: no SAN
    broker = mtls_broker(nosan)
    fleet = emulator_fleet(count=2, first_ip="127.0.20.54")
    strict, lax = fleet.devices
    body = body_for(broker, nosan.ca_pem, nosan.client("whatwatt-001"), "whatwatt-001", skip_cn_check=False)
    requests.post(url(strict, "/api/v1/mqtt/settings"), json=body, timeout=5)
    state = wait_state(strict, lambda s: s["mqtt"]["last_error"] and s["mqtt"]["attempts"] >= 1)
    assert "IP address mismatch" in state["mqtt"]["last_error"] or "mismatch" in state["mqtt"]["last_error"]
    body = body_for(broker, nosan.ca_pem, nosan.client("whatwatt-001"), "whatwatt-lax", skip_cn_check=True)
    requests.post(url(lax, "/api/v1/mqtt/settings"), json=body, timeout=5)
    wait_state(lax, lambda s: s["mqtt"]["connected"])
    assert not requests.get(url(strict, "/_emulator/state"), timeout=5).json()["mqtt"]["connected"]


def test_free_license_never_connects(pki, monitor, emulator_fleet):
    broker = monitor[0]
    fleet = emulator_fleet(first_ip="127.0.20.55", license="FREE")
    dev = fleet.devices[0]
    body = body_for(broker, pki.ca_pem, pki.client("whatwatt-001"), "whatwatt-001")
    assert requests.post(url(dev, "/api/v1/mqtt/settings"), json=body, timeout=5).ok
    time.sleep(1.0)
    state = requests.get(url(dev, "/_emulator/state"), timeout=5).json()
    assert state["mqtt"]["connected"] is False and state["mqtt"]["attempts"] == 0
    requests.post(url(dev, "/_emulator/license"), json={"type": "PLUS"}, timeout=5)
    wait_state(dev, lambda s: s["mqtt"]["connected"])


def test_settings_survive_restart_and_reconnect(pki, monitor, tmp_path):
    from whatwatt_emulator import Fleet

    from harness.ports import free_port

    broker, col = monitor
    port = free_port("127.0.20.56")
    with Fleet(count=1, first_ip="127.0.20.56", port=port, state_dir=tmp_path / "st", report_interval=1) as fleet:
        dev = fleet.devices[0]
        body = body_for(broker, pki.ca_pem, pki.client("whatwatt-003"), "whatwatt-003")
        assert requests.post(url(dev, "/api/v1/mqtt/settings"), json=body, timeout=5).ok
        wait_state(dev, lambda s: s["mqtt"]["connected"])
    with Fleet(count=1, first_ip="127.0.20.56", port=port, state_dir=tmp_path / "st") as fleet:
        wait_state(fleet.devices[0], lambda s: s["mqtt"]["connected"])
        n = len(col.messages)
        col.wait_for(lambda m: len(m) > n and m[-1][0] == "meters/whatwatt-003", timeout=10)
