"""Decision logic of device_verify (plugins/module_utils/device_verify.py), without network."""

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_verify as dv
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattError

BROKER = "192.0.2.10:8883"


def system(connected, enabled=True, license_type="PLUS"):
    return {
        "device": {"id": "A1B2C3D4E5F6", "license": {"type": license_type}},
        "clouds": {"mqtc": {"enabled": enabled, "connected": connected}},
    }


def state(**kwargs):
    return dv.DeviceState("whatwatt-001", "whatwatt-001", "meters/whatwatt-001", **kwargs)


def test_mqtc_status_reads_the_documented_fields():
    assert dv.mqtc_status(system(True)) == (True, True, "PLUS")
    assert dv.mqtc_status(system(False, enabled=False, license_type="free")) == (False, False, "FREE")


@pytest.mark.parametrize("answer", [None, {}, {"clouds": None}, {"clouds": {"mqtc": {}}}, "text"])
def test_mqtc_status_tolerates_missing_parts(answer):
    assert dv.mqtc_status(answer) == (None, False, None)


def test_connected_is_remembered_with_the_first_time_seen():
    s = state()
    dv.record_poll(s, system(False), 0.5)
    assert not s.connected and s.polls == 1
    dv.record_poll(s, system(True), 1.234)
    dv.record_poll(s, system(False), 2.0)  # a later reconnect does not undo what was seen
    assert s.connected and s.connected_after == 1.23 and s.polls == 3


@pytest.mark.parametrize("status", [400, 401, 404])
def test_errors_that_waiting_cannot_cure_are_final(status):
    s = state()
    dv.record_poll_error(s, WhatWattError(f"whatwatt-001: GET /api/v1/system answered {status}", status=status))
    assert s.final_error and dv.is_decided(s) and not dv.is_ok(s)
    assert dv.reason(s, 90, BROKER).startswith("cannot read the device status: whatwatt-001: GET")


@pytest.mark.parametrize("status", [None, 500, 503])
def test_transient_errors_keep_waiting_and_are_reported(status):
    s = state()
    dv.record_poll_error(s, WhatWattError("whatwatt-001: GET /api/v1/system connection failed", status=status))
    assert not s.final_error and not dv.is_decided(s) and dv.needs_poll(s)
    assert "last status error: whatwatt-001: GET /api/v1/system connection failed" in dv.reason(s, 90, BROKER)
    dv.record_poll(s, system(False), 1)
    assert s.poll_error is None


def test_retained_messages_prove_nothing():
    s = state()
    dv.record_message(s, 0.1, retained=True)
    assert not s.message_seen
    dv.record_message(s, 0.2)
    dv.record_message(s, 0.3)
    assert s.messages == 2 and s.message_after == 0.2


def test_ok_needs_connected_and_a_message():
    s = state()
    dv.record_message(s, 0.2)
    assert not dv.is_ok(s) and dv.needs_poll(s)
    dv.record_poll(s, system(True), 0.4)
    assert dv.is_ok(s) and dv.is_decided(s) and not dv.needs_poll(s)
    assert dv.reason(s, 90, BROKER) is None


def test_connected_device_is_not_polled_again_while_waiting_for_a_message():
    s = state()
    dv.record_poll(s, system(True), 0.4)
    assert not dv.needs_poll(s) and not dv.is_decided(s)


def test_reason_not_connected_names_broker_and_what_to_check():
    s = state()
    dv.record_poll(s, system(False), 1)
    text = dv.reason(s, 90, BROKER)
    assert "not connected to the broker 192.0.2.10:8883 within 90 s" in text
    assert "CA bundle" in text and "skip_cn_check" in text


def test_reason_free_licence():
    s = state()
    dv.record_poll(s, system(False, license_type="FREE"), 1)
    assert dv.reason(s, 90, BROKER).startswith("the licence is FREE")


def test_reason_client_disabled():
    s = state()
    dv.record_poll(s, system(False, enabled=False), 1)
    assert "clouds.mqtc.enabled is false" in dv.reason(s, 30, BROKER)


def test_reason_connected_without_message_names_topic_and_acl():
    s = state()
    dv.record_poll(s, system(True), 1)
    text = dv.reason(s, 12.5, BROKER)
    assert text.startswith("connected to the broker, but no message arrived on meters/whatwatt-001 within 12.5 s")
    assert "may whatwatt-001 write it" in text


def test_reason_message_without_connected_state():
    s = state()
    dv.record_message(s, 1)
    dv.record_poll_error(s, WhatWattError("boom", status=503))
    text = dv.reason(s, 5, BROKER)
    assert text.startswith("not connected: GET /api/v1/system never reported clouds.mqtc.connected true within 5 s")
    assert "although messages arrived on meters/whatwatt-001" in text and "last status error: boom" in text


def test_subscribe_error_decides_the_device():
    s = state()
    s.subscribe_error = "the broker refused the monitor's subscription to x"
    assert dv.is_decided(s) and not dv.is_ok(s)
    assert dv.reason(s, 5, BROKER) == s.subscribe_error


def test_verdict_has_the_documented_keys_and_no_password():
    s = state(password="s3cret")
    dv.record_poll(s, system(True), 0.1)
    dv.record_message(s, 0.5)
    result = dv.verdict(s, 90, BROKER)
    assert result["ok"] is True and result["reason"] is None
    assert {"ok", "connected", "message_seen", "reason"} <= set(result)
    assert "s3cret" not in repr(result)


def test_build_states_defaults_and_passwords():
    states = dv.build_states(
        [
            {"name": "a", "client_id": "a", "topic": "meters/a"},
            {"name": "b", "host": "127.0.0.2", "port": 8080, "client_id": "b-id", "topic": "meters/b", "password": ""},
            {"name": "c", "client_id": "c", "topic": "meters/c", "password": "own"},
        ],
        default_password="fleet",
    )
    a, b, c = states
    assert (a.host, a.port, a.password) == ("a", 80, "fleet")
    assert (b.host, b.port, b.client_id, b.password) == ("127.0.0.2", 8080, "b-id", "")
    assert c.password == "own"


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ([{"name": "a", "client_id": "a", "topic": "t/a"}] * 2, "device a is listed twice"),
        (
            [{"name": "a", "client_id": "a", "topic": "t/x"}, {"name": "b", "client_id": "b", "topic": "t/x"}],
            "b and a share the topic t/x",
        ),
        ([{"name": "a", "client_id": "a", "topic": "t/#"}], "must not contain MQTT wildcards"),
        ([{"name": "a", "client_id": "a", "topic": ""}], "a: topic is empty"),
        ([{"name": "", "client_id": "a", "topic": "t/a"}], "every device needs a name"),
    ],
)
def test_build_states_refuses_ambiguous_input(devices, message):
    with pytest.raises(dv.VerifyError, match=message):
        dv.build_states(devices)


def test_summarize_sorts_names():
    results = {"b": {"ok": False}, "a": {"ok": True}, "c": {"ok": False}}
    assert dv.summarize(results) == (["a"], ["b", "c"])


def test_argument_spec_marks_passwords_no_log():
    assert dv.VERIFY_ARGUMENT_SPEC["password"]["no_log"] is True
    assert dv.VERIFY_ARGUMENT_SPEC["devices"]["options"]["password"]["no_log"] is True
    assert dv.VERIFY_ARGUMENT_SPEC["key_path"]["no_log"] is False
