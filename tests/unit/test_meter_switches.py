# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Behaviour the vendor leaves open, one emulator switch each, and the collection's answer to it:
a server-name check that ignores IP SANs, a broker.certificate of one certificate, a body limit of 8000 bytes.
Emulated meters on 127.0.20.74-79, fake meters on 127.0.30.150-153. The name check against a real broker is in
tests/integration/test_meter_switches_broker.py."""

import hashlib

import requests
from requests.auth import HTTPDigestAuth
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    MAX_BODY_BYTES,
    WhatWattClient,
    run_info,
)
from harness.certs import make_ca
from harness.certs import InMemoryCa
from harness.fake_device import FakeDevice
from tests.unit.device_fleet_helpers import IPS, NAMES, fleet_options, run


def url(dev, path):
    return f"http://{dev.ip}:{dev.port}{path}"


def test_the_collection_refuses_an_ip_url_for_such_meters_before_sending(pki_dir, tmp_path):
    devs = [FakeDevice(address=ip) for ip in IPS[:2]]
    for dev in devs:
        dev.__enter__()
    try:
        options = fleet_options(pki_dir, tmp_path, devs)
        options["devices"][0]["name_check_ignores_ip_sans"] = True
        result = run(options)
        assert result["failed_devices"] == [NAMES[0]] and result["changed_devices"] == [NAMES[1]]
        msg = result["devices"][NAMES[0]]["msg"]
        assert "server-name check ignores IP SANs" in msg and "set whatwatt_broker_host to a DNS name" in msg
        assert devs[0].calls() == []
        # the answer the message gives: a DNS name in the URL (or skip_cn_check for SAN-less certificates)
        options["devices"][0]["broker_host"] = "broker.example"
        options["verify"] = "none"
        options["broker_host"] = "broker.example"
        options["devices"][1]["broker_host"] = "broker.example"
        assert NAMES[0] in run(options)["changed_devices"]
    finally:
        for dev in devs:
            dev.__exit__(None, None, None)


def test_one_broker_certificate_kept_and_a_bundle_refused(pki, emulator_fleet, pki_dir, tmp_path):
    dev = emulator_fleet(first_ip="127.0.20.74", single_broker_certificate=True).devices[0]
    other = make_ca("Next CA")
    client = pki.client("whatwatt-001")
    body = {"broker": {"certificate": pki.ca_pem + other.cert_pem},
            "client": {"certificate": client.cert_pem, "key": client.key_pem()}}  # fmt: skip
    assert requests.put(url(dev, "/api/v1/mqtt/settings"), json=body, timeout=5).ok
    first = x509.load_pem_x509_certificate(pki.ca_pem.encode()).public_bytes(serialization.Encoding.DER)
    assert dev.snapshot()["settings"]["broker_certificate_sha256"] == hashlib.sha256(first).hexdigest()

    bundle = tmp_path / "bundle.crt"
    bundle.write_text((pki_dir / "ca-bundle.crt").read_text() + InMemoryCa("Next CA").ca_pem)
    with FakeDevice(address=IPS[0]) as fake:
        options = fleet_options(pki_dir, tmp_path, [fake], ca_path=str(bundle), single_broker_certificate=True)
        result = run(options)
        msg = result["devices"][NAMES[0]]["msg"]
        assert result["failed_devices"] == [NAMES[0]] and "keeps only one broker.certificate" in msg
        assert "the CA bundle holds 2" in msg and "finish the rollover" in msg
        assert fake.calls() == []
        assert run(dict(options, single_broker_certificate=False))["changed_devices"] == [NAMES[0]]


def test_a_body_limit_of_8000_bytes_and_the_collection_stays_under_it(emulator_fleet):
    dev = emulator_fleet(first_ip="127.0.20.75", max_body=8000).devices[0]
    api = url(dev, "/api/v1/mqtt/settings")
    over = {"publish": {"template": "x" * 1000}, "username": "u", "broker": {"certificate": "y" * 7100}}
    r = requests.put(api, json=over, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "body_too_large" and "8000" in r.json()["message"]
    assert MAX_BODY_BYTES == 8000  # the collection never sends what such a meter refuses


def test_the_collection_works_with_the_vendors_host_name_realm_and_protection(emulator_fleet):
    protected, unprotected = emulator_fleet(count=2, first_ip="127.0.20.76", password="pw").devices
    # realm whatwatt_XXXXXX.local, qop auth,auth-int: the client answers the device's own challenge
    with WhatWattClient(protected.ip, protected.port, password="pw", name="m1") as client:
        facts = run_info(client, {"gather": ["settings"], "min_firmware": "1.7.6"})["whatwatt"]
    assert facts["hostname"] == "whatwatt_" + protected.device_id[-6:] and facts["auth"] == "digest"
    # protection on but no password: the device enforces nothing, and the client sends nothing it does not need
    fleet_call = requests.put(url(unprotected, "/api/v1/settings"), auth=HTTPDigestAuth("", "pw"), timeout=5,
                              json={"system": {"password": ""}})  # fmt: skip
    assert fleet_call.ok and unprotected.snapshot()["auth"] == "none"
    with WhatWattClient(unprotected.ip, unprotected.port, password="pw", name="m2") as client:
        assert run_info(client, {"gather": ["settings"]})["whatwatt"]["protection"] is True
        assert client.auth_scheme is None  # no challenge came
