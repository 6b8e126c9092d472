# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""device_mqtt planning: validation, certificates, the record, idempotence, against a local fake device."""

import json
import os
import stat

import pytest
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_certs, device_fields, device_plan
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_mqtt as dm
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattClient, WhatWattError

from harness.certs import InMemoryCa, cert_pem, key_pem, make_cert, new_key
from harness.fake_device import FakeDevice

ADDR = "127.0.30.21"
LABEL = f"whatwatt-001 ({ADDR})"


@pytest.fixture(scope="module")
def pki():
    return InMemoryCa()


@pytest.fixture(scope="module")
def material(pki):
    cert, key = pki.client("whatwatt-001")
    return dict(ca=pki.ca_pem, cert=cert, key=key)


@pytest.fixture
def dev():
    with FakeDevice(address=ADDR) as device:
        yield device


def options(record_dir=None, material=None, **extra):
    opts = dict(
        mode="apply",
        enable=True,
        broker_host="127.0.30.1",
        broker_port=8883,
        scheme="mqtts",
        client_id="whatwatt-001",
        topic="meters/whatwatt-001",
        template='{"P_In": ${1_7_0}}',
        skip_cn_check=False,
        force_certificates=False,
        record_dir=str(record_dir) if record_dir else None,
    )
    if material:
        opts.update(ca_pem=material["ca"], client_cert_pem=material["cert"], client_key_pem=material["key"])
    opts.update(extra)
    return opts


def run(dev, opts, check_mode=False):
    with WhatWattClient(dev.address, dev.port, name="whatwatt-001", backoff=0.01) as client:
        return dm.run_mqtt(client, opts, check_mode=check_mode, default_client_id="whatwatt-001")


def no_key_anywhere(result, material):
    """The key's body lines must appear nowhere in a result (diff, messages, settings)."""
    text = json.dumps(result)
    lines = [line for line in material["key"].splitlines() if "-----" not in line]
    assert "PRIVATE KEY" not in text
    assert not any(line in text for line in lines)


# -- validation: every field names itself and the device, nothing is sent ----------------------
@pytest.mark.parametrize(
    "extra,message",
    [
        ({"client_id": "x" * 64}, "client_id must be 1..63 bytes, got 64"),
        ({"client_id": "meter+1"}, "client_id 'meter+1' must not contain the MQTT wildcards + or #"),
        ({"client_id": "meter#1"}, "must not contain the MQTT wildcards"),
        ({"client_id": "meter\n1"}, "client_id must not contain control characters"),
        ({"topic": "t" * 128}, "topic must be 1..127 bytes, got 128"),
        ({"topic": ""}, "topic must be 1..127 bytes, got 0"),
        ({"topic": "meters/+"}, "topic 'meters/+' must not contain the MQTT wildcards"),
        ({"topic": "meters/#"}, "must not contain the MQTT wildcards"),
        ({"template": "x" * 1024}, "template must be at most 1023 bytes, got 1024"),
        ({"broker_host": None, "url": "http://127.0.30.1:8883"}, "must use the scheme mqtt:// or mqtts://"),
        ({"broker_host": None, "url": "mqtts://:8883"}, "has no broker host"),
        ({"broker_host": None, "url": "mqtts://h:99999"}, "is not valid"),
        ({"broker_host": None, "url": "mqtts://h:8883/path"}, "must be scheme://host:port only"),
        ({"broker_host": None, "url": "mqtts://" + "h" * 130}, "url must be at most 127 bytes"),
    ],
)
def test_bad_readable_field(dev, extra, message):
    with pytest.raises(WhatWattError) as err:
        run(dev, options(**extra))
    assert str(err.value).startswith(LABEL + ": ")
    assert message in str(err.value)
    assert dev.log == []


def test_all_problems_reported_at_once(dev):
    with pytest.raises(WhatWattError) as err:
        run(dev, options(client_id="a+b", topic="t/#"))
    assert "client_id" in str(err.value) and "topic" in str(err.value)


@pytest.mark.parametrize(
    "host,port,scheme,url",
    [
        ("192.0.2.10", 8883, "mqtts", "mqtts://192.0.2.10:8883"),
        ("broker.lan", 1883, "mqtt", "mqtt://broker.lan:1883"),
        ("2001:db8::1", 8883, "mqtts", "mqtts://[2001:db8::1]:8883"),
    ],
)
def test_url_from_broker_address(host, port, scheme, url):
    assert device_fields.build_url(scheme, host, port) == url
    assert device_plan.desired_readable(dict(broker_host=host, broker_port=port, scheme=scheme), "c")["url"] == url


def cert_problem(material, label=LABEL, **override):
    parts = dict(ca_pem=material["ca"], cert_pem=material["cert"], key_pem=material["key"], key_password=None)
    parts.update(override)
    _certs, problems = device_certs.load_certificates(
        parts["ca_pem"], parts["cert_pem"], parts["key_pem"], parts["key_password"], label
    )
    return "; ".join(problems)


def test_certificates_ok(material):
    assert cert_problem(material) == ""


def test_key_does_not_match_certificate(material):
    other = key_pem(new_key())
    assert "the client key does not belong to the client certificate CN=whatwatt-001" in cert_problem(
        material, key_pem=other
    )


def test_ca_did_not_sign(material):
    assert "was not signed by the CA CN=Other CA" in cert_problem(material, ca_pem=InMemoryCa("Other CA").ca_pem)


def test_ca_bundle_with_the_signer_is_fine(material):
    bundle = InMemoryCa("Next CA").ca_pem + material["ca"]
    assert cert_problem(material, ca_pem=bundle) == ""


def test_expired_ca(material):
    old = InMemoryCa("Old CA", ca_days=30, ca_start_days_ago=60)
    cert, key = old.client("whatwatt-001", days=10, start_days_ago=5)
    problem = cert_problem(material, ca_pem=old.ca_pem, cert_pem=cert, key_pem=key)
    assert "the CA CN=Old CA expired on" in problem


def test_expired_client_certificate(pki, material):
    cert, key = pki.client("whatwatt-001", days=30, start_days_ago=60)
    assert "the client certificate CN=whatwatt-001 expired on" in cert_problem(material, cert_pem=cert, key_pem=key)


def test_not_a_certificate(material):
    assert "the CA (ca_path/ca_pem) is not a PEM certificate" in cert_problem(material, ca_pem="garbage")
    assert "is not a PEM certificate" in cert_problem(material, cert_pem="garbage")


def test_cert_without_key_and_without_ca(material):
    assert "must be given together" in cert_problem(material, key_pem=None)
    assert "needs the CA" in cert_problem(material, ca_pem=None)


def test_encrypted_key(pki):
    key = new_key()
    cert = make_cert("whatwatt-001", key, pki.ca, pki.ca_key)

    enc = key_pem(key, password="pw")
    material = dict(ca=pki.ca_pem, cert=cert_pem(cert), key=enc)
    assert "encrypted: give client_key_password" in cert_problem(material)
    assert cert_problem(material, key_password="pw") == ""
    assert "cannot be read" in cert_problem(material, key_password="bad")
    assert "not encrypted" in cert_problem(material, key_pem=key_pem(key), key_password="pw")


def test_pkcs8_key_warns(pki):
    key = new_key()

    cert = cert_pem(make_cert("whatwatt-001", key, pki.ca, pki.ca_key))
    certs, problems = device_certs.load_certificates(pki.ca_pem, cert, key_pem(key, fmt="pkcs8"), None, LABEL)
    assert problems == [] and "SEC1" in certs.warnings[0]


def test_bad_certificates_stop_before_any_request(dev, material, tmp_path):
    with pytest.raises(WhatWattError, match="does not belong"):
        run(dev, options(tmp_path, dict(material, key=key_pem(new_key()))))
    assert dev.log == []


def test_record_dir_required_with_certificates(dev, material):
    with pytest.raises(WhatWattError, match="record_dir is required"):
        run(dev, options(None, material))
    assert dev.log == []


def test_client_id_must_be_a_safe_file_name(dev, material, tmp_path):
    with pytest.raises(WhatWattError, match="client_id '../evil' may hold only letters, digits"):
        run(dev, options(tmp_path, material, client_id="../evil"))
    assert not list(tmp_path.rglob("*evil*"))  # no record outside (or inside) the record directory


# -- planning of readable fields -----------------------------------------------------------------
@pytest.mark.parametrize(
    "field,value,body",
    [
        ("enable", False, {"enable": False}),
        ("url", "mqtts://127.0.30.2:8883", {"url": "mqtts://127.0.30.2:8883"}),
        ("client_id", "whatwatt-002", {"client_id": "whatwatt-002"}),
        ("skip_cn_check", True, {"skip_cn_check": True}),
        ("topic", "lab/energy/x", {"publish": {"topic": "lab/energy/x"}}),
        ("template", "{}", {"publish": {"template": "{}"}}),
    ],
)
def test_each_readable_field_alone(dev, field, value, body):
    run(dev, options())
    dev.clear_log()
    extra = {field: value}
    if field == "url":
        extra["broker_host"] = None
    result = run(dev, options(**extra))
    assert result["changed"] is True and result["changed_fields"] == [field]
    assert dev.calls() == [("GET", "/api/v1/mqtt/settings", 200), ("PUT", "/api/v1/mqtt/settings", 200)]
    assert json.loads(dev.log[1][4]) == body  # only the differing field is sent
    assert result["settings"][field] == value and result["previous"][field] != value


def test_unmanaged_fields_are_left_alone(dev):
    run(dev, options())
    result = run(dev, dict(options(), template=None, topic=None))
    assert result["changed"] is False
    assert dev.mqtt["publish"]["template"] == '{"P_In": ${1_7_0}}'


def test_idempotence_without_certificates(dev):
    check = run(dev, options(), check_mode=True)
    assert check["changed"] is True and dev.calls() == [("GET", "/api/v1/mqtt/settings", 200)]
    assert dev.mqtt["enable"] is False  # check mode changed nothing
    first = run(dev, options())
    assert first["changed"] is True and first["diff"]["after"] == check["diff"]["after"]
    dev.clear_log()
    second = run(dev, options())
    assert second["changed"] is False and dev.calls() == [("GET", "/api/v1/mqtt/settings", 200)]
    assert run(dev, options(), check_mode=True)["changed"] is False


# -- certificates and the record ---------------------------------------------------------------
def test_first_push_then_idempotent(dev, material, tmp_path):
    record_dir = tmp_path / "records"
    check = run(dev, options(record_dir, material), check_mode=True)
    assert (
        check["changed"]
        and check["pushed_certificates"]
        and check["reasons"] == ["no record"]  # a fresh meter does not report key_len: not read as "no key"
    )
    assert not record_dir.exists()  # check mode writes nothing
    no_key_anywhere(check, material)

    first = run(dev, options(record_dir, material))
    assert first["pushed_certificates"] is True
    put = json.loads(dev.log[-1][4])
    assert put["broker"]["certificate"] == material["ca"]
    assert put["client"] == {"certificate": material["cert"], "key": material["key"], "key_password": None}
    assert dev.mqtt["client"]["key"] == material["key"]
    no_key_anywhere(first, material)

    # the record: fingerprints only in the JSON, copies 0600, directory 0700
    record = json.loads((record_dir / "whatwatt-001.json").read_text())
    assert record["current"]["certificates"]["cert_sha256"] and "PRIVATE" not in json.dumps(record)
    assert record["previous"]["certificates"] is None and record["previous"]["settings"]["enable"] is False
    for name in ("whatwatt-001.json", "whatwatt-001.ca.crt", "whatwatt-001.crt", "whatwatt-001.key"):
        assert stat.S_IMODE(os.stat(record_dir / name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(record_dir).st_mode) == 0o700
    assert (record_dir / "whatwatt-001.key").read_text() == material["key"]
    mtime = os.stat(record_dir / "whatwatt-001.json").st_mtime_ns

    dev.clear_log()
    second = run(dev, options(record_dir, material))
    assert second["changed"] is False and second["pushed_certificates"] is False and second["reasons"] == []
    assert dev.calls() == [("GET", "/api/v1/mqtt/settings", 200)]
    assert os.stat(record_dir / "whatwatt-001.json").st_mtime_ns == mtime  # nothing rewritten
    assert run(dev, options(record_dir, material), check_mode=True)["changed"] is False


def test_changed_certificate_is_pushed_with_ca_and_key(dev, pki, material, tmp_path):
    run(dev, options(tmp_path, material))
    cert, key = pki.client("whatwatt-001")
    renewed = dict(material, cert=cert, key=key)
    result = run(dev, options(tmp_path, renewed))
    assert result["pushed_certificates"] is True
    assert result["reasons"] == ["client certificate fingerprint changed", "client key changed"]
    put = json.loads(dev.log[-1][4])
    assert set(put) == {"broker", "client"}  # readable fields unchanged, so only certificates
    assert put["client"]["key"] == key and put["broker"]["certificate"] == material["ca"]
    before, after = result["diff"]["before"]["certificates"], result["diff"]["after"]["certificates"]
    assert before["cert_sha256"] != after["cert_sha256"] and before["ca_sha256"] == after["ca_sha256"]
    no_key_anywhere(result, renewed)


def test_changed_ca_only(dev, material, tmp_path):
    run(dev, options(tmp_path, material))
    bundle = InMemoryCa("Next CA").ca_pem + material["ca"]
    result = run(dev, options(tmp_path, dict(material, ca=bundle)))
    assert result["reasons"] == ["CA fingerprint changed"]
    assert json.loads(dev.log[-1][4])["client"]["key"] == material["key"]  # pushed together


def test_factory_reset_is_detected_by_the_readable_fields_when_key_len_is_absent(dev, material, tmp_path):
    run(dev, options(tmp_path, material))
    dev.factory_reset()
    result = run(dev, options(tmp_path, material))
    assert result["pushed_certificates"] is True
    assert result["reasons"] == [
        "factory reset? (client_id empty, url empty, enable false; the device does not report key_len)"
    ]
    assert set(result["changed_fields"]) == {"enable", "url", "client_id", "topic", "template"}
    assert dev.mqtt["client"]["key"] == material["key"]


def test_a_reported_key_len_of_0_still_means_no_key(material, tmp_path):
    with FakeDevice(address=ADDR, key_len="always") as dev:
        first = run(dev, options(tmp_path, material))
        assert first["reasons"] == ["no record", "key_len 0 on device (factory reset?)"]
        assert run(dev, options(tmp_path, material))["changed"] is False
        dev.mqtt["client"]["key"] = None  # the key alone is gone; the readable fields are intact
        dev.mqtt["client"]["certificate"] = None
        result = run(dev, options(tmp_path, material))
        assert result["reasons"] == ["key_len 0 on device (factory reset?)"]
        assert result["changed_fields"] == [] and dev.mqtt["client"]["key"] == material["key"]


@pytest.mark.parametrize("reporting", ["never", "when_set"])
def test_meter_without_key_len_converges_and_is_confirmed_without_it(material, tmp_path, reporting):
    with FakeDevice(address=ADDR, key_len=reporting) as dev:
        first = run(dev, options(tmp_path, material))
        assert first["changed"] and first["pushed_certificates"] and first["reasons"] == ["no record"]
        if reporting == "never":
            assert "key_len" not in dev.mqtt_view()
            assert first["diff"]["before"]["certificates"]["key_len"] == "not reported"
        dev.clear_log()
        second = run(dev, options(tmp_path, material))
        assert second["changed"] is False and second["reasons"] == []
        assert dev.calls() == [("GET", "/api/v1/mqtt/settings", 200)]
        # settings changed by hand, not reset: only those fields go back, the certificates stay
        dev.mqtt["publish"]["topic"] = "elsewhere"
        third = run(dev, options(tmp_path, material))
        assert third["changed_fields"] == ["topic"] and third["pushed_certificates"] is False


def test_a_reported_key_len_of_0_after_the_push_fails_the_meter(material, tmp_path):
    with FakeDevice(address=ADDR, key_len="always") as dev:
        original = dev.mqtt_view

        def drops_the_key():
            view = original()
            view["key_len"] = 0
            return view

        dev.mqtt_view = drops_the_key
        with pytest.raises(WhatWattError, match="key_len is 0 after the key was sent"):
            run(dev, options(tmp_path, material))


def test_forced(dev, material, tmp_path):
    run(dev, options(tmp_path, material))
    result = run(dev, options(tmp_path, material, force_certificates=True))
    assert result["changed"] is True and result["reasons"] == ["forced"]


def test_key_password(dev, pki, tmp_path):
    key = new_key()

    material = dict(ca=pki.ca_pem, cert=cert_pem(make_cert("whatwatt-001", key, pki.ca, pki.ca_key)))
    material["key"] = key_pem(key, password="kp1")
    first = run(dev, options(tmp_path, material, client_key_password="kp1"))
    assert dev.mqtt["client"]["key_password"] == "kp1"
    assert "kp1" not in json.dumps(first) and "kp1" not in (tmp_path / "whatwatt-001.json").read_text()
    assert run(dev, options(tmp_path, material, client_key_password="kp1"))["changed"] is False
    material["key"] = key_pem(key, password="kp2")
    result = run(dev, options(tmp_path, material, client_key_password="kp2"))
    assert "client key password changed" in result["reasons"]
    assert dev.mqtt["client"]["key_password"] == "kp2"


def test_stale_key_password_on_device_is_deleted(dev, material, tmp_path):
    dev.mqtt["client"]["key_password"] = "old"
    result = run(dev, options(tmp_path, material))
    assert "key_password_len on device differs" in result["reasons"]
    assert dev.mqtt["client"]["key_password"] is None


def test_device_that_echoes_certificates(material, tmp_path):
    with FakeDevice(address=ADDR, echo_certificates=True) as dev:
        run(dev, options(tmp_path, material))
        assert run(dev, options(tmp_path, material))["changed"] is False
        dev.mqtt["client"]["certificate"] = InMemoryCa("X").client("whatwatt-001")[0]  # replaced behind our back
        result = run(dev, options(tmp_path, material))
        assert result["reasons"] == ["client certificate on the device differs"]


def test_body_over_8k_fails_before_sending(dev, material, tmp_path):
    bundle = "".join(InMemoryCa(f"CA {i}").ca_pem for i in range(16)) + material["ca"]
    with pytest.raises(WhatWattError) as err:
        run(dev, options(tmp_path, dict(material, ca=bundle)))
    assert str(err.value).startswith(LABEL + ": the MQTT settings body would be ")
    assert "over the device's 8000-byte limit" in str(err.value)
    assert [m for m, _p, _s in dev.calls()] == ["GET"]
    assert not (tmp_path / "whatwatt-001.json").exists()


def test_body_just_under_8k_is_sent(dev, material, tmp_path):
    template = "x" * 1023
    result = run(dev, options(tmp_path, material, template=template))
    assert result["body_bytes"] <= 8000 and dev.mqtt["publish"]["template"] == template


def test_device_error_leaves_record_untouched(dev, material, tmp_path):
    dev.inject = [(200, dev.mqtt_view(), {}), (400, {"error": "invalid", "message": "Invalid certificate"}, {})]
    with pytest.raises(WhatWattError) as err:
        run(dev, options(tmp_path, material))
    assert str(err.value) == f"{LABEL}: PUT /api/v1/mqtt/settings answered 400: Invalid certificate"
    assert not (tmp_path / "whatwatt-001.json").exists()


def test_device_that_ignores_a_field_is_an_error(dev, tmp_path):
    view = dev.mqtt_view()
    dev.inject = [(200, view, {}), (200, view, {})]  # PUT "succeeds" but answers the old object
    with pytest.raises(WhatWattError, match="did not apply the MQTT settings: enable is False, not True"):
        run(dev, options())


def test_rollback(dev, pki, material, tmp_path):
    run(dev, options(tmp_path, material))  # generation A
    cert_b, key_b = pki.client("whatwatt-001")
    material_b = dict(material, cert=cert_b, key=key_b)
    run(dev, options(tmp_path, material_b, topic="meters/b"))  # generation B
    assert dev.mqtt["client"]["key"] == key_b

    check = run(dev, dict(options(tmp_path), mode="rollback"), check_mode=True)
    assert check["changed"] is True and dev.mqtt["client"]["key"] == key_b
    result = run(dev, dict(options(tmp_path), mode="rollback"))
    assert result["pushed_certificates"] is True
    assert dev.mqtt["client"]["key"] == material["key"] and dev.mqtt["client"]["certificate"] == material["cert"]
    assert dev.mqtt["publish"]["topic"] == "meters/whatwatt-001"
    no_key_anywhere(result, material)
    record = json.loads((tmp_path / "whatwatt-001.json").read_text())
    assert record["current"]["certificates"] == record["previous"]["certificates"]
    assert (tmp_path / "whatwatt-001.key").read_text() == material["key"]
    # a second rollback has nothing left to do, and applying A again is a no-op too
    assert run(dev, dict(options(tmp_path), mode="rollback"))["changed"] is False
    assert run(dev, options(tmp_path, material))["changed"] is False


def test_rollback_without_record(dev, tmp_path):
    with pytest.raises(WhatWattError, match="no previous generation recorded for client_id whatwatt-001"):
        run(dev, dict(options(tmp_path), mode="rollback"))
    assert dev.log == []


def test_corrupt_record_is_an_error(dev, material, tmp_path):
    (tmp_path / "whatwatt-001.json").write_text("{nope")
    with pytest.raises(WhatWattError, match="is not valid JSON"):
        run(dev, options(tmp_path, material))


def test_paths_are_read_on_the_controller(dev, material, tmp_path):
    files = {}
    for name in ("ca", "cert", "key"):
        files[name] = tmp_path / f"in.{name}"
        files[name].write_text(material[name])
    opts = options(tmp_path / "rec", None, ca_path=str(files["ca"]), client_cert_path=str(files["cert"]))
    opts["client_key_path"] = str(files["key"])
    assert run(dev, opts)["pushed_certificates"] is True
    opts["client_key_path"] = str(tmp_path / "missing.key")
    with pytest.raises(WhatWattError, match="cannot read client_key_path .*missing.key: FileNotFoundError"):
        run(dev, opts)


def test_sanitize():
    dirty = {"client": {"key": "k", "certificate": "c"}, "x": ["-----BEGIN EC PRIVATE KEY-----"], "password": "p"}
    assert device_plan.sanitize(dirty) == {
        "client": {"key": "********", "certificate": "c"},
        "x": ["********"],
        "password": "********",
    }


def test_template_turned_into_a_dict_by_ansible_is_sent_as_compact_json():
    from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_plan import desired_readable

    desired = desired_readable({"template": {"sys_id": "${sys.id}", "P_In": "${1_7_0}"}}, "whatwatt-001")
    assert desired["template"] == '{"sys_id":"${sys.id}","P_In":"${1_7_0}"}'
    assert desired_readable({"template": '{ "P_In": ${1_7_0} }'}, "x")["template"] == '{ "P_In": ${1_7_0} }'
