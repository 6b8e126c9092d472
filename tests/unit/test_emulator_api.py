"""The emulator's REST API over real HTTP on loopback (127.0.20.x), as the vendor documents it."""

import json
import os
import socket
import subprocess
import time

import pytest
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth
from whatwatt_emulator import Fleet, device_id_for_ip, ip_range

from harness.certs import issue, make_ca
from harness.ports import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def chain():
    ca = make_ca()
    return ca, issue(ca, "whatwatt-001"), issue(ca, "whatwatt-002")


def url(dev, path):
    return f"http://{dev.ip}:{dev.port}{path}"


def recipe_body(chain, url="mqtts://127.0.20.254:8883"):
    """The provisioning POST from the vendor's recipe (step 6); the broker address is loopback (nothing listens)."""
    ca, client = chain[0], chain[1]
    return {
        "enable": True,
        "url": url,
        "skip_cn_check": True,
        "client_id": "whatwatt-001",
        "publish": {"topic": "lab/energy/whatwatt-001", "template": '{ "P_In": ${1_7_0}, "P_Out": ${2_7_0} }'},
        "broker": {"certificate": ca.cert_pem},
        "client": {"certificate": client.cert_pem, "key": client.key_pem()},
    }


def test_addressing():
    ips = ip_range("127.0.10.253", 4)
    assert ips == ["127.0.10.253", "127.0.10.254", "127.0.11.1", "127.0.11.2"]
    assert device_id_for_ip("127.0.10.1") == "A842E1000A01"
    with pytest.raises(ValueError):
        ip_range("10.0.0.1", 1)


def test_recipe_post_with_curl_then_documented_get(emulator_fleet, chain, tmp_path):
    fleet = emulator_fleet(first_ip="127.0.20.11")
    dev = fleet.devices[0]
    body = tmp_path / "body.json"
    body.write_text(json.dumps(recipe_body(chain)))
    out = subprocess.run(
        ["curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", f"@{body}",
         "-w", "\n%{http_code}", url(dev, "/api/v1/mqtt/settings")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    text, code = out.stdout.rsplit("\n", 1)
    assert code == "200"
    answer = json.loads(text)
    get = requests.get(url(dev, "/api/v1/mqtt/settings"), timeout=5)
    assert get.status_code == 200
    assert get.headers["Content-Type"].startswith("application/json")
    assert get.json() == answer
    # The documented GET after provisioning, plus the documented key_len.
    documented = {
        "enable": True,
        "url": "mqtts://127.0.20.254:8883",
        "skip_cn_check": True,
        "client_id": "whatwatt-001",
        "publish": {"topic": "lab/energy/whatwatt-001", "template": '{ "P_In": ${1_7_0}, "P_Out": ${2_7_0} }'},
        "password_len": 0,
    }
    assert {k: answer[k] for k in documented} == documented
    assert answer["key_len"] > 0
    assert "certificate" not in json.dumps(answer) and "PRIVATE" not in json.dumps(answer)


def test_requests_script_post_put_keeps_key(emulator_fleet, chain):
    fleet = emulator_fleet(first_ip="127.0.20.12")
    dev = fleet.devices[0]
    api = url(dev, "/api/v1/mqtt/settings")
    # Written from the docs: POST the whole object, PUT only what changes.
    r = requests.post(api, json=recipe_body(chain), timeout=5)
    assert r.status_code == 200, r.text
    key_len = r.json()["key_len"]
    r = requests.put(api, json={"publish": {"topic": "lab/energy/renamed"}}, timeout=5)
    assert r.status_code == 200
    assert r.json()["publish"]["topic"] == "lab/energy/renamed"
    assert r.json()["publish"]["template"] == recipe_body(chain)["publish"]["template"]
    assert r.json()["key_len"] == key_len
    state = requests.get(url(dev, "/_emulator/state"), timeout=5).json()
    assert state["settings"]["client_certificate_sha256"] == chain[1].fingerprint
    assert state["settings"]["broker_certificate_sha256"] == chain[0].fingerprint
    # null deletes the key; the certificate then lacks its key -> 400, nothing changed
    r = requests.put(api, json={"client": {"key": None}}, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "missing_key"
    r = requests.put(api, json={"client": {"key": None, "certificate": None}}, timeout=5)
    assert r.status_code == 200 and "key_len" not in r.json()
    # POST resets what is not sent
    r = requests.post(api, json={"enable": False}, timeout=5)
    assert r.json()["url"] == "" and r.json()["publish"] == {"topic": "", "template": ""}


@pytest.mark.parametrize(
    ("patch", "error"),
    [
        ({"url": "ftp://x"}, "invalid_url"),
        ({"client_id": "c" * 64}, "out_of_range"),
        ({"broker": {"certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"}}, "invalid_pem"),
        ("mismatch", "key_mismatch"),
        ("nokey", "missing_key"),
    ],
)
def test_invalid_input_answers_400_with_error_body(emulator_fleet, chain, patch, error):
    fleet = emulator_fleet(first_ip="127.0.20.13")
    dev = fleet.devices[0]
    if patch == "mismatch":
        patch = {"client": {"certificate": chain[1].cert_pem, "key": chain[2].key_pem()}}
    elif patch == "nokey":
        patch = {"client": {"certificate": chain[1].cert_pem}}
    r = requests.post(url(dev, "/api/v1/mqtt/settings"), json=patch, timeout=5)
    assert r.status_code == 400
    assert r.json()["error"] == error and "message" in r.json() and "details" in r.json()


def test_body_limit_and_bad_json(emulator_fleet):
    fleet = emulator_fleet(first_ip="127.0.20.14")
    dev = fleet.devices[0]
    big = {"publish": {"template": "x" * 1000}, "broker": {"certificate": "A" * 8000}}
    r = requests.post(url(dev, "/api/v1/mqtt/settings"), json=big, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "body_too_large"
    r = requests.post(url(dev, "/api/v1/mqtt/settings"), data=b"{not json", timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    assert requests.get(url(dev, "/api/v1/nothing"), timeout=5).status_code == 404


def test_system_variables_keepalive(emulator_fleet):
    fleet = emulator_fleet(first_ip="127.0.20.15", license="PLUS", firmware="1.10.2")
    dev = fleet.devices[0]
    with requests.Session() as session:
        system = session.get(url(dev, "/api/v1/system"), timeout=5).json()
        variables = session.get(url(dev, "/api/v1/variables"), timeout=5).json()
        settings = session.get(url(dev, "/api/v1/settings"), timeout=5).json()
    assert system["device"]["id"] == dev.device_id and len(dev.device_id) == 12
    assert system["device"]["model"] == "WW_Go_1.2"
    assert system["device"]["firmware"] == "1.10.2"
    assert system["device"]["license"]["type"] == "PLUS"
    assert system["clouds"]["mqtc"] == {"enabled": False, "connected": False}
    assert system["wifi"]["ip"] == dev.ip
    assert all(isinstance(next(iter(v.values())), str) for v in variables)
    assert settings["services"]["report_interval"] == 30 and settings["system"]["protection"] is False
    # one TCP connection served all three requests
    assert dev.requests == 3


def _sock_request(dev, raw):
    with socket.create_connection((dev.ip, dev.port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_digest_md5_sess_on_1_10(emulator_fleet):
    fleet = emulator_fleet(first_ip="127.0.20.16", password="webui-pw", firmware="1.10.2", nonce_lifetime=1.0)
    dev = fleet.devices[0]
    r = requests.get(url(dev, "/api/v1/system"), timeout=5)
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Digest ") and "algorithm=MD5-sess" in challenge and 'qop="auth,auth-int"' in challenge
    assert f'realm="{dev.hostname}.local"' in challenge
    assert requests.get(url(dev, "/api/v1/system"), auth=HTTPDigestAuth("", "webui-pw"), timeout=5).ok
    assert requests.get(url(dev, "/api/v1/system"), auth=HTTPDigestAuth("", "wrong"), timeout=5).status_code == 401
    assert (
        requests.get(url(dev, "/api/v1/system"), auth=HTTPDigestAuth("admin", "webui-pw"), timeout=5).status_code == 401
    )
    assert requests.get(url(dev, "/api/v1/system"), auth=HTTPBasicAuth("", "webui-pw"), timeout=5).status_code == 401
    # a session keeps its nonce; after the lifetime the device says stale=true and requests retries
    with requests.Session() as session:
        session.auth = HTTPDigestAuth("", "webui-pw")
        assert session.get(url(dev, "/api/v1/system"), timeout=5).ok
        time.sleep(1.2)
        auth_header = session.auth._thread_local.last_nonce
        r = session.get(url(dev, "/api/v1/system"), timeout=5)
        assert r.ok
        assert session.auth._thread_local.last_nonce != auth_header
        assert "stale=true" in r.history[0].headers["WWW-Authenticate"] if r.history else True
    # the control path needs no auth
    assert requests.get(url(dev, "/_emulator/state"), timeout=5).json()["auth"] == "digest"


def test_stale_nonce_is_signalled(emulator_fleet):
    fleet = emulator_fleet(first_ip="127.0.20.17", password="pw", nonce_lifetime=0.5)
    dev = fleet.devices[0]
    auth = dev.auth
    import hashlib

    nonce = auth.make_nonce(now=time.time() - 10)

    def md5(text):
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(md5(f":{dev.hostname}.local:pw") + f":{nonce}:abc")
    resp = md5(f"{ha1}:{nonce}:00000001:abc:auth:" + md5("GET:/api/v1/system"))
    header = (f'Digest username="", realm="{dev.hostname}.local", nonce="{nonce}", uri="/api/v1/system", '
              f'algorithm=MD5-sess, qop=auth, nc=00000001, cnonce="abc", response="{resp}"')  # fmt: skip
    r = requests.get(url(dev, "/api/v1/system"), headers={"Authorization": header}, timeout=5)
    assert r.status_code == 401 and "stale=true" in r.headers["WWW-Authenticate"]


def test_basic_before_1_10(emulator_fleet):
    fleet = emulator_fleet(first_ip="127.0.20.18", password="pw", firmware="1.9.4")
    dev = fleet.devices[0]
    r = requests.get(url(dev, "/api/v1/settings"), timeout=5)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic ")
    assert requests.get(url(dev, "/api/v1/settings"), auth=HTTPBasicAuth("", "pw"), timeout=5).ok
    assert requests.get(url(dev, "/api/v1/settings"), auth=HTTPBasicAuth("", "no"), timeout=5).status_code == 401
    # turning protection off via the API opens it up
    r = requests.put(url(dev, "/api/v1/settings"), json={"system": {"protection": False}}, auth=("", "pw"), timeout=5)
    assert r.ok and requests.get(url(dev, "/api/v1/settings"), timeout=5).ok


def test_faults(emulator_fleet):
    fleet = emulator_fleet(first_ip="127.0.20.19")
    dev = fleet.devices[0]
    ctl = url(dev, "/_emulator/fault")
    api = url(dev, "/api/v1/system")
    assert requests.post(ctl, json={"status": 503, "count": 2}, timeout=5).ok
    assert [requests.get(api, timeout=5).status_code for _attempt in range(3)] == [503, 503, 200]
    requests.post(ctl, json={"status": 401, "count": 1}, timeout=5)
    r = requests.get(api, timeout=5)
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    requests.post(ctl, json={"drop": True, "count": 1}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(api, timeout=5)
    requests.post(ctl, json={"delay": 0.6, "count": 1}, timeout=5)
    start = time.monotonic()
    assert requests.get(api, timeout=5).ok
    assert time.monotonic() - start >= 0.55
    with pytest.raises(requests.Timeout):
        requests.post(ctl, json={"delay": 2.0, "count": 1}, timeout=5)
        requests.get(api, timeout=0.5)
    requests.post(ctl, json={"malformed_json": True, "count": 1}, timeout=5)
    with pytest.raises(ValueError):
        json.loads(requests.get(api, timeout=5).text)
    requests.post(ctl, json={"status": 503, "seconds": 0.5}, timeout=5)
    assert requests.get(api, timeout=5).status_code == 503
    time.sleep(0.6)
    assert requests.get(api, timeout=5).ok
    assert requests.post(ctl, json={"status": 302}, timeout=5).status_code == 400


def test_factory_reset_license_restore(emulator_fleet, chain):
    fleet = emulator_fleet(first_ip="127.0.20.20", reboot_seconds=0.3)
    dev = fleet.devices[0]
    api = url(dev, "/api/v1/mqtt/settings")
    requests.post(api, json=recipe_body(chain), timeout=5)
    assert requests.post(url(dev, "/_emulator/factory_reset"), timeout=5).ok
    assert requests.get(api, timeout=5).json()["enable"] is False
    requests.post(api, json=recipe_body(chain), timeout=5)
    r = requests.post(url(dev, "/api/v1/restore"), timeout=5)
    assert r.status_code == 204 and r.content == b""
    time.sleep(0.15)  # a factory reset reboots the device (the vendor's factory-reset page)
    with pytest.raises(requests.ConnectionError):
        requests.get(api, timeout=2)
    time.sleep(0.5)
    assert requests.get(api, timeout=5).json()["url"] == ""
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).json()["device"]["time_since_boot"] <= 1
    requests.post(url(dev, "/_emulator/license"), json={"type": "FREE"}, timeout=5)
    attempts = requests.get(url(dev, "/_emulator/state"), timeout=5).json()["mqtt"]["attempts"]
    system = requests.get(url(dev, "/api/v1/system"), timeout=5).json()
    assert system["device"]["license"]["type"] == "FREE"
    # FREE: settings still writable, the client never connects
    assert requests.post(api, json=recipe_body(chain, url="mqtt://127.0.0.1:1"), timeout=5).ok
    time.sleep(0.3)
    state = requests.get(url(dev, "/_emulator/state"), timeout=5).json()
    assert (
        state["mqtt"]["attempts"] == attempts
        and not state["mqtt"]["connected"]
        and "license FREE" in state["mqtt"]["last_error"]
    )


def test_reboot_goes_offline_and_back(emulator_fleet):
    fleet = emulator_fleet(first_ip="127.0.20.21", reboot_seconds=0.5)
    dev = fleet.devices[0]
    assert requests.post(url(dev, "/api/v1/reboot"), timeout=5).status_code == 204
    time.sleep(0.2)
    with pytest.raises(requests.ConnectionError):
        requests.get(url(dev, "/api/v1/system"), timeout=2)
    time.sleep(0.6)
    assert requests.get(url(dev, "/api/v1/system"), timeout=5).json()["device"]["time_since_boot"] <= 1


def test_control_path_can_be_switched_off(emulator_fleet):
    fleet = emulator_fleet(first_ip="127.0.20.22", control=False)
    assert requests.get(url(fleet.devices[0], "/_emulator/state"), timeout=5).status_code == 404


def test_settings_survive_restart_and_inventory(tmp_path, chain):
    port = free_port("127.0.20.23")
    inventory = tmp_path / "inv" / "hosts.yml"
    fleet = Fleet(count=3, first_ip="127.0.20.23", port=port, state_dir=tmp_path / "state", inventory=str(inventory),
                  password="pw", firmware="1.9.0")  # fmt: skip
    with fleet:
        dev = fleet.devices[1]
        r = requests.post(url(dev, "/api/v1/mqtt/settings"), json=recipe_body(chain), auth=("", "pw"), timeout=5)
        assert r.ok
        requests.put(
            url(dev, "/api/v1/settings"), json={"services": {"report_interval": 7}}, auth=("", "pw"), timeout=5
        )
    import yaml

    inv = yaml.safe_load(inventory.read_text())
    meters = inv["all"]["children"]["meters"]
    assert meters["vars"] == {"ansible_connection": "local", "whatwatt_password": "pw"}
    assert list(meters["hosts"]) == ["whatwatt-001", "whatwatt-002", "whatwatt-003"]
    assert meters["hosts"]["whatwatt-002"] == {
        "ansible_host": "127.0.20.24", "whatwatt_api_port": port, "whatwatt_client_id": "whatwatt-002"
    }  # fmt: skip
    state_file = tmp_path / "state" / f"{dev.device_id}.json"
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"
    with Fleet(count=3, first_ip="127.0.20.23", port=port, state_dir=tmp_path / "state", firmware="1.9.0") as again:
        dev = again.devices[1]
        got = requests.get(url(dev, "/api/v1/mqtt/settings"), auth=("", "pw"), timeout=5).json()
        assert got["url"] == "mqtts://127.0.20.254:8883" and got["key_len"] > 0
        assert dev.report_interval == 7
