"""Template substitution rules and plausible, changing values."""

import json
import types

from whatwatt_emulator.device import DeviceOptions
from whatwatt_emulator.meter import Meter, render, variables_list

DEVICE = types.SimpleNamespace(device_id="A842E1000A01", hostname="whatwatt_000A01", ip="127.0.10.1",
                               options=DeviceOptions(), firmware="1.10.2",
                               system={"system": {"name": ""}})  # fmt: skip


def test_vendor_recipe_template_renders_to_json():
    meter = Meter("x")
    values = meter.values(DEVICE)
    payload = render('{ "P_In": ${1_7_0}, "P_Out": ${2_7_0} }', values)
    data = json.loads(payload)
    assert data["P_In"] == values["1_7_0"] and isinstance(data["P_In"], float)


def test_substitution_rules():
    values = Meter("x").values(DEVICE)
    values["2_8_0"] = None
    out = render('${2_8_0}|"${eth.ip}"|${no.such}|"${sys.id}"|${timestamp}|${power.in}', values)
    parts = out.split("|")
    assert parts[0] == "null"  # missing number
    assert parts[1] == '""'  # missing text
    assert parts[2] == "${no.such}"  # unknown stays literally
    assert parts[3] == '"A842E1000A01"'
    assert parts[4].isdigit()
    assert float(parts[5]) == values["1_7_0"]


def test_values_change_and_energy_grows():
    meter = Meter("x")
    first = meter.values(DEVICE, now=1000.0)
    meter.last = 1000.0
    meter.update(now=1600.0)
    second = meter.values(DEVICE, now=1600.0)
    assert second["1_8_0"] > first["1_8_0"]
    assert second["timestamp"] == 1600
    assert (second["1_7_0"], second["32_7_0"]) != (first["1_7_0"], first["32_7_0"])


def test_variables_are_strings_and_null():
    listing = variables_list(Meter("x").values(DEVICE))
    flat = {k: v for item in listing for k, v in item.items()}
    assert all(len(item) == 1 for item in listing)
    assert all(isinstance(v, str) for v in flat.values())
    assert flat["eth.ip"] == "null"
    assert flat["sys.id"] == "A842E1000A01"
    assert {"1_7_0", "1_8_0", "32_7_0", "timestamp", "wifi.sta.ip"} <= set(flat)
