# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared WhatWatt client against a local fake device (tests/unit/test_device_fake.py)."""

import socket
import time

import pytest
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import whatwatt_client as wc
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    WhatWattClient,
    WhatWattError,
)

from harness.fake_device import FakeDevice

ADDR = "127.0.30.11"


def client_for(dev, password="", alternate_passwords=None, **kwargs):
    kwargs.setdefault("backoff", 0.01)
    return WhatWattClient(
        dev.address, dev.port, password=password, name="whatwatt-007", alternate_passwords=alternate_passwords, **kwargs
    )


@pytest.fixture
def dev():
    with FakeDevice(address=ADDR) as device:
        yield device


# -- pure helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "version,minimum,expected",
    [
        ("1.7.6", "1.7.6", True),
        ("1.7.5", "1.7.6", False),
        ("1.10.0", "1.7.6", True),  # numeric, not lexical
        ("1.9", "1.10", False),
        ("v1.10", "1.10.0", True),
        ("1.7.6-beta2", "1.7.6", True),
        ("2", "1.7.6", True),
    ],
)
def test_firmware_compare(version, minimum, expected):
    assert wc.firmware_at_least(version, minimum) is expected


def test_firmware_garbage():
    with pytest.raises(ValueError):
        wc.firmware_tuple("beta")


def test_connection_options_from_host_vars():
    opts = wc.connection_options(
        {"host": None, "port": None, "password": None},
        {"ansible_host": "127.0.30.7", "whatwatt_api_port": "8080", "whatwatt_password": "pw"},
        "whatwatt-007",
    )
    assert opts == dict(name="whatwatt-007", host="127.0.30.7", port=8080, password="pw")
    opts = wc.connection_options({"host": "10.0.0.1", "port": 81, "password": ""}, {"whatwatt_password": "x"}, "m")
    assert opts == dict(name="m", host="10.0.0.1", port=81, password="")
    assert wc.connection_options({}, {}, "meter-1")["host"] == "meter-1"
    assert wc.connection_options({}, {}, "meter-1")["port"] == 80
    with pytest.raises(WhatWattError, match="meter-1: port 70000 is out of range"):
        wc.connection_options({"port": 70000}, {}, "meter-1")


# -- transport and auth ------------------------------------------------------------------------
def test_unprotected_one_call_per_request(dev):
    with client_for(dev, password="ignored") as client:
        assert client.system()["device"]["model"] == "WW_Go_1.2"
        client.system()  # cached
        client.get_mqtt()
    assert dev.calls() == [("GET", "/api/v1/system", 200), ("GET", "/api/v1/mqtt/settings", 200)]
    assert all(auth is None for _m, _p, _s, auth, _b in dev.log)  # no credentials sent when not asked


def test_basic_auth_before_1_10():
    with FakeDevice(address=ADDR, firmware="1.9.2", protection=True, password="s3cret") as dev:
        with client_for(dev, "s3cret") as client:
            client.system()
            client.get_settings()
            assert client.auth_scheme == "basic"
        assert [s for _m, _p, s in dev.calls()] == [401, 200, 200]
        assert dev.log[-1][3].startswith("Basic ")


def test_digest_md5_sess_from_1_10_costs_one_extra_call_per_task():
    with FakeDevice(address=ADDR, firmware="1.10.3", protection=True, password="s3cret") as dev:
        with client_for(dev, "s3cret") as client:
            client.system()
            client.get_settings()
            client.put_settings({"services": {"report_interval": 60}})
            assert client.auth_scheme == "digest"
        # 401 challenge once, then every call authenticates at the first attempt
        assert [s for _m, _p, s in dev.calls()] == [401, 200, 200, 200]
        header = dev.log[1][3]
        assert 'username=""' in header and "algorithm=" in header and "MD5-sess" in header and 'qop="auth"' in header
        assert dev.settings["services"]["report_interval"] == 60


def test_digest_stale_nonce_is_retried():
    with FakeDevice(address=ADDR, protection=True, password="pw") as dev:
        with client_for(dev, "pw") as client:
            client.system()
            dev.stale_nonces.update(dev.nonces)  # every nonce issued so far goes stale
            assert client.get_settings()["services"]["report_interval"] == 30
        statuses = [s for _m, _p, s in dev.calls()]
        assert statuses == [401, 200, 401, 200]


@pytest.mark.parametrize("firmware", ["1.9.0", "1.10.3"])
def test_wrong_password_names_device_call_status(firmware):
    device = FakeDevice(address=ADDR, firmware=firmware, protection=True, password="right")
    with device as dev, client_for(dev, "wrong") as client, pytest.raises(WhatWattError) as err:
        client.get_mqtt()
    assert str(err.value).startswith(f"whatwatt-007 ({ADDR}): GET /api/v1/mqtt/settings answered 401")
    assert err.value.status == 401
    assert "wrong" not in str(err.value) and "right" not in str(err.value)


def test_protected_without_password():
    with FakeDevice(address=ADDR, protection=True, password="right") as dev:
        with client_for(dev) as client, pytest.raises(WhatWattError, match="answered 401: unauthorised|Unauthorized"):
            client.system()
        assert len(dev.log) == 1


def test_alternate_password_is_tried_and_reported():
    with FakeDevice(address=ADDR, protection=True, password="new") as dev, client_for(dev, "old", ["new"]) as client:
        client.system()
        assert client.password_used == 1
    with FakeDevice(address=ADDR) as dev, client_for(dev, "old", alternate_passwords=["new"]) as client:
        client.system()
        assert client.password_used is None


def test_503_is_retried_with_backoff(dev):
    dev.inject = [(503, None, {}), (503, None, {})]
    with client_for(dev, retries=3) as client:
        assert client.system()["device"]["id"] == dev.device_id
    assert [s for _m, _p, s in dev.calls()] == [503, 503, 200]


def test_503_retries_are_bounded(dev):
    dev.inject = [(503, {"error": "busy", "message": "Busy"}, {})] * 10
    start = time.monotonic()
    with client_for(dev, retries=2, backoff=0.05) as client, pytest.raises(WhatWattError) as err:
        client.system()
    elapsed = time.monotonic() - start
    assert len(dev.log) == 3  # first try + 2 retries
    assert elapsed >= 0.05 + 0.1  # exponential back-off between attempts
    assert str(err.value) == f"whatwatt-007 ({ADDR}): GET /api/v1/system answered 503: Busy"


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind((ADDR, 0))
        port = sock.getsockname()[1]
    client = WhatWattClient(ADDR, port, name="whatwatt-007", retries=2, backoff=0.01)
    with client, pytest.raises(WhatWattError) as err:
        client.system()
    assert str(err.value) == (
        f"whatwatt-007 ({ADDR}): GET /api/v1/system connection failed (connection refused) after 3 attempt(s)"
    )
    assert client.calls == [("GET", "/api/v1/system", None)] * 3


def test_timeout_is_reported(dev):
    dev.delay = 1.0
    with client_for(dev, timeout=0.2, retries=1) as client, pytest.raises(WhatWattError) as err:
        client.system()
    assert "GET /api/v1/system timed out after 0.2s after 2 attempt(s)" in str(err.value)


@pytest.mark.parametrize(
    "status,body,text",
    [
        (400, {"error": "invalid_parameter", "message": "publish.topic too long"}, "publish.topic too long"),
        (400, None, "invalid parameter or value"),
        (401, None, "unauthorised (wrong or missing password; Web UI protection is on)"),
        (404, {"error": "license_required", "message": "License required"}, "License required"),
        (404, None, "unknown path, disabled feature or licence required"),
        (500, {"error": "internal"}, "internal"),
        (500, None, "internal error on the device"),
        (503, None, "temporarily unavailable"),
        (418, None, "I'm a Teapot"),
    ],
)
def test_every_error_status(dev, status, body, text):
    dev.inject = [(status, body, {})]
    secret = "-----BEGIN EC PRIVATE KEY-----SECRETSECRET"
    with client_for(dev, retries=0) as client, pytest.raises(WhatWattError) as err:
        client.put_mqtt({"client": {"key": secret}})
    assert str(err.value) == f"whatwatt-007 ({ADDR}): PUT /api/v1/mqtt/settings answered {status}: {text}"
    assert "SECRET" not in str(err.value)
    assert err.value.status == status and err.value.call == "PUT /api/v1/mqtt/settings"


def test_non_json_answer(dev):
    with client_for(dev) as client:
        # unknown path answers JSON 404; a 200 with a non-object must be refused by get_object
        dev.inject = [(200, ["not", "an", "object"], {})]
        with pytest.raises(WhatWattError, match="expected a JSON object"):
            client.system()


def test_body_over_8k_is_never_sent(dev):
    with client_for(dev) as client, pytest.raises(WhatWattError) as err:
        client.put_mqtt({"publish": {"template": "x" * 9000}})
    assert "PUT /api/v1/mqtt/settings not sent: the body is" in str(err.value)
    assert "8000-byte limit" in str(err.value)
    assert dev.log == []


def test_encode_body_is_what_is_sent(dev):
    body = {"publish": {"topic": "meters/ä"}, "enable": True}
    with client_for(dev) as client:
        client.put_mqtt(body)
    assert dev.log[-1][4] == wc.encode_body(body)


# -- device facts ------------------------------------------------------------------------------
def test_run_info_facts(dev):
    with client_for(dev) as client:
        result = wc.run_info(client, {"gather": ["settings", "mqtt"], "min_firmware": "1.7.6"})
    facts = result["whatwatt"]
    assert not result.get("failed")
    assert facts["id"] == dev.device_id and facts["hostname"] == "whatwatt-D3E4F5"  # the meter's own system.host_name
    assert facts["model"] == "WW_Go_1.2" and facts["firmware"] == "1.10.3" and facts["license"] == "PLUS"
    assert facts["mqtt"]["enabled"] is False and facts["mqtt"]["connected"] is False
    assert facts["report_interval"] == 30 and facts["protection"] is False and facts["auth"] == "none"
    assert facts["meter"]["report_interval"] == 5 and facts["mqtt"]["key_len"] is None  # not reported
    assert len(dev.log) == 3


def test_run_info_costs_one_call_by_default(dev):
    with client_for(dev) as client:
        result = wc.run_info(client, {"gather": [], "min_firmware": "1.7.6"})
    assert dev.calls() == [("GET", "/api/v1/system", 200)]
    # without the settings: the vendor's default host name, with an underscore
    assert result["whatwatt"]["hostname"] == "whatwatt_" + dev.device_id[-6:]


@pytest.mark.parametrize(
    "firmware,options,message",
    [
        ("1.7.5", {}, "firmware 1.7.5 is below 1.7.6"),
        ("1.10.3", {"min_firmware": "1.11"}, "firmware 1.10.3 is below 1.11"),
        ("1.10.3", {"expect_model": "WW_Go_1.1"}, "model is 'WW_Go_1.2', expected 'WW_Go_1.1'"),
        ("1.10.3", {"require_license": ["pro"]}, "licence is 'PLUS', one of PRO is required"),
    ],
)
def test_run_info_requirements(firmware, options, message):
    with FakeDevice(address=ADDR, firmware=firmware) as dev, client_for(dev) as client:
        result = wc.run_info(client, dict({"gather": [], "min_firmware": "1.7.6"}, **options))
    assert result["failed"] is True
    assert result["msg"].startswith(f"whatwatt-007 ({ADDR}): {message}")
    assert result["whatwatt"]["firmware"] == firmware  # facts still returned for reports


def test_run_info_license_ok():
    with FakeDevice(address=ADDR, license_type="PRO") as dev, client_for(dev) as client:
        result = wc.run_info(client, {"require_license": ["PLUS", "PRO"], "expect_model": "WW_Go_1.2"})
    assert "failed" not in result
