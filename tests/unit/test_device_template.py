# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The payload template: documented names, presets, the check before the push and the payload check after it.
Fake meters of the batch tests on 127.0.30.150-153."""

import json
import re

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_fleet as df
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_template as dt
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_verify as dv
from harness.fake_device import FakeDevice
from tests.unit.device_fleet_helpers import IPS, NAMES, fleet_options, run


def test_a_typo_in_a_variable_name_is_named():
    assert dt.template_problems('{"P":${1_7_0},"id":"${sys.id}","e":${energy.in}}') == []
    problems = dt.template_problems('{"P":${1_70},"id":"${sys_id}"}')
    assert len(problems) == 1 and "${1_70}, ${sys_id} that the meter does not know" in problems[0]
    assert dt.template_problems('{"P":${1_7_0}') == []  # not JSON is allowed: the format is the user's choice
    assert dt.template_problems("P=${1_7_0") == ["template has a '${' without its closing '}'"]


def test_json_templates_are_recognised():
    assert dt.template_is_json('{"P_In": ${1_7_0}, "id": "${sys.id}"}')
    assert dt.template_is_json(dt.PRESETS["home_assistant"]) and dt.template_is_json(dt.PRESETS["compact"])
    assert not dt.template_is_json("P_In=${1_7_0}") and not dt.template_is_json('{"P": ${1_7_0}')


def test_payload_problems_carry_the_payload():
    assert dt.payload_problem(b'{"P":1.2}', True) is None
    assert dt.payload_problem(b"P=1.2", False) is None
    text = dt.payload_problem(b'{"id":A842E1000001}', True)
    assert text.startswith("the meter published a payload that is not valid JSON") and '{"id":A842E1000001}' in text
    text = dt.payload_problem(b'{"P":${1_70}}', False)
    assert text == 'the meter published ${1_70} unresolved (a variable it does not know) in: {"P":${1_70}}'


def test_a_bad_payload_decides_the_meter_at_once():
    state = dv.DeviceState("m1", "m1", "meters/m1", template='{"P":${1_7_0}}')
    state.connected = True
    dv.record_message(state, 1.0, payload=b'{"P":null}')
    assert dv.is_ok(state)
    dv.record_message(state, 2.0, payload=b"{oops")
    assert not dv.is_ok(state) and dv.is_decided(state)
    assert dv.reason(state, 10, "b:8883").startswith("the meter published a payload that is not valid JSON")


def test_the_home_assistant_preset_has_the_integrations_keys():
    # what whatwatt-ch/home-assistant-integration reads (const.py ATTR_* / SENSOR_TYPES), minus apparent_power
    # for which the vendor documents no variable
    keys = [
        "sys_id",
        "meter_id",
        "time",
        "tariff",
        "power_in",
        "power_out",
        "power_in_l1",
        "power_in_l2",
        "power_in_l3",
        "power_out_l1",
        "power_out_l2",
        "power_out_l3",
        "energy_in",
        "energy_out",
        "energy_in_t1",
        "energy_in_t2",
        "energy_out_t1",
        "energy_out_t2",
        "voltage_l1",
        "voltage_l2",
        "voltage_l3",
        "current_l1",
        "current_l2",
        "current_l3",
        "power_factor",
        "reactive_power_in",
        "reactive_power_out",
        "reactive_energy_in",
        "reactive_energy_out",
    ]
    rendered = json.loads(re.sub(r"\$\{[^}]*\}", "0", dt.PRESETS["home_assistant"]))
    assert sorted(rendered) == sorted(keys)
    assert (
        len(dt.PRESETS["home_assistant"].encode()) <= 1023 and dt.template_problems(dt.PRESETS["home_assistant"]) == []
    )
    with pytest.raises(ValueError, match="compact, home_assistant"):
        dt.preset_template("hass")


def test_a_template_typo_fails_that_meter_before_anything_is_sent(pki_dir, tmp_path):
    devs = [FakeDevice(address=ip) for ip in IPS[:2]]
    for dev in devs:
        dev.__enter__()
    try:
        options = fleet_options(pki_dir, tmp_path, devs)
        options["devices"][1]["template"] = '{"P_In":${1_7_O}}'  # letter O, not zero
        result = run(options)
        assert result["changed_devices"] == [NAMES[0]] and result["failed_devices"] == [NAMES[1]]
        assert "${1_7_O} that the meter does not know" in result["devices"][NAMES[1]]["msg"]
        assert devs[1].calls() == []  # not even a GET
        options["devices"][1]["template"] = None
        options["devices"][1]["template_preset"] = "home_assistant"
        result = run(options)
        assert result["changed_devices"] == [NAMES[1]]
        assert devs[1].mqtt["publish"]["template"] == dt.PRESETS["home_assistant"]
    finally:
        for dev in devs:
            dev.__exit__(None, None, None)


def test_an_unknown_preset_fails_that_meter(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [])
    _name, _options, problems = df.device_inputs(dict(name="m1", topic="t/m1", template_preset="hass"), fleet)
    assert problems == ["m1: unknown template preset 'hass': one of compact, home_assistant"]
    _name, options, problems = df.device_inputs(dict(name="m1", topic="t/m1", template_preset=None), fleet)
    assert problems == [] and options["template"] == fleet["template"]


def test_the_standalone_verifier_takes_the_template_too():
    states = dv.build_states([dict(name="m1", client_id="m1", topic="t/m1", template={"id": "${sys.id}"}),
                              dict(name="m2", client_id="m2", topic="t/m2")])  # fmt: skip
    assert states[0].expect_json and not states[1].expect_json
    assert "template" in dv.VERIFY_ARGUMENT_SPEC["devices"]["options"]
