"""The emulator as the vendor documents the device (whatwatt-ch/whatwatt-go-documentation): host name, realm,
protection, licence-gated endpoints, the /api/v1/system shape, every template variable, and the control path
for firmware and clock. Loopback 127.0.20.60-79."""

import hashlib
import json
import time

import requests
from requests.auth import HTTPDigestAuth
from whatwatt_emulator.meter import NUMERIC, TEXT, render

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_template import DOCUMENTED_VARIABLES


def url(dev, path):
    return f"http://{dev.ip}:{dev.port}{path}"


def test_host_name_name_and_realm_follow_the_vendor(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.60").devices[0]
    settings = requests.get(url(dev, "/api/v1/settings"), timeout=5).json()
    assert settings["system"]["host_name"] == "whatwatt_" + dev.device_id[-6:]  # underscore
    assert settings["system"]["name"] == ""
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).json()["device"]["name"] == ""
    # the host name check accepts the vendor's own default (and rejects what is no host name)
    assert requests.put(url(dev, "/api/v1/settings"), json={"system": {"host_name": "whatwatt_ABC123"}}, timeout=5).ok
    bad = requests.put(url(dev, "/api/v1/settings"), json={"system": {"host_name": "no spaces"}}, timeout=5)
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "system.host_name"
    # the realm follows the host name as it is set now: <host_name>.local
    body = {"system": {"protection": True, "password": "pw"}}
    assert requests.put(url(dev, "/api/v1/settings"), json=body, timeout=5).ok
    challenge = requests.get(url(dev, "/api/v1/system"), timeout=5).headers["WWW-Authenticate"]
    assert 'realm="whatwatt_ABC123.local"' in challenge and 'qop="auth,auth-int"' in challenge
    assert requests.get(url(dev, "/api/v1/system"), auth=HTTPDigestAuth("", "pw"), timeout=5).ok


def test_auth_int_covers_the_body(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.61", password="pw").devices[0]
    body = json.dumps({"services": {"report_interval": 7}}).encode()
    challenge = requests.put(url(dev, "/api/v1/settings"), data=body, timeout=5).headers["WWW-Authenticate"]
    fields = dict(part.strip().split("=", 1) for part in challenge[len("Digest ") :].split(", "))
    nonce, realm = fields["nonce"].strip('"'), fields["realm"].strip('"')

    def md5(data):
        return hashlib.md5(data if isinstance(data, bytes) else data.encode(), usedforsecurity=False).hexdigest()

    def header(payload):
        ha1 = md5(md5(f":{realm}:pw") + f":{nonce}:c1")
        ha2 = md5(f"PUT:/api/v1/settings:{md5(payload)}")
        response = md5(f"{ha1}:{nonce}:00000001:c1:auth-int:{ha2}")
        return (f'Digest username="", realm="{realm}", nonce="{nonce}", uri="/api/v1/settings", algorithm=MD5-sess, '
                f'qop=auth-int, nc=00000001, cnonce="c1", response="{response}"')  # fmt: skip

    tampered = json.dumps({"services": {"report_interval": 8}}).encode()
    assert requests.put(url(dev, "/api/v1/settings"), data=tampered, headers={"Authorization": header(body)},
                        timeout=5).status_code == 401  # fmt: skip
    assert requests.put(url(dev, "/api/v1/settings"), data=body, headers={"Authorization": header(body)}, timeout=5).ok
    assert dev.snapshot()["report_interval"] == 7


def test_protection_is_enforced_only_with_a_password(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.62").devices[0]
    api = url(dev, "/api/v1/settings")
    assert requests.put(api, json={"system": {"protection": True}}, timeout=5).ok
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).status_code == 200  # on, but no password
    assert dev.snapshot()["auth"] == "none"
    assert requests.put(api, json={"system": {"password": "pw"}}, timeout=5).ok
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).status_code == 401


def test_free_licence_gates_report_and_variables(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.63", license="FREE").devices[0]
    for path in ("/api/v1/report", "/api/v1/variables"):
        r = requests.get(url(dev, path), timeout=5)
        assert r.status_code == 404 and r.json()["message"] == "License required", path
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).ok
    requests.post(url(dev, "/_emulator/license"), json={"type": "PLUS"}, timeout=5)
    assert requests.get(url(dev, "/api/v1/report"), timeout=5).ok


def test_system_has_the_documented_shape(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.64").devices[0]
    requests.post(url(dev, "/_emulator/meter"), json={"present": False}, timeout=5)
    system = requests.get(url(dev, "/api/v1/system"), timeout=5).json()
    assert set(system["device"]["plug"]) == {"v_usb", "v_mbus", "v_p1", "v_scap"}
    assert set(system["clouds"]) == {"whatwatt", "mystrom", "solar_manager", "mqtc", "stromkonto"}
    assert system["meter"]["status"] == "NO DATA"
    assert (system["wifi"]["status"], system["wifi"]["mode"]) == ("OK", "STA")
    assert system["ethernet"]["status"] in ("Up", "Down")
    assert set(system["sd_card"]) == {"installed", "type", "size", "speed"}
    assert system["device"]["license"]["activation_date"].endswith("Z")
    assert len(system["wifi"]["mac"]) == 12 and ":" not in system["wifi"]["mac"]


def test_dates_are_local_time(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.65", utc_offset=2.0).devices[0]
    system = requests.get(url(dev, "/api/v1/system"), timeout=5).json()
    local = time.strftime("%H", time.gmtime(time.time() + 7200))
    assert system["device"]["time"][:2] == local


def test_every_documented_template_variable_is_known(emulator_fleet):
    # The vendor's template page, as the collection records it (one list: plugins/module_utils/device_template.py).
    documented = sorted(DOCUMENTED_VARIABLES)
    dev = emulator_fleet(first_ip="127.0.20.66").devices[0]
    values = dev.meter.values(dev)
    for name in documented:
        assert "${" not in render("${" + name + "}", values), name
    listing = {k for item in requests.get(url(dev, "/api/v1/variables"), timeout=5).json() for k in item}
    assert {n for n in documented if "." not in n or n.split(".")[0] not in ("energy", "power")} <= listing
    assert set(NUMERIC + TEXT) == listing
    assert render("${5_8_0}|${eth.ip}", values) == "null|"  # absent: null for numbers, "" for text


def test_control_sets_firmware_and_clock(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.67").devices[0]
    assert requests.post(url(dev, "/_emulator/firmware"), json={"version": "1.7.5"}, timeout=5).ok
    assert requests.post(url(dev, "/_emulator/firmware"), json={"version": "x"}, timeout=5).status_code == 400
    assert requests.post(url(dev, "/_emulator/clock"), json={"offset": -86400 * 365 * 50}, timeout=5).ok
    system = requests.get(url(dev, "/api/v1/system"), timeout=5).json()
    assert system["device"]["firmware"] == "1.7.5" and system["device"]["date"] < "1980"
    assert dev.snapshot()["firmware"] == "1.7.5"


def test_control_factory_reset_reboots_only_when_asked(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.68", reboot_seconds=0.3).devices[0]
    assert requests.post(url(dev, "/_emulator/factory_reset"), timeout=5).ok
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).ok  # no reboot
    assert requests.post(url(dev, "/_emulator/factory_reset"), json={"reboot": True}, timeout=5).ok
    time.sleep(0.15)
    try:
        requests.get(url(dev, "/api/v1/system"), timeout=2)
        offline = False
    except requests.ConnectionError:
        offline = True
    assert offline
    time.sleep(0.5)
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).json()["device"]["time_since_boot"] <= 1
