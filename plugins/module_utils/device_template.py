# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The payload template: the documented variable names, named presets, and the checks before and after a push.

The meter substitutes ``${name}`` placeholders (numbers unquoted, ``null`` when absent; text as is) and leaves an
unknown name literally in the payload (the vendor's template page, ``docs/30-mqtt/template.md``). So a typo in a
variable name is only visible in what the meter publishes: the template is checked against the documented names
before anything is sent, and, when the template is JSON, verification parses every payload a meter publishes.
"""

from __future__ import absolute_import, division, print_function


import json
import re

# Every variable of the vendor's template page (whatwatt-go-documentation, docs/30-mqtt/template.md).
DOCUMENTED_VARIABLES = frozenset(
    [
        "1_8_0",
        "energy.in",
        "1_8_1",
        "1_8_2",
        "2_8_0",
        "energy.out",
        "2_8_1",
        "2_8_2",
        "1_7_0",
        "power.in",
        "21_7_0",
        "41_7_0",
        "61_7_0",
        "2_7_0",
        "power.out",
        "22_7_0",
        "42_7_0",
        "62_7_0",
        "3_7_0",
        "4_7_0",
        "3_8_0",
        "4_8_0",
        "5_8_0",
        "6_8_0",
        "7_8_0",
        "8_8_0",
        "32_7_0",
        "52_7_0",
        "72_7_0",
        "31_7_0",
        "51_7_0",
        "71_7_0",
        "s31_7_0",
        "s51_7_0",
        "s71_7_0",
        "timestamp",
        "tariff",
        "conv_factor",
        "13_7_0",
        "meter.date_time",
        "meter.id",
        "meter.type",
        "meter.vendor",
        "meter.model",
        "meter.interface",
        "meter.protocol",
        "meter.protocol_ver",
        "meter.status",
        "sys.name",
        "sys.id",
        "sys.firmware",
        "sys.date_time",
        "wifi.mode",
        "wifi.sta.status",
        "wifi.sta.ssid",
        "wifi.sta.rssi",
        "wifi.sta.ip",
        "eth.state",
        "eth.ip",
        "plug.interface",
        "plug.voltage.usb",
        "plug.voltage.p1",
        "plug.voltage.mbus",
    ]
)

# The keys the vendor's Home Assistant integration (whatwatt-ch/home-assistant-integration,
# custom_components/whatwatt/const.py) reads from a message, and the variable each comes from. The integration
# drops a message without ``sys_id``; it makes a sensor of every other key it finds. ``apparent_power`` has no
# documented variable, so the preset leaves it out.
HOME_ASSISTANT_KEYS = (
    ("sys_id", '"${sys.id}"'),
    ("meter_id", '"${meter.id}"'),
    ("time", "${timestamp}"),
    ("tariff", "${tariff}"),
    ("power_in", "${1_7_0}"),
    ("power_out", "${2_7_0}"),
    ("power_in_l1", "${21_7_0}"),
    ("power_in_l2", "${41_7_0}"),
    ("power_in_l3", "${61_7_0}"),
    ("power_out_l1", "${22_7_0}"),
    ("power_out_l2", "${42_7_0}"),
    ("power_out_l3", "${62_7_0}"),
    ("energy_in", "${1_8_0}"),
    ("energy_out", "${2_8_0}"),
    ("energy_in_t1", "${1_8_1}"),
    ("energy_in_t2", "${1_8_2}"),
    ("energy_out_t1", "${2_8_1}"),
    ("energy_out_t2", "${2_8_2}"),
    ("voltage_l1", "${32_7_0}"),
    ("voltage_l2", "${52_7_0}"),
    ("voltage_l3", "${72_7_0}"),
    ("current_l1", "${31_7_0}"),
    ("current_l2", "${51_7_0}"),
    ("current_l3", "${71_7_0}"),
    ("power_factor", "${13_7_0}"),
    ("reactive_power_in", "${3_7_0}"),
    ("reactive_power_out", "${4_7_0}"),
    ("reactive_energy_in", "${3_8_0}"),
    ("reactive_energy_out", "${4_8_0}"),
)

PRESETS = {
    # The role's default: compact, flat JSON.
    "compact": '{"sys_id":"${sys.id}","P_In":${1_7_0},"P_Out":${2_7_0},"E_In":${1_8_0},"E_Out":${2_8_0},'
    '"ts":${timestamp}}',
    "home_assistant": "{" + ",".join(f'"{key}":{value}' for key, value in HOME_ASSISTANT_KEYS) + "}",
}

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def preset_template(name):
    """The template text of preset ``name``; ValueError naming the presets when there is none."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown template preset {name!r}: one of {', '.join(sorted(PRESETS))}") from None


def template_variables(template):
    """The variable names ``template`` uses, in order of appearance."""
    return _PLACEHOLDER.findall(template or "")


def template_problems(template):
    """Problems the meter would not report: unknown variable names, an unclosed ``${``."""
    if not isinstance(template, str):
        return []
    problems = []
    unknown = sorted({name for name in template_variables(template) if name not in DOCUMENTED_VARIABLES})
    if unknown:
        problems.append(
            "template uses {} that the meter does not know (it would publish them literally): check the spelling"
            " against the vendor's variable list (e.g. 1_7_0, sys.id, meter.date_time)".format(
                ", ".join("${" + name + "}" for name in unknown)
            )
        )
    if "${" in _PLACEHOLDER.sub("", template):
        problems.append("template has a '${' without its closing '}'")
    return problems


def template_is_json(template):
    """True when ``template`` is JSON once every placeholder is a value: then every payload must parse."""
    if not isinstance(template, str) or not template.strip().startswith(("{", "[")):
        return False
    try:
        json.loads(_PLACEHOLDER.sub("0", template))
    except ValueError:
        return False
    return True


def payload_problem(payload, expect_json):
    """Why a published payload is unusable (None when it is fine); the payload is in the text (no secret is)."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, (bytes, bytearray)) else str(payload)
    shown = text if len(text) <= 600 else text[:600] + "..."
    left = _PLACEHOLDER.findall(text)
    if left:
        names = ", ".join(sorted({"${" + name + "}" for name in left}))
        return f"the meter published {names} unresolved (a variable it does not know) in: {shown}"
    if expect_json:
        try:
            json.loads(text)
        except ValueError as exc:
            return f"the meter published a payload that is not valid JSON ({exc}): {shown}"
    return None
