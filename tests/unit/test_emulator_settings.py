"""The emulator's settings semantics (pure functions, no server)."""

import pytest
from whatwatt_emulator.device import DeviceOptions
from whatwatt_emulator.settings import (
    SettingsError,
    apply_mqtt,
    apply_system,
    mqtt_defaults,
    mqtt_inspection,
    mqtt_view,
    parse_url,
    system_defaults,
    system_view,
)

from harness.certs import issue, make_ca

OPTS = DeviceOptions()


@pytest.fixture(scope="module")
def chain():
    ca = make_ca()
    client = issue(ca, "whatwatt-001")
    other = issue(ca, "whatwatt-002")
    return ca, client, other


def provision_body(chain):
    ca, client = chain[0], chain[1]
    return {
        "enable": True,
        "url": "mqtts://192.168.99.186:8883",
        "skip_cn_check": True,
        "client_id": "whatwatt-001",
        "publish": {"topic": "lab/energy/whatwatt-001", "template": '{ "P_In": ${1_7_0}, "P_Out": ${2_7_0} }'},
        "broker": {"certificate": ca.cert_pem},
        "client": {"certificate": client.cert_pem, "key": client.key_pem()},
    }


def test_post_then_documented_get_shape(chain):
    settings = apply_mqtt(mqtt_defaults(), provision_body(chain), replace=True, options=OPTS)
    view = mqtt_view(settings, OPTS)
    assert view == {
        "enable": True,
        "url": "mqtts://192.168.99.186:8883",
        "username": "",
        "skip_cn_check": True,
        "client_id": "whatwatt-001",
        "publish": {"topic": "lab/energy/whatwatt-001", "template": '{ "P_In": ${1_7_0}, "P_Out": ${2_7_0} }'},
        "password_len": 0,
        "key_len": len(chain[1].key_pem()),
    }
    assert "BEGIN" not in str(view)


def test_post_resets_everything_not_sent(chain):
    settings = apply_mqtt(mqtt_defaults(), provision_body(chain), replace=True, options=OPTS)
    settings = apply_mqtt(settings, {"enable": False}, replace=True, options=OPTS)
    assert settings == mqtt_defaults()


def test_put_changes_only_what_is_sent_and_keeps_the_key(chain):
    settings = apply_mqtt(mqtt_defaults(), provision_body(chain), replace=True, options=OPTS)
    after = apply_mqtt(settings, {"publish": {"topic": "other"}}, replace=False, options=OPTS)
    assert after["publish"] == {"topic": "other", "template": settings["publish"]["template"]}
    assert after["client"] == settings["client"]
    assert after["broker"] == settings["broker"]


def test_null_deletes_certificate_and_key(chain):
    settings = apply_mqtt(mqtt_defaults(), provision_body(chain), replace=True, options=OPTS)
    after = apply_mqtt(settings, {"client": {"certificate": None, "key": None}}, replace=False, options=OPTS)
    assert after["client"] == {"certificate": None, "key": None, "key_password": None}
    assert "key_len" not in mqtt_view(after, OPTS)
    after = apply_mqtt(after, {"broker": {"certificate": None}}, replace=False, options=OPTS)
    assert after["broker"]["certificate"] is None


def test_secrets_are_write_only():
    settings = apply_mqtt(mqtt_defaults(), {"username": "u", "password": "hunter2"}, replace=True, options=OPTS)
    view = mqtt_view(settings, OPTS)
    assert view["password_len"] == 7
    assert "hunter2" not in str(view)
    assert "hunter2" not in str(mqtt_inspection(settings))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"url": "http://broker:1883"}, "invalid_url"),
        ({"url": "mqtts://"}, "invalid_url"),
        ({"url": "mqtts://host:99999"}, "invalid_url"),
        ({"url": "mqtts://" + "a" * 130}, "out_of_range"),
        ({"client_id": "x" * 64}, "out_of_range"),
        ({"username": "x" * 128}, "out_of_range"),
        ({"password": "x" * 128}, "out_of_range"),
        ({"publish": {"topic": "t" * 128}}, "out_of_range"),
        ({"publish": {"template": "t" * 1024}}, "out_of_range"),
        ({"client": {"key_password": "p" * 256}}, "out_of_range"),
        ({"enable": "yes"}, "invalid_type"),
        ({"publish": "x"}, "invalid_type"),
        ({"broker": {"certificate": "not a pem"}}, "invalid_pem"),
        ({"client": {"key": "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"}}, "invalid_pem"),
    ],
)
def test_invalid_input_is_rejected(body, error):
    with pytest.raises(SettingsError) as info:
        apply_mqtt(mqtt_defaults(), body, replace=True, options=OPTS)
    assert info.value.error == error
    assert set(info.value.body()) == {"error", "message", "details"}


def test_limits_are_inclusive():
    body = {"client_id": "x" * 63, "url": "mqtt://" + "h" * 120, "publish": {"template": "t" * 1023}}
    apply_mqtt(mqtt_defaults(), body, replace=True, options=OPTS)


def test_client_certificate_without_key(chain):
    body = {"client": {"certificate": chain[1].cert_pem}}
    with pytest.raises(SettingsError) as info:
        apply_mqtt(mqtt_defaults(), body, replace=True, options=OPTS)
    assert info.value.error == "missing_key"


def test_key_that_does_not_match_the_certificate(chain):
    body = {"client": {"certificate": chain[1].cert_pem, "key": chain[2].key_pem()}}
    with pytest.raises(SettingsError) as info:
        apply_mqtt(mqtt_defaults(), body, replace=True, options=OPTS)
    assert info.value.error == "key_mismatch"


def test_put_of_a_new_certificate_is_checked_against_the_stored_key(chain):
    settings = apply_mqtt(mqtt_defaults(), provision_body(chain), replace=True, options=OPTS)
    with pytest.raises(SettingsError):
        apply_mqtt(settings, {"client": {"certificate": chain[2].cert_pem}}, replace=False, options=OPTS)


def test_encrypted_key_needs_its_password(chain):
    client = chain[1]
    enc = client.key_pem(password="s3cret")
    with pytest.raises(SettingsError):
        apply_mqtt(mqtt_defaults(), {"client": {"certificate": client.cert_pem, "key": enc}}, True, OPTS)
    body = {"client": {"certificate": client.cert_pem, "key": enc, "key_password": "s3cret"}}
    settings = apply_mqtt(mqtt_defaults(), body, replace=True, options=OPTS)
    assert mqtt_view(settings, OPTS)["key_password_len"] == 6


def test_pkcs8_key_is_accepted(chain):
    client = chain[1]
    body = {"client": {"certificate": client.cert_pem, "key": client.key_pem(fmt="pkcs8")}}
    apply_mqtt(mqtt_defaults(), body, replace=True, options=OPTS)


def test_undocumented_switches(chain):
    settings = apply_mqtt(mqtt_defaults(), provision_body(chain), replace=True, options=OPTS)
    view = mqtt_view(settings, DeviceOptions(get_returns_certificates=True, show_key_len=False))
    assert view["broker"]["certificate"] == chain[0].cert_pem
    assert view["client"] == {"certificate": chain[1].cert_pem}
    assert "key_len" not in view
    with pytest.raises(SettingsError):
        apply_mqtt(mqtt_defaults(), {"url": "mqtts://broker"}, True, DeviceOptions(url_port_required=True))


def test_default_ports():
    assert parse_url("mqtts://broker") == ("mqtts", "broker", 8883)
    assert parse_url("mqtt://10.0.0.1") == ("mqtt", "10.0.0.1", 1883)
    assert parse_url("mqtts://10.0.0.1:1234") == ("mqtts", "10.0.0.1", 1234)


def test_inspection_has_fingerprints_not_keys(chain):
    settings = apply_mqtt(mqtt_defaults(), provision_body(chain), replace=True, options=OPTS)
    view = mqtt_inspection(settings)
    assert view["client_certificate_sha256"] == chain[1].fingerprint
    assert view["broker_certificate_sha256"] == chain[0].fingerprint
    assert len(view["client_key_sha256"]) == 64
    assert "PRIVATE" not in str(view)


def test_system_settings():
    base = system_defaults("whatwatt-000001")
    new = apply_system(base, {"system": {"protection": True, "password": "pw"}}, replace=False, hostname="h")
    assert system_view(new)["system"]["protection"] is True
    assert "password" not in system_view(new)["system"]
    new = apply_system(new, {"services": {"report_interval": 5}}, replace=False, hostname="h")
    assert new["services"]["report_interval"] == 5 and new["system"]["password"] == "pw"
    for bad in (0, 3601, "5", True):
        with pytest.raises(SettingsError):
            apply_system(new, {"services": {"report_interval": bad}}, replace=False, hostname="h")
    with pytest.raises(SettingsError):
        apply_system(new, {"system": {"password": "x" * 32}}, replace=False, hostname="h")
