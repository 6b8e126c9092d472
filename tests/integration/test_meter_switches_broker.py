# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A meter whose server-name check ignores IP SANs (emulator switch), against a real mutual-TLS Mosquitto on
127.0.0.1: an IP URL fails, a DNS name passes. Emulated meters on 127.0.20.70-73; the collection's answer to the
switch is in tests/unit/test_meter_switches.py."""

import time

import pytest
import requests

pytestmark = pytest.mark.integration


def url(dev, path):
    return f"http://{dev.ip}:{dev.port}{path}"


def provision(dev, test_pki, broker_url, client_id="whatwatt-001"):
    client = test_pki.client(client_id)
    body = {
        "enable": True,
        "url": broker_url,
        "skip_cn_check": False,
        "client_id": client_id,
        "publish": {"topic": f"meters/{client_id}", "template": "{}"},
        "broker": {"certificate": test_pki.ca_pem},
        "client": {"certificate": client.cert_pem, "key": client.key_pem()},
    }
    assert requests.put(url(dev, "/api/v1/mqtt/settings"), json=body, timeout=5).ok


def wait_mqtt(dev, predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = requests.get(url(dev, "/_emulator/state"), timeout=5).json()["mqtt"]
        if predicate(state):
            return state
        time.sleep(0.1)
    return state


def test_a_name_check_that_ignores_ip_sans_fails_an_ip_url_and_passes_a_dns_name(pki, mtls_broker, emulator_fleet):
    broker = mtls_broker(pki, host="127.0.0.1")  # SANs 127.0.0.1, localhost, 127.0.20.1
    plain, dns_only = (
        emulator_fleet(count=2, first_ip="127.0.20.70").devices,
        emulator_fleet(count=2, first_ip="127.0.20.72", name_check_ignores_ip_sans=True).devices,
    )
    provision(plain[0], pki, f"mqtts://127.0.0.1:{broker.port}")
    provision(dns_only[0], pki, f"mqtts://127.0.0.1:{broker.port}", "whatwatt-002")
    provision(dns_only[1], pki, f"mqtts://localhost:{broker.port}", "whatwatt-003")
    assert wait_mqtt(plain[0], lambda s: s["connected"])["connected"]  # the project's assumption: IP SANs count
    assert wait_mqtt(dns_only[1], lambda s: s["connected"])["connected"]  # a DNS name passes
    state = wait_mqtt(dns_only[0], lambda s: s["last_error"] and "IP SANs are ignored" in s["last_error"])
    assert not state["connected"] and "IP SANs are ignored" in state["last_error"], state
